#pragma once

// Parsing of the two typed columns, Date and Number of Plays (CONTRACT §1).
// Both ignore spaces and tabs around the value; neither allocates.

#include <cstdint>
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

/// Writes the `YYYY-MM-DD` form of `day` into `out` (10 bytes, no NUL).
void format_date(day_number day, char* out) noexcept;

[[nodiscard]] std::string format_date(day_number day);

enum class count_status { ok, not_whole, negative, too_large };

struct parsed_count {
  count_status status;
  int64_t value;
};

/// Parses a whole number from 0 to 2^63-1 written in decimal digits.
[[nodiscard]] parsed_count parse_count(std::string_view text) noexcept;

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
