#pragma once

#include "core/aggregate.hpp"

#include <string>

namespace playcount {

inline constexpr std::string_view result_header =
  "Song,Date,Total Number of Plays for Date\n";

/// Writes the result CSV (CONTRACT §1 output rules) to `path` all at once or
/// not at all: into a temporary file beside it, renamed over `path` when
/// complete (and flushed to disk first when `durable`). On failure returns
/// false with `error` naming the file and the reason, and leaves no file.
/// Seals `totals` (see partial_aggregate::seal); `threads` format side by
/// side while the file is written in order.
[[nodiscard]] bool write_result(partial_aggregate& totals,
                                const std::string& path, bool durable,
                                std::string& error, unsigned threads = 1);

/// The result CSV as a string, for small results and tests.
[[nodiscard]] std::string format_result(partial_aggregate& totals);
[[nodiscard]] inline std::string format_result(partial_aggregate&& totals) {
  return format_result(totals);
}

/// Appends `field` to `out`, quoted if it holds `,`, `"`, CR or LF.
void append_csv_field(std::string& out, std::string_view field);

} // namespace playcount
