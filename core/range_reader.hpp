#pragma once

// Reading one byte range of records into a partial aggregate: the hot path.

#include "core/aggregate.hpp"
#include "core/csv_layout.hpp"
#include "core/mapped_file.hpp"
#include "core/split.hpp"

#include "core/bad_row_policy.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace playcount {

/// How many skipped records a job reports by line.
inline constexpr size_t reported_bad_rows = 10;

/// A bad record, located by `line`: the number of LFs between the start of
/// its range and the record's start (the range does not know its own first
/// line number; the job adds it, see job_outcome.hpp).
struct row_problem {
  uint64_t line = 0;
  std::string what;
};

struct range_report {
  uint64_t lines = 0;    ///< LF bytes in the range (complete unless error)
  uint64_t rows = 0;     ///< records added to the aggregate
  uint64_t bad_rows = 0; ///< records skipped
  std::vector<row_problem> first_bad; ///< the first few skipped, in order
  std::optional<row_problem> error;   ///< the record that stopped the range
  bool overflow = false;              ///< the error is a total overflow
};

/// Reads the records starting in `range`, which must start on a record
/// boundary, adding them to `into`. `window` holds at least the range's
/// bytes. `tag` must differ between the ranges read into the same
/// aggregate. Stops at the first bad record unless skipping; always stops at
/// an overflow.
[[nodiscard]] range_report read_range(file_window window, byte_range range,
                                      const csv_layout& layout,
                                      bad_row_policy policy,
                                      partial_aggregate& into, uint32_t tag);

/// The same, with the whole file in memory.
[[nodiscard]] inline range_report
read_range(std::string_view file, byte_range range, const csv_layout& layout,
           bad_row_policy policy, partial_aggregate& into, uint32_t tag) {
  return read_range(file_window{file, 0}, range, layout, policy, into, tag);
}

} // namespace playcount
