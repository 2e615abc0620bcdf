#include "core/units.hpp"

#include <array>
#include <cctype>
#include <cstdio>

namespace playcount {

namespace {

struct unit {
  std::string_view name;
  uint64_t size;
};

constexpr std::array<unit, 4> byte_units = {{{"TiB", uint64_t{1} << 40},
                                             {"GiB", uint64_t{1} << 30},
                                             {"MiB", uint64_t{1} << 20},
                                             {"KiB", uint64_t{1} << 10}}};

constexpr std::array<unit, 5> time_units = {{{"d", uint64_t{86400000}},
                                             {"h", uint64_t{3600000}},
                                             {"min", uint64_t{60000}},
                                             {"s", uint64_t{1000}},
                                             {"ms", uint64_t{1}}}};

bool is_digit(char c) {
  return std::isdigit(static_cast<unsigned char>(c));
}

// A whole number and an optional fraction of at most 9 digits at the front
// of `text`, taken off it; false when there is no number or it is too big.
bool take_number(std::string_view& text, uint64_t& whole, uint64_t& fraction,
                 uint64_t& fraction_scale) {
  size_t i = 0;
  whole = 0;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    const auto digit = static_cast<uint64_t>(text[i] - '0');
    if (whole > (UINT64_MAX - digit) / 10)
      return false;
    whole = whole * 10 + digit;
  }
  if (i == 0)
    return false;
  fraction = 0;
  fraction_scale = 1;
  if (i < text.size() && text[i] == '.') {
    ++i;
    const size_t start = i;
    for (; i < text.size() && is_digit(text[i]); ++i) {
      if (i - start >= 9)
        return false;
      fraction = fraction * 10 + static_cast<uint64_t>(text[i] - '0');
      fraction_scale *= 10;
    }
    if (i == start)
      return false;
  }
  text.remove_prefix(i);
  if (!text.empty() && text.front() == ' ')
    text.remove_prefix(1);
  return true;
}

// whole.fraction * scale, rounded down; nullopt past 2^64 - 1.
std::optional<uint64_t> scaled(uint64_t whole, uint64_t fraction,
                               uint64_t fraction_scale, uint64_t scale) {
  if (scale != 0 && whole > UINT64_MAX / scale)
    return std::nullopt;
  const uint64_t part = static_cast<uint64_t>(
      static_cast<unsigned __int128>(fraction) * scale / fraction_scale);
  if (whole * scale > UINT64_MAX - part)
    return std::nullopt;
  return whole * scale + part;
}

bool same_letters(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

} // namespace

std::optional<uint64_t> parse_size(std::string_view text) {
  uint64_t whole = 0;
  uint64_t fraction = 0;
  uint64_t fraction_scale = 1;
  if (!take_number(text, whole, fraction, fraction_scale))
    return std::nullopt;
  if (text.empty() || text == "B" || text == "b")
    return fraction == 0 ? std::optional<uint64_t>(whole) : std::nullopt;
  for (const unit& u : byte_units) {
    const std::string_view letter = u.name.substr(0, 1);
    if (same_letters(text, letter) || same_letters(text, u.name) ||
        same_letters(text, u.name.substr(0, 2)))
      return scaled(whole, fraction, fraction_scale, u.size);
  }
  return std::nullopt;
}

std::string format_bytes(uint64_t bytes) {
  for (const unit& u : byte_units)
    if (bytes != 0 && bytes % u.size == 0)
      return std::to_string(bytes / u.size) + " " + std::string(u.name);
  if (bytes < 1024)
    return std::to_string(bytes) + " B";
  for (const unit& u : byte_units)
    if (bytes >= u.size) {
      char text[32];
      std::snprintf(text, sizeof text, "%.1f %.*s",
                    static_cast<double>(bytes) / static_cast<double>(u.size),
                    static_cast<int>(u.name.size()), u.name.data());
      return text;
    }
  return std::to_string(bytes) + " B";
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  uint64_t whole = 0;
  uint64_t fraction = 0;
  uint64_t fraction_scale = 1;
  if (!take_number(text, whole, fraction, fraction_scale))
    return std::nullopt;
  uint64_t scale = 0;
  if (text.empty())
    scale = 1000; // seconds
  else if (text == "m")
    scale = 60000; // as `sleep` and most tools read it: minutes
  for (const unit& u : time_units)
    if (text == u.name)
      scale = u.size;
  if (scale == 0)
    return std::nullopt;
  const auto ms = scaled(whole, fraction, fraction_scale, scale);
  // Bounded so that adding it to a clock's now cannot overflow.
  if (!ms || *ms > uint64_t{1} << 50)
    return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(*ms));
}

std::string format_duration(std::chrono::milliseconds time) {
  if (time.count() <= 0)
    return "0 s";
  const auto ms = static_cast<uint64_t>(time.count());
  for (const unit& u : time_units)
    if (ms % u.size == 0)
      return std::to_string(ms / u.size) + " " + std::string(u.name);
  return std::to_string(ms) + " ms";
}

} // namespace playcount
