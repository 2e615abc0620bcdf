#pragma once

// How much longer a test with a wall-clock bound may take: sanitizer builds
// (PLAYCOUNT_SANITIZE, PLAYCOUNT_FUZZ) run several times slower.

namespace playcount::test {

#ifdef PLAYCOUNT_SANITIZED
inline constexpr double time_factor = 10;
#else
inline constexpr double time_factor = 1;
#endif

} // namespace playcount::test
