#pragma once

// How much longer a test with a wall-clock bound may take, and how much more
// memory one with a memory bound may use: sanitizer builds (PLAYCOUNT_SANITIZE,
// PLAYCOUNT_FUZZ) run several times slower, and AddressSanitizer keeps freed
// memory in quarantine (256 MB by default) and shadow memory beside it.

#include <chrono>

namespace playcount::test {

#ifdef PLAYCOUNT_SANITIZED
inline constexpr double time_factor = 10;
inline constexpr unsigned memory_factor = 8;
#else
inline constexpr double time_factor = 1;
inline constexpr unsigned memory_factor = 1;
#endif

/// `limit` as a test may wait for it or bound a duration by it: longer in
/// sanitizer builds. Every wall-clock bound in the tests goes through here.
inline std::chrono::milliseconds scaled(std::chrono::milliseconds limit) {
  return std::chrono::milliseconds(
      static_cast<std::chrono::milliseconds::rep>(limit.count() * time_factor));
}

} // namespace playcount::test
