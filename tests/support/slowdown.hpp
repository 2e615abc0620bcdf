#pragma once

// How much longer a test with a wall-clock bound may take, and how much more
// memory one with a memory bound may use: sanitizer builds (PLAYCOUNT_SANITIZE,
// PLAYCOUNT_FUZZ) run several times slower, and AddressSanitizer keeps freed
// memory in quarantine (256 MB by default) and shadow memory beside it.

namespace playcount::test {

#ifdef PLAYCOUNT_SANITIZED
inline constexpr double time_factor = 10;
inline constexpr unsigned memory_factor = 8;
#else
inline constexpr double time_factor = 1;
inline constexpr unsigned memory_factor = 1;
#endif

} // namespace playcount::test
