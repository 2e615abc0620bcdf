#pragma once

// The playcount binary this build made (PLAYCOUNT_BINARY, set for every
// suite in tests/CMakeLists.txt): one definition, so that a suite's files
// can share a unity build.

#include <string>

namespace playcount::test {

inline const std::string binary = PLAYCOUNT_BINARY;

} // namespace playcount::test
