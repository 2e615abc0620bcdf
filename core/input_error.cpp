#include "core/input_error.hpp"

#include <cstdio>

namespace playcount {

std::string quote_value(std::string_view value, size_t max_len) {
  std::string out = "\"";
  const bool cut = value.size() > max_len;
  for (unsigned char ch : value.substr(0, max_len)) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20 || ch == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  out += cut ? "\"..." : "\"";
  return out;
}

} // namespace playcount
