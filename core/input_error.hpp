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

/// A value for an error message or a log line, unquoted: at most `max_len`
/// bytes, with quotes, backslashes and control characters escaped so the
/// message stays one line, and bytes that are not valid UTF-8 written `\xFF`
/// (core/utf8.hpp), so that the message is valid JSON text and no byte is
/// dropped.
[[nodiscard]] std::string escape_value(std::string_view value,
                                       size_t max_len = 80);

/// escape_value in quotes, with `...` after them when it was cut.
[[nodiscard]] std::string quote_value(std::string_view value,
                                      size_t max_len = 80);

} // namespace playcount
