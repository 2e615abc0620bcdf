#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace playcount {

/// What is wrong with an input file and where: `line N: <what>`, N being the
/// 1-based physical line on which the bad record starts (the header is line 1).
struct input_error {
  uint64_t line = 0;
  std::string what;

  [[nodiscard]] std::string to_string() const {
    return "line " + std::to_string(line) + ": " + what;
  }
};

/// Quotes a value for an error message: at most `max_len` bytes, with quotes,
/// backslashes and control characters escaped so the message stays one line.
[[nodiscard]] std::string quote_value(std::string_view value,
                                      size_t max_len = 80);

} // namespace playcount
