// core/fields: Date and Number of Plays (docs/CONTRACT.md §1 input rules), and
// the messages that quote a bad value.

#include "core/fields.hpp"

#include "core/input_error.hpp"
#include "core/utf8.hpp"
#include "support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace playcount {
namespace {

using test::month_length;

constexpr day_number first_day = -719162; // 0001-01-01
constexpr day_number last_day = 2932896;  // 9999-12-31

TEST(parse_date, accepts_real_calendar_dates_including_leap_days) {
  const struct {
    const char* text;
    day_number day;
  } cases[] = {
      {"1970-01-01", 0},         {"1969-12-31", -1},
      {"1970-01-02", 1},         {"2000-01-01", 10957},
      {"2000-02-29", 11016},     {"2000-03-01", 11017},
      {"2024-02-29", 19782},     {"2024-03-01", 19783},
      {"2023-12-31", 19722},     {"1600-02-29", -135081},
      {"0001-01-01", first_day}, {"9999-12-31", last_day},
      {"2021-04-30", 18747},     {"2021-12-31", 18992},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const parsed_date d = parse_date(c.text);
    EXPECT_EQ(d.status, date_status::ok);
    EXPECT_EQ(d.day, c.day);
  }
}

TEST(parse_date, ignores_spaces_and_tabs_around_the_date) {
  for (const char* text :
       {" 2021-03-04", "2021-03-04 ", "\t2021-03-04", "2021-03-04\t",
        " \t 2021-03-04 \t ", "  2021-03-04", "\t\t2021-03-04\t\t"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(text)));
    const parsed_date d = parse_date(text);
    EXPECT_EQ(d.status, date_status::ok);
    EXPECT_EQ(d.day, 18690);
  }
}

TEST(parse_date, rejects_impossible_dates_as_impossible) {
  for (const char* text :
       {"2023-02-29", "1900-02-29", "2100-02-29", "2021-04-31", "2021-06-31",
        "2021-09-31", "2021-11-31", "2021-01-32", "2021-02-30", "0000-01-01",
        "0000-12-31", "2021-13-01", "2021-00-10", "2021-01-00", "2021-99-99",
        " 2023-02-29 "}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(parse_date(text).status, date_status::impossible);
  }
}

TEST(parse_date, rejects_other_forms_than_yyyy_mm_dd_as_bad_form) {
  const std::string cases[] = {
      "2021-1-01",
      "2021-01-1",
      "2021/01/01",
      "",
      " ",
      "\t \t",
      "21-01-01",
      "20210101",
      "2021-01-010",
      "02021-01-01",
      "2021-01-01x",
      "x2021-01-01",
      "2021_01-01",
      "2021-01_01",
      "+021-01-01",
      "-2021-01-01",
      "2021-0a-01",
      "2021-01-0a",
      "a021-01-01",
      "2021- 1-01",
      "2021-01- 1",
      " 021-01-01",
      "2021-01-01\n",
      "\n2021-01-01",
      "2021-01-01\r",
      "2021-01-01 x",
      "2021-01-01T00:00",
      "01-01-2021",
      "2021.01.01",
      "\xEF\xBC\x92"
      "021-01-1",
      std::string("2021-01-0\0", 10),
      std::string("\0"
                  "2021-01-01",
                  11),
      "2021-01--1",
      "2021--1-01",
      "2021-:1-01",
      "2021-/1-01",
  };
  for (const auto& text : cases) {
    SCOPED_TRACE(testing::PrintToString(text));
    EXPECT_EQ(parse_date(text).status, date_status::bad_form);
  }
}

