#pragma once

// Parsing of the two typed columns, Date and Number of Plays
// (docs/CONTRACT.md §1). Both ignore spaces and tabs around the value; neither
// allocates.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace playcount {

/// Days since 1970-01-01 in the proleptic Gregorian calendar.
using day_number = int32_t;

enum class date_status { ok, bad_form, impossible };

struct parsed_date {
  date_status status;
  day_number day;
};

/// Parses `YYYY-MM-DD` (years 0001-9999) into a day number.
[[nodiscard]] parsed_date parse_date(std::string_view text) noexcept;

/// parse_date with a small memory of the dates it has seen: files repeat the
/// same few thousand dates millions of times. One per reader (not shared).
class date_cache {
public:
  [[nodiscard]] parsed_date parse(std::string_view text) noexcept {
    if (text.size() != 10)
      return parse_date(text);
    uint64_t head;
    uint16_t last_two;
    std::memcpy(&head, text.data(), 8);
    std::memcpy(&last_two, text.data() + 8, 2);
    const uint32_t tail = last_two | in_use;
    // Only the entries in use are touched, so a large table costs little
    // cache and keeps the few thousand dates of a file from evicting each
    // other.
    const uint64_t mixed = (head * UINT64_C(0x9E3779B97F4A7C15)) ^
                           (uint64_t{last_two} * UINT64_C(0xC2B2AE3D27D4EB4F));
    const size_t home = (mixed * UINT64_C(0xff51afd7ed558ccd)) >> (64 - bits);
    // A few slots from home on: with one slot only, the dates that share it
    // (about one in ten of a year's) would evict each other row after row.
    for (size_t i = 0; i < probes; ++i) {
      entry& e = entries_[(home + i) & (size - 1)];
      if (e.head == head && e.tail == tail)
        return {date_status::ok, e.day};
      if (e.tail == 0)
        return remember(text, head, tail, e);
    }
    return remember(text, head, tail, entries_[home]);
  }

private:
  struct entry {
    uint64_t head = 0;
    uint32_t tail = 0; ///< the last two bytes | in_use; 0 for an empty entry
    day_number day = 0;
  };
  static constexpr uint32_t in_use = uint32_t{1} << 16;
  static constexpr int bits = 12;
  static constexpr size_t size = size_t{1} << bits;
  static constexpr size_t probes = 4;

  static parsed_date remember(std::string_view text, uint64_t head,
                              uint32_t tail, entry& e) noexcept {
    const parsed_date d = parse_date(text);
    if (d.status == date_status::ok)
      e = entry{head, tail, d.day};
    return d;
  }

  entry entries_[size];
};

/// Writes the `YYYY-MM-DD` form of `day` into `out` (10 bytes, no NUL).
void format_date(day_number day, char* out) noexcept;

[[nodiscard]] std::string format_date(day_number day);

enum class count_status { ok, not_whole, negative, too_large };

struct parsed_count {
  count_status status;
  int64_t value;
};

/// parse_count of a field of at most 8 bytes that may read the 8 bytes at
/// its start (some past its end): the digits are converted all at once.
[[nodiscard]] inline parsed_count parse_short_count(const char* p,
                                                    size_t len) noexcept;

/// parse_count for what the fast path does not take: blanks, signs, errors.
[[nodiscard]] parsed_count parse_count_slowly(std::string_view text) noexcept;

/// Parses a whole number from 0 to 2^63-1 written in decimal digits.
[[nodiscard]] inline parsed_count parse_count(std::string_view text) noexcept {
  if (text.size() - 1 < 18) { // 1 to 18 digits always fit
    uint64_t value = 0;
    for (char c : text) {
      const unsigned d = static_cast<unsigned char>(c) - unsigned{'0'};
      if (d > 9)
        return parse_count_slowly(text);
      value = value * 10 + d;
    }
    return {count_status::ok, static_cast<int64_t>(value)};
  }
  return parse_count_slowly(text);
}

inline parsed_count parse_short_count(const char* p, size_t len) noexcept {
  if (len - 1 >= 8) // 0 or more than 8 bytes
    return parse_count_slowly(std::string_view(p, len));
  uint64_t v;
  std::memcpy(&v, p, 8);
  const unsigned pad = static_cast<unsigned>(8 - len) * 8; // < 64
  // The digits move to the high bytes, in order; '0's fill the front.
  v = (v << pad) | (UINT64_C(0x3030303030303030) & ((uint64_t{1} << pad) - 1));
  const bool digits =
      ((v & UINT64_C(0xF0F0F0F0F0F0F0F0)) |
       (((v + UINT64_C(0x0606060606060606)) & UINT64_C(0xF0F0F0F0F0F0F0F0)) >>
        4)) == UINT64_C(0x3333333333333333);
  if (!digits)
    return parse_count_slowly(std::string_view(p, len));
  v = (v & UINT64_C(0x0F0F0F0F0F0F0F0F)) * 2561 >> 8;
  v = (v & UINT64_C(0x00FF00FF00FF00FF)) * 6553601 >> 16;
  v = (v & UINT64_C(0x0000FFFF0000FFFF)) * UINT64_C(42949672960001) >> 32;
  return {count_status::ok, static_cast<int64_t>(v)};
}

/// The `what` of an input_error for a bad Date or Number of Plays value.
[[nodiscard]] std::string describe(date_status status, std::string_view text);
[[nodiscard]] std::string describe(count_status status, std::string_view text);

/// Strips spaces and tabs from both ends.
[[nodiscard]] inline std::string_view trim_blanks(std::string_view s) noexcept {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t'))
    ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
    --e;
  return s.substr(b, e - b);
}

} // namespace playcount
