// One libFuzzer target per check of checks.hpp; PLAYCOUNT_FUZZ_CHECK names
// it (see CMakeLists.txt). A broken property aborts with its description,
// and libFuzzer keeps the input as crash-<sha1>.

#include "checks.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string problem = playcount::fuzz::PLAYCOUNT_FUZZ_CHECK(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!problem.empty()) {
    std::fprintf(stderr, "\nfuzz property broken: %s\n", problem.c_str());
    std::abort();
  }
  return 0;
}