// Every day of years 0001 to 9999, counted by a calendar written here: each
// day's text parses to the next day number, and formats back to that text.
TEST(format_date, round_trips_every_day_from_year_1_to_year_9999) {
  day_number expected = first_day;
  char out[10];
  int failures = 0;
  for (int y = 1; y <= 9999 && failures < 10; ++y)
    for (int m = 1; m <= 12; ++m)
      for (int d = 1; d <= month_length(y, m); ++d, ++expected) {
        char text_buf[10] = {static_cast<char>('0' + y / 1000),
                             static_cast<char>('0' + y / 100 % 10),
                             static_cast<char>('0' + y / 10 % 10),
                             static_cast<char>('0' + y % 10),
                             '-',
                             static_cast<char>('0' + m / 10),
                             static_cast<char>('0' + m % 10),
                             '-',
                             static_cast<char>('0' + d / 10),
                             static_cast<char>('0' + d % 10)};
        const std::string_view text(text_buf, 10);
        const parsed_date p = parse_date(text);
        format_date(expected, out);
        if (p.status != date_status::ok || p.day != expected ||
            std::string_view(out, 10) != text) {
          ADD_FAILURE() << text << ": parsed " << p.day << ", expected "
                        << expected << ", formatted " << std::string(out, 10);
          ++failures;
        }
      }
  EXPECT_EQ(expected, last_day + 1);
  EXPECT_EQ(format_date(first_day), "0001-01-01");
  EXPECT_EQ(format_date(last_day), "9999-12-31");
  EXPECT_EQ(format_date(0), "1970-01-01");
}

