#pragma once

// The first step of every job, on the node that has the file: read the
// header and cut the records into byte ranges (see core/split.hpp).

#include "core/csv_layout.hpp"
#include "core/split.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace playcount {

struct job_plan {
  csv_layout layout;
  uint64_t file_size = 0;
  std::vector<byte_range> ranges; ///< in file order; empty: no records
};

/// Plans the file at `path` in ranges of about `range_size` bytes: scans the
/// nominal chunks for quotes on up to `threads` threads, each chunk mapped on
/// its own (resident memory stays a few chunks), then places each range start
/// on a record boundary. On failure returns false and sets `error`: a header
/// problem as `line N: ...`, or why the file could not be read.
[[nodiscard]] bool plan_job(const std::string& path, uint64_t range_size,
                            unsigned threads, job_plan& out,
                            std::string& error);

} // namespace playcount
