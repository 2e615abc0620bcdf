#include "core/input_error.hpp"

#include "core/utf8.hpp"

#include <cstdio>

namespace playcount {

std::string escape_value(std::string_view value, size_t max_len) {
  std::string out;
  const auto hex = [&](unsigned char ch) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02X", ch);
    out += buf;
  };
  value = value.substr(0, max_len);
  for (size_t i = 0; i < value.size();) {
    const size_t n = utf8_sequence(value.substr(i));
    if (n > 1) { // a whole multi-byte character
      out.append(value.data() + i, n);
      i += n;
      continue;
    }
    const auto ch = static_cast<unsigned char>(value[i++]);
    if (n == 0) { // not UTF-8
      hex(ch);
      continue;
    }
    switch (ch) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (ch < 0x20 || ch == 0x7f)
        hex(ch);
      else
        out += static_cast<char>(ch);
    }
  }
  return out;
}

std::string quote_value(std::string_view value, size_t max_len) {
  return "\"" + escape_value(value, max_len) +
         (value.size() > max_len ? "\"..." : "\"");
}

} // namespace playcount
