#pragma once

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <string>

namespace playcount::test {

/// The result `playcount count` gives for `csv` (files in `dir`): the ground
/// truth for a server or a cluster.
inline std::string count_alone(const std::string& binary, const temp_dir& dir,
                               const std::string& csv) {
  const auto in = dir.write("truth-in.csv", csv);
  const auto out = dir.file("truth-out.csv");
  const auto r = run({binary, "count", in, "-o", out, "--quiet"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return read_file(out);
}

} // namespace playcount::test
