#pragma once

// The wall clock as job records and worker stats keep it: one place, so
// that every time the server stores or shows is on the same scale.

#include <chrono>
#include <cstdint>

namespace playcount {

/// Milliseconds since the Unix epoch.
[[nodiscard]] inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace playcount