// The cache must answer as parse_date does whether a date is new, remembered,
// or shares a slot with others: every day of 30 years (more than the table's
// neighbourhoods hold, so entries are also replaced), then bad dates of the
// same length that look like remembered ones, in a shuffled order, three times.
TEST(date_cache, answers_as_parse_date_for_new_remembered_and_bad_dates) {
  std::vector<std::string> texts;
  for (day_number d = 18000; d < 18000 + 30 * 366; ++d) {
    texts.push_back(format_date(d));
    std::string bad = texts.back();
    bad[9] = static_cast<char>(bad[9] + 10); // not a digit
    texts.push_back(bad);
    bad = texts.back();
    bad[4] = '/';
    texts.push_back(bad);
  }
  texts.push_back("2021-02-29"); // impossible, 10 bytes
  texts.push_back(" 2021-02-28 ");
  texts.push_back(std::string(10, '\0'));
  std::mt19937 rng(7);
  date_cache cache;
  int failures = 0;
  for (int round = 0; round < 3; ++round) {
    std::shuffle(texts.begin(), texts.end(), rng);
    for (const std::string& text : texts) {
      const parsed_date want = parse_date(text);
      const parsed_date got = cache.parse(text);
      if ((got.status != want.status ||
           (want.status == date_status::ok && got.day != want.day)) &&
          ++failures <= 5)
        ADD_FAILURE() << quote_value(text) << ": cache says " << got.day;
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST(parse_count, accepts_whole_numbers_from_zero_to_two_to_the_63_minus_one) {
  const struct {
    const char* text;
    int64_t value;
  } cases[] = {
      {"0", 0},
      {"1", 1},
      {"42", 42},
      {"9223372036854775807", INT64_MAX},
      {"9223372036854775806", INT64_MAX - 1},
      {"999999999999999999", 999999999999999999},   // 18 digits
      {"1000000000000000000", 1000000000000000000}, // 19 digits
      {"007", 7},
      {"000", 0},
      {"0000000000000000000000000001", 1}, // 28 digits, leading zeros
      {"000000000009223372036854775807", INT64_MAX},
      {" 12 ", 12},
      {"\t12\t", 12},
      {" \t 12", 12},
      {"12 \t", 12},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::PrintToString(std::string(c.text)));
    const parsed_count p = parse_count(c.text);
    EXPECT_EQ(p.status, count_status::ok);
    EXPECT_EQ(p.value, c.value);
  }
}

TEST(parse_count, rejects_numbers_above_two_to_the_63_minus_one_as_too_large) {
  for (const char* text :
       {"9223372036854775808", "9223372036854775809", "9999999999999999999",
        "10000000000000000000", "18446744073709551615", "18446744073709551616",
        "99999999999999999999999999", "0009223372036854775808",
        " 9223372036854775808 "}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(parse_count(text).status, count_status::too_large);
  }
}

TEST(parse_count, rejects_negative_numbers_as_negative) {
  for (const char* text : {"-1", "-42", " -5 ", "\t-1", "-9223372036854775808",
                           "-99999999999999999999"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(parse_count(text).status, count_status::negative);
  }
}

TEST(parse_count, rejects_what_is_not_written_in_decimal_digits_as_not_whole) {
  const std::string cases[] = {
      "1.0",
      "1.5",
      "1e3",
      "+5",
      "",
      " ",
      "\t",
      "abc",
      "1 2",
      "12a",
      "a12",
      "0x10",
      "1,000",
      "1_000",
      "-",
      "--1",
      "-+1",
      "- 1",
      "\n12",
      "12\n",
      "12\r",
      "\xD9\xA3",
      "NaN",
      "inf",
      "1.",
      ".1",
      std::string("1\0", 2),
      "12345678901234567890x",
      "x12345678901234567890",
  };
  for (const auto& text : cases) {
    SCOPED_TRACE(testing::PrintToString(text));
    EXPECT_EQ(parse_count(text).status, count_status::not_whole);
  }
}

TEST(parse_count, rejects_minus_zero) {
  EXPECT_NE(parse_count("-0").status, count_status::ok);
}

TEST(describe, quotes_the_bad_date_and_says_what_is_wrong) {
  const std::string impossible =
      describe(date_status::impossible, "2023-02-29");
  EXPECT_NE(impossible.find("\"2023-02-29\""), std::string::npos) << impossible;
  EXPECT_NE(impossible.find("calendar date"), std::string::npos) << impossible;
  const std::string form = describe(date_status::bad_form, " 2021/01/01");
  EXPECT_NE(form.find("\" 2021/01/01\""), std::string::npos) << form;
  EXPECT_NE(form.find("YYYY-MM-DD"), std::string::npos) << form;
}

TEST(describe, quotes_the_bad_count_and_says_what_is_wrong) {
  const struct {
    count_status status;
    const char* text;
    const char* says;
  } cases[] = {
      {count_status::not_whole, "1.5", "whole number"},
      {count_status::negative, "-3", "negative"},
      {count_status::too_large, "9223372036854775808", "9223372036854775807"},
  };
  for (const auto& c : cases) {
    const std::string what = describe(c.status, c.text);
    SCOPED_TRACE(what);
    EXPECT_NE(what.find(std::string("\"") + c.text + "\""), std::string::npos);
    EXPECT_NE(what.find(c.says), std::string::npos);
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
}

TEST(quote_value, escapes_quotes_backslashes_and_control_bytes_on_one_line) {
  EXPECT_EQ(quote_value("plain"), "\"plain\"");
  EXPECT_EQ(quote_value(""), "\"\"");
  EXPECT_EQ(quote_value("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(quote_value("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(quote_value("a\nb\rc\td"), "\"a\\nb\\rc\\td\"");
  EXPECT_EQ(quote_value(std::string("\0\x01\x7f", 3)), "\"\\x00\\x01\\x7F\"");
  EXPECT_EQ(quote_value("\xC3\xA9"), "\"\xC3\xA9\"");
}

TEST(quote_value, writes_bytes_that_are_not_utf8_as_hex_and_drops_none) {
  EXPECT_EQ(quote_value("\xff\xfe"), "\"\\xFF\\xFE\"");
  EXPECT_EQ(quote_value("caf\xC3\xA9 \xC3"), "\"caf\xC3\xA9 \\xC3\"");
  // A literal backslash-x stays apart from an escaped byte.
  EXPECT_EQ(quote_value("\\xFF"), "\"\\\\xFF\"");
  EXPECT_TRUE(is_valid_utf8(quote_value("a\x80\xC0\xAF\xED\xA0\x80"
                                        "b")));
}

TEST(quote_value, cuts_long_values_and_says_so) {
  const std::string long_value(200, 'x');
  EXPECT_EQ(quote_value(long_value), "\"" + std::string(80, 'x') + "\"...");
  EXPECT_EQ(quote_value(std::string(80, 'y')),
            "\"" + std::string(80, 'y') + "\"");
  EXPECT_EQ(quote_value("abcdef", 3), "\"abc\"...");
}

TEST(input_error, reads_line_n_colon_what) {
  EXPECT_EQ((input_error{7, "something is wrong"}).to_string(),
            "line 7: something is wrong");
}

TEST(trim_blanks, strips_spaces_and_tabs_only) {
  EXPECT_EQ(trim_blanks(" \t a b \t "), "a b");
  EXPECT_EQ(trim_blanks("\na\n"), "\na\n");
  EXPECT_EQ(trim_blanks(" \t "), "");
}

} // namespace
} // namespace playcount
