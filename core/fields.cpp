#include "core/fields.hpp"

#include "core/input_error.hpp"

#include <cstring>

namespace playcount {

namespace {

// Howard Hinnant's days_from_civil / civil_from_days.
constexpr day_number days_from_civil(int y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int>(doe) - 719468;
}

inline unsigned digit(char c) noexcept {
  return static_cast<unsigned>(static_cast<unsigned char>(c) - '0');
}

} // namespace

namespace {

// True when all eight bytes of `v` are ASCII digits.
constexpr bool all_digits(uint64_t v) noexcept {
  return ((v & UINT64_C(0xF0F0F0F0F0F0F0F0)) |
          (((v + UINT64_C(0x0606060606060606)) &
            UINT64_C(0xF0F0F0F0F0F0F0F0)) >>
           4)) == UINT64_C(0x3333333333333333);
}

// Day numbers of every January 1st of years 0..10000: no division per date.
struct year_table {
  day_number jan1[10001];
  year_table() {
    for (int y = 0; y <= 10000; ++y)
      jan1[y] = days_from_civil(y, 1, 1);
  }
};

const year_table& years() {
  static const year_table table;
  return table;
}

constexpr int16_t days_before_month[2][13] = {
    {0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334},
    {0, 0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335},
};

} // namespace

parsed_date parse_date(std::string_view text) noexcept {
  // Blanks are rare: trim only when the value is not exactly ten bytes.
  const auto s = text.size() == 10 ? text : trim_blanks(text);
  if (s.size() != 10)
    return {date_status::bad_form, 0};
  // "YYYY-MM-" and "DD" read as integers; the dashes stand in as '0' for the
  // digit check.
  uint64_t head;
  uint16_t tail;
  std::memcpy(&head, s.data(), 8);
  std::memcpy(&tail, s.data() + 8, 2);
  constexpr uint64_t dash_bytes = uint64_t{0xff} << 32 | uint64_t{0xff} << 56;
  constexpr uint64_t dashes = uint64_t{'-'} << 32 | uint64_t{'-'} << 56;
  constexpr uint64_t zeros = UINT64_C(0x3030303030303030);
  const uint64_t head_digits = (head & ~dash_bytes) | (zeros & dash_bytes);
  if ((head & dash_bytes) != dashes || !all_digits(head_digits) ||
      !all_digits(uint64_t{tail} | (zeros << 16)))
    return {date_status::bad_form, 0};
  const uint64_t v = head_digits - zeros;
  const auto at = [v](int i) { return static_cast<int>(v >> (8 * i) & 0xff); };
  const int y = at(0) * 1000 + at(1) * 100 + at(2) * 10 + at(3);
  const int m = at(5) * 10 + at(6);
  const int d = (tail & 0xff) * 10 + (tail >> 8) - ('0' * 11);
  if (y < 1 || m < 1 || m > 12 || d < 1)
    return {date_status::impossible, 0};
  const year_table& t = years();
  const bool leap = t.jan1[y + 1] - t.jan1[y] == 366;
  const int month_days = days_before_month[leap][m + 1 > 12 ? 0 : m + 1];
  const int month_end = m == 12 ? 365 + leap : month_days;
  const int day_of_year = days_before_month[leap][m] + d;
  if (day_of_year > month_end)
    return {date_status::impossible, 0};
  return {date_status::ok, t.jan1[y] + day_of_year - 1};
}

void format_date(day_number day, char* out) noexcept {
  const int z = day + 719468;
  const int era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const unsigned y =
      static_cast<unsigned>(static_cast<int>(yoe) + era * 400) + (m <= 2);
  out[0] = static_cast<char>('0' + y / 1000 % 10);
  out[1] = static_cast<char>('0' + y / 100 % 10);
  out[2] = static_cast<char>('0' + y / 10 % 10);
  out[3] = static_cast<char>('0' + y % 10);
  out[4] = '-';
  out[5] = static_cast<char>('0' + m / 10);
  out[6] = static_cast<char>('0' + m % 10);
  out[7] = '-';
  out[8] = static_cast<char>('0' + d / 10);
  out[9] = static_cast<char>('0' + d % 10);
}

std::string format_date(day_number day) {
  std::string out(10, '0');
  format_date(day, out.data());
  return out;
}

parsed_count parse_count_slowly(std::string_view text) noexcept {
  auto s = trim_blanks(text);
  const bool negative = !s.empty() && s[0] == '-';
  if (negative)
    s.remove_prefix(1);
  if (s.empty())
    return {count_status::not_whole, 0};
  uint64_t value = 0;
  bool too_large = false;
  for (char c : s) {
    const unsigned dv = digit(c);
    if (dv > 9)
      return {count_status::not_whole, 0};
    if (value > (UINT64_C(0x7fffffffffffffff) - dv) / 10)
      too_large = true;
    else
      value = value * 10 + dv;
  }
  if (negative)
    return {count_status::negative, 0};
  if (too_large)
    return {count_status::too_large, 0};
  return {count_status::ok, static_cast<int64_t>(value)};
}

std::string describe(date_status status, std::string_view text) {
  const char* what = status == date_status::impossible
                         ? "Date is not a real calendar date: "
                         : "Date is not in YYYY-MM-DD form: ";
  return what + quote_value(text);
}

std::string describe(count_status status, std::string_view text) {
  const char* what = "Number of Plays is not a whole number: ";
  if (status == count_status::negative)
    what = "Number of Plays is negative: ";
  else if (status == count_status::too_large)
    what = "Number of Plays is larger than 9223372036854775807: ";
  return what + quote_value(text);
}

} // namespace playcount
