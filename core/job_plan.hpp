#pragma once

// The first step of every job, on the node that has the file: read the
// header and cut the records into byte ranges (see core/split.hpp).

#include "core/csv_layout.hpp"
#include "core/failure.hpp"
#include "core/split.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace playcount {

/// Bytes per range unless --range-size says otherwise (docs/configuration.md).
inline constexpr uint64_t default_range_size = uint64_t{4} << 20;

struct job_plan {
  csv_layout layout;
  uint64_t file_size = 0;
  std::vector<byte_range> ranges; ///< in file order; empty: no records
};

/// Plans the file at `path` in ranges of about `range_size` bytes: scans the
/// nominal chunks for quotes on up to `threads` threads, each chunk mapped on
/// its own (resident memory stays a few chunks), then places each range start
/// on a record boundary. Fails with a header problem (`line N: ...`, in
/// words) or why the file could not be read.
result<job_plan> plan_job(const std::string& path, uint64_t range_size,
                          unsigned threads);

} // namespace playcount
