#pragma once

#include <cstddef>
#include <string_view>

namespace playcount {

/// Compares a token given by a client with the configured secret without an
/// early exit: every byte of `secret` is looked at whatever `given` is, so
/// the time taken depends on the secret's length only.
[[nodiscard]] inline bool
constant_time_equal(std::string_view given, std::string_view secret) noexcept {
  // volatile keeps the compiler from stopping at the first difference.
  volatile unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < secret.size(); ++i) {
    const unsigned char g =
        i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff = diff | (g ^ static_cast<unsigned char>(secret[i]));
  }
  return diff == 0;
}

} // namespace playcount
