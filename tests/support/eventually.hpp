#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace playcount::test {

/// Polls `done` until it holds; false when `limit` ran out first.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

} // namespace playcount::test
