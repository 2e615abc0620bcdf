#pragma once

// The first step of every job, on the node that has the file: read the
// header and cut the records into byte ranges (see core/split.hpp).

#include "core/csv_layout.hpp"
#include "core/failure.hpp"
#include "core/growing_file.hpp"
#include "core/phase_meter.hpp"
#include "core/split.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace playcount {

/// Bytes per range unless --range-size says otherwise (docs/configuration.md).
inline constexpr uint64_t default_range_size = uint64_t{4} << 20;

struct job_plan {
  csv_layout layout;
  uint64_t file_size = 0;
  std::vector<byte_range> ranges; ///< in file order; empty: no records
  /// More ranges follow: set in each step of plan_growing but its last.
  bool more = false;
};

/// Plans the file at `path` in ranges of about `range_size` bytes: scans the
/// nominal chunks for quotes on up to `threads` threads, each chunk mapped on
/// its own (resident memory stays a few chunks), then places each range start
/// on a record boundary. Fails with a header problem (`line N: ...`, in
/// words) or why the file could not be read. `scanned`, when given, counts
/// the data bytes scanned of its total (the data bytes of the file).
result<job_plan> plan_job(const std::string& path, uint64_t range_size,
                          unsigned threads, phase_meter* scanned = nullptr);

/// Plans the file at `path` while `input` says it is still being written:
/// calls `step` each time a range is known (its bytes and the nominal chunk
/// after it have landed), with the new ranges only, `file_size` the bytes
/// landed so far and `more` set; the last step has `more` unset. The
/// ranges are those plan_job gives for the whole file. Fails as plan_job, or
/// with the producer's failure; returns quietly once `input` is abandoned.
result<void> plan_growing(const std::string& path, const growing_file& input,
                          uint64_t range_size,
                          const std::function<void(job_plan)>& step);

} // namespace playcount
