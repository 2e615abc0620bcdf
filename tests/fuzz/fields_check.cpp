// Fuzz property (c): the Date and Number of Plays parsers (core/fields.hpp)
// against slow references written from docs/CONTRACT.md §1 alone.

#include "checks.hpp"

#include "core/fields.hpp"
#include "tests/core/support.hpp"

#include <algorithm>
#include <cstring>

namespace playcount::fuzz {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

const char* name(date_status s) {
  switch (s) {
  case date_status::ok:
    return "ok";
  case date_status::bad_form:
    return "bad_form";
  case date_status::impossible:
    return "impossible";
  }
  return "?";
}

const char* name(count_status s) {
  switch (s) {
  case count_status::ok:
    return "ok";
  case count_status::not_whole:
    return "not_whole";
  case count_status::negative:
    return "negative";
  case count_status::too_large:
    return "too_large";
  }
  return "?";
}

// YYYY-MM-DD, blanks around ignored; the day number counted day by day from
// 1970-01-01 (a year at a time, then a month at a time).
parsed_date reference_date(std::string_view text) {
  const std::string_view s = test::blanks_trimmed(text);
  if (s.size() != 10 || s[4] != '-' || s[7] != '-')
    return {date_status::bad_form, 0};
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!is_digit(s[i]))
      return {date_status::bad_form, 0};
  const auto num = [&](size_t at, size_t n) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i)
      v = v * 10 + (s[i] - '0');
    return v;
  };
  const int y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > test::month_length(y, m))
    return {date_status::impossible, 0};
  int32_t day = 0;
  for (int yy = 1970; yy < y; ++yy)
    day += test::is_leap_year(yy) ? 366 : 365;
  for (int yy = y; yy < 1970; ++yy)
    day -= test::is_leap_year(yy) ? 366 : 365;
  for (int mm = 1; mm < m; ++mm)
    day += test::month_length(y, mm);
  return {date_status::ok, day + d - 1};
}

// Decimal digits, blanks around ignored, from 0 to 2^63-1; a leading '-'
// before digits makes it negative whatever its size.
parsed_count reference_count(std::string_view text) {
  std::string_view s = test::blanks_trimmed(text);
  const bool negative = !s.empty() && s.front() == '-';
  if (negative)
    s.remove_prefix(1);
  if (s.empty() || !std::all_of(s.begin(), s.end(), is_digit))
    return {count_status::not_whole, 0};
  if (negative)
    return {count_status::negative, 0};
  while (s.size() > 1 && s.front() == '0')
    s.remove_prefix(1);
  constexpr std::string_view max = "9223372036854775807";
  if (s.size() > max.size() || (s.size() == max.size() && s > max))
    return {count_status::too_large, 0};
  int64_t v = 0;
  for (char c : s)
    v = v * 10 + (c - '0');
  return {count_status::ok, v};
}

std::string compare(const char* what, std::string_view text, parsed_date got,
                    parsed_date want) {
  if (got.status == want.status &&
      (got.status != date_status::ok || got.day == want.day))
    return {};
  return std::string(what) + "(" + printable(text) + ") = " + name(got.status) +
         " " + std::to_string(got.day) + ", expected " + name(want.status) +
         " " + std::to_string(want.day);
}

std::string compare(const char* what, std::string_view text, parsed_count got,
                    parsed_count want) {
  if (got.status == want.status &&
      (got.status != count_status::ok || got.value == want.value))
    return {};
  return std::string(what) + "(" + printable(text) + ") = " + name(got.status) +
         " " + std::to_string(got.value) + ", expected " + name(want.status) +
         " " + std::to_string(want.value);
}

std::string check_date(std::string_view text) {
  // One cache for the whole run, as a reader keeps one for all its rows.
  static date_cache cache;
  const parsed_date want = reference_date(text);
  if (auto p = compare("parse_date", text, parse_date(text), want); !p.empty())
    return p;
  if (auto p = compare("date_cache::parse", text, cache.parse(text), want);
      !p.empty())
    return p;
  if (want.status == date_status::ok) {
    const std::string back = format_date(want.day);
    if (back != test::blanks_trimmed(text))
      return "format_date(" + std::to_string(want.day) + ") = " + back +
             ", expected " + printable(test::blanks_trimmed(text));
  }
  return {};
}

std::string check_count(std::string_view text, std::string_view after) {
  const parsed_count want = reference_count(text);
  if (auto p = compare("parse_count", text, parse_count(text), want);
      !p.empty())
    return p;
  if (auto p =
          compare("parse_count_slowly", text, parse_count_slowly(text), want);
      !p.empty())
    return p;
  // parse_short_count reads 8 bytes from the start whatever the length: the
  // bytes after the value are the input's, not zeros.
  char padded[24];
  std::memset(padded, 'x', sizeof padded);
  const size_t n = std::min(text.size(), sizeof padded);
  if (n > 0)
    std::memcpy(padded, text.data(), n);
  if (!after.empty())
    std::memcpy(padded + n, after.data(),
                std::min(after.size(), sizeof padded - n));
  if (text.size() <= 16)
    if (auto p = compare("parse_short_count", text,
                         parse_short_count(padded, text.size()), want);
        !p.empty())
      return p;
  return {};
}

} // namespace

std::string check_fields(std::string_view input) {
  // The whole input, and each piece between commas, as a date and a count:
  // one input then tries several values and the cache sees repeats.
  if (auto p = check_date(input); !p.empty())
    return p;
  if (auto p = check_count(input, {}); !p.empty())
    return p;
  size_t begin = 0;
  for (int pieces = 0; pieces < 16 && begin <= input.size(); ++pieces) {
    size_t end = input.find(',', begin);
    if (end == std::string_view::npos)
      end = input.size();
    const std::string_view piece = input.substr(begin, end - begin);
    if (auto p = check_date(piece); !p.empty())
      return p;
    if (auto p = check_count(piece, input.substr(end)); !p.empty())
      return p;
    begin = end + 1;
  }
  return {};
}

} // namespace playcount::fuzz
