#pragma once

// The progress bar of `playcount count` on a terminal: pure formatting, so
// that it can be tested without one.

#include "actors/job_record.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace playcount {

/// 1234567 -> "1.2 MB" (powers of 1000).
[[nodiscard]] std::string human_bytes(double bytes);

/// One frame: `reading  [=========>          ]  48%  512.3 MB of 1.1 GB
/// 820.4 MB/s  ETA 1 s`, at most `columns` wide (the bar shrinks first,
/// then goes). `seconds` is the time since the phase began. A phase counted
/// in other units than bytes names them (`merging  [===> ]  37%  3 of 8
/// partials`), without throughput.
[[nodiscard]] std::string progress_line(const std::string& phase, uint64_t done,
                                        uint64_t total, double seconds,
                                        unsigned columns,
                                        std::string_view unit = {});

/// The phase a bar shows, with its own done/total and unit (empty: bytes):
/// `phase` as the job's status names it, from the job's `progress`.
struct phase_view {
  uint64_t done = 0;
  uint64_t total = 0;
  std::string_view unit;
};
[[nodiscard]] phase_view view_of(std::string_view phase,
                                 const job_progress& progress);

/// The line left on the terminal at the end: `1.1 GB in 1.29 s (850.2
/// MB/s), 40000000 rows, 1825000 song-dates`.
[[nodiscard]] std::string summary_line(uint64_t bytes, double seconds,
                                       uint64_t rows, uint64_t groups);

} // namespace playcount
