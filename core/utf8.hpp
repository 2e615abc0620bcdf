#pragma once

// Text that may hold any bytes (song names, file names, the values quoted in
// a `line N: ...` message) made safe for JSON and logs: valid UTF-8 passes
// unchanged, each byte that is not part of a valid UTF-8 sequence becomes
// the four characters `\xFF` (uppercase hex). Nothing is dropped, so the
// bytes can still be told apart; the CSV result keeps the raw bytes.
//
// Boost.JSON serializes a std::string's bytes as they are, invalid UTF-8
// included, and then cannot parse its own output: every string that goes
// into JSON the service writes passes here first.

#include <string>
#include <string_view>

namespace playcount {

/// The length of the valid UTF-8 sequence at the start of `s` (1 to 4), or
/// 0 when the first byte does not start one (RFC 3629: no overlong forms,
/// no surrogates, nothing above U+10FFFF).
[[nodiscard]] inline size_t utf8_sequence(std::string_view s) noexcept {
  if (s.empty())
    return 0;
  const auto at = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = at(0);
  if (c < 0x80)
    return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF; // bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0)
      lo = 0xA0; // overlong
    else if (c == 0xED)
      hi = 0x9F; // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0)
      lo = 0x90; // overlong
    else if (c == 0xF4)
      hi = 0x8F; // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n || at(1) < lo || at(1) > hi)
    return 0;
  for (size_t i = 2; i < n; ++i)
    if (at(i) < 0x80 || at(i) > 0xBF)
      return 0;
  return n;
}

/// Whether all of `s` is valid UTF-8.
[[nodiscard]] inline bool is_valid_utf8(std::string_view s) noexcept {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence(s.substr(i));
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

/// `s` as valid UTF-8: each invalid byte written `\xFF`. Valid input comes
/// back unchanged, so applying it twice changes nothing more.
[[nodiscard]] inline std::string printable_utf8(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence(s.substr(i));
    if (n > 0) {
      out.append(s.data() + i, n);
      i += n;
      continue;
    }
    const auto byte = static_cast<unsigned char>(s[i++]);
    out += "\\x";
    out += hex[byte >> 4];
    out += hex[byte & 0xF];
  }
  return out;
}

} // namespace playcount
