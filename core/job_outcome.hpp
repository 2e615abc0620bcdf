#pragma once

// What a job found, put together from its ranges' reports in file order.

#include "core/csv_layout.hpp"
#include "core/input_error.hpp"
#include "core/range_reader.hpp"

#include <optional>
#include <vector>

namespace playcount {

struct job_outcome {
  std::optional<input_error> error; ///< the first bad record, in file order
  /// An overflow was seen: a total's running sum only overflows at a record
  /// in file order, which a single sequential read finds (overflows are
  /// rare, and the file then fails anyway).
  bool needs_sequential_read = false;
  uint64_t rows = 0;
  uint64_t bad_rows = 0;
  std::vector<input_error> first_bad; ///< the first few skipped records
};

/// Combines range reports in file order. A range that was not read (nullopt)
/// may only come after a range with an error: reading stops there.
[[nodiscard]] job_outcome
combine_reports(const csv_layout& layout,
                const std::vector<std::optional<range_report>>& in_order);

/// Reads all of `file` as one range: the ground truth for parallel runs, and
/// the way to place an overflow exactly.
struct sequential_result {
  partial_aggregate totals;
  job_outcome outcome;
};
[[nodiscard]] sequential_result read_sequentially(std::string_view file,
                                                  const csv_layout& layout,
                                                  bad_row_policy policy);

} // namespace playcount
