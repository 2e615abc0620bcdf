#pragma once

#include <cstddef>
#include <string_view>

namespace playcount {

/// Compares a secret (a token) without an early exit, so that the time taken
/// does not tell how many leading bytes were right. The length may leak.
[[nodiscard]] inline bool constant_time_equal(std::string_view given,
                                              std::string_view secret) noexcept {
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  const size_t n = given.size() < secret.size() ? given.size() : secret.size();
  for (size_t i = 0; i < n; ++i)
    diff |= static_cast<unsigned char>(given[i] ^ secret[i]);
  return diff == 0;
}

} // namespace playcount
