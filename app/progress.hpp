#pragma once

// The progress bar of `playcount count` on a terminal: pure formatting, so
// that it can be tested without one.

#include <cstdint>
#include <string>

namespace playcount {

/// 1234567 -> "1.2 MB" (powers of 1000).
[[nodiscard]] std::string human_bytes(double bytes);

/// One frame: `reading  [=========>          ]  48%  512.3 MB of 1.1 GB
/// 820.4 MB/s  ETA 1 s`, at most `columns` wide (the bar shrinks first,
/// then goes). `seconds` is the time since the job started.
[[nodiscard]] std::string progress_line(const std::string& phase, uint64_t done,
                                        uint64_t total, double seconds,
                                        unsigned columns);

/// The line left on the terminal at the end: `1.1 GB in 1.29 s (850.2
/// MB/s), 40000000 rows, 1825000 song-dates`.
[[nodiscard]] std::string summary_line(uint64_t bytes, double seconds,
                                       uint64_t rows, uint64_t groups);

} // namespace playcount
