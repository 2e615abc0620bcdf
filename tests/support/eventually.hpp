#pragma once

#include "tests/support/slowdown.hpp"

#include <chrono>
#include <functional>
#include <thread>

namespace playcount::test {

/// Polls `done` every `poll` until it holds; false when `limit` (scaled by
/// time_factor) ran out first. The one way tests wait for a condition: a
/// fixed sleep is either too short on a loaded machine or wasted time.
inline bool
eventually(const std::function<bool()>& done,
           std::chrono::milliseconds limit = std::chrono::seconds(20),
           std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + scaled(limit);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done())
      return true;
    std::this_thread::sleep_for(poll);
  }
  return done();
}

} // namespace playcount::test
