// core/record_parser: splitting one record into unquoted fields, RFC 4180.

#include "core/record_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace playcount {
namespace {

std::vector<std::string> split(std::string_view record) {
  std::vector<std::string_view> fields;
  std::string scratch;
  const split_outcome o = split_record(record, fields, scratch);
  EXPECT_EQ(o.problem, record_problem::none)
      << testing::PrintToString(std::string(record));
  return {fields.begin(), fields.end()};
}

TEST(split_record, splits_at_unquoted_commas_and_unquotes_fields) {
  using v = std::vector<std::string>;
  const struct {
    std::string record;
    v fields;
  } cases[] = {
      {"a,b,c", {"a", "b", "c"}},
      {"", {""}},
      {",", {"", ""}},
      {"a,", {"a", ""}},
      {",a", {"", "a"}},
      {",,", {"", "", ""}},
      {" a , b ", {" a ", " b "}},
      {"\"\"", {""}},
      {"\"\",\"\"", {"", ""}},
      {"\"a\"", {"a"}},
      {"\"a\",b", {"a", "b"}},
      {"a,\"b\"", {"a", "b"}},
      {"\"a\"\"b\",c", {"a\"b", "c"}},
      {"\"\"\"\"", {"\""}},
      {"\"\"\"\"\"\"", {"\"\""}},
      {"\"a,b\",c", {"a,b", "c"}},
      {"\",\",\",,\"", {",", ",,"}},
      {"\"a\nb\",c", {"a\nb", "c"}},
      {"\"a\r\nb\",c", {"a\r\nb", "c"}},
      {"\"a\rb\"", {"a\rb"}},
      {"\"\n\"", {"\n"}},
      {"x,\"\"\"Hi\"\", he said\",y", {"x", "\"Hi\", he said", "y"}},
      {"a\rb,c", {"a\rb", "c"}},
      {"tab\there,\t", {"tab\there", "\t"}},
      {std::string("n\0l,\"\0\"", 7),
       {std::string("n\0l", 3), std::string("\0", 1)}},
      {"\xC3\xA9,\"\xE2\x99\xAB\"", {"\xC3\xA9", "\xE2\x99\xAB"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::PrintToString(c.record));
    EXPECT_EQ(split(c.record), c.fields);
  }
}

TEST(split_record, keeps_every_field_view_valid_until_the_next_call) {
  // Many quoted fields: the unquoted bytes of all of them must survive the
  // growth of the scratch buffer.
  std::string record;
  std::vector<std::string> expected;
  for (int i = 0; i < 200; ++i) {
    const std::string v =
        "f" + std::to_string(i) + "\"" + std::string(i % 7, 'z');
    expected.push_back(v);
    std::string q = "\"";
    for (char c : v)
      q += c == '"' ? std::string("\"\"") : std::string(1, c);
    record += (i ? "," : "") + q + "\"";
  }
  std::vector<std::string_view> fields;
  std::string scratch = "x"; // a used scratch buffer is fine too
  ASSERT_EQ(split_record(record, fields, scratch).problem,
            record_problem::none);
  ASSERT_EQ(fields.size(), expected.size());
  for (size_t i = 0; i < fields.size(); ++i)
    EXPECT_EQ(fields[i], expected[i]) << i;
}

TEST(split_record, reports_the_kind_and_field_of_a_quoting_problem) {
  const struct {
    const char* record;
    record_problem problem;
    size_t field;
  } cases[] = {
      {"a\"b", record_problem::stray_quote, 0},
      {"a\"", record_problem::stray_quote, 0},
      {"a\"\"", record_problem::stray_quote, 0},
      {"x,a\"b,c", record_problem::stray_quote, 1},
      {" \"a\"", record_problem::stray_quote, 0},
      {"x,y, \"z\"", record_problem::stray_quote, 2},
      {"\"a\"b", record_problem::text_after_quote, 0},
      {"\"a\" ", record_problem::text_after_quote, 0},
      {"x,\"a\" ,y", record_problem::text_after_quote, 1},
      {"\"a\"\"\"b,c", record_problem::text_after_quote, 0},
      {"\"\"a", record_problem::text_after_quote, 0},
      {"\"abc", record_problem::unclosed_quote, 0},
      {"\"", record_problem::unclosed_quote, 0},
      {"x,\"a\"\"", record_problem::unclosed_quote, 1},
      {"x,\"", record_problem::unclosed_quote, 1},
      {"a,b,\"c\n", record_problem::unclosed_quote, 2},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::PrintToString(std::string(c.record)));
    std::vector<std::string_view> fields;
    std::string scratch;
    const split_outcome o = split_record(c.record, fields, scratch);
    EXPECT_EQ(o.problem, c.problem);
    EXPECT_EQ(o.field, c.field);
  }
}

TEST(describe, names_the_field_and_quotes_the_record_for_split_problems) {
  const std::string stray =
      describe(split_outcome{record_problem::stray_quote, 1}, "x,a\"b");
  EXPECT_NE(stray.find("field 2"), std::string::npos) << stray;
  EXPECT_NE(stray.find("\"x,a\\\"b\""), std::string::npos) << stray;
  const std::string after =
      describe(split_outcome{record_problem::text_after_quote, 0}, "\"a\"b");
  EXPECT_NE(after.find("after a closing quote"), std::string::npos) << after;
  EXPECT_NE(after.find("field 1"), std::string::npos) << after;
  const std::string unclosed =
      describe(split_outcome{record_problem::unclosed_quote, 2}, "a,b,\"c");
  EXPECT_NE(unclosed.find("never closes"), std::string::npos) << unclosed;
  EXPECT_NE(unclosed.find("field 3"), std::string::npos) << unclosed;
}

TEST(strip_cr, removes_one_trailing_carriage_return) {
  EXPECT_EQ(strip_cr("a\r"), "a");
  EXPECT_EQ(strip_cr("a\r\r"), "a\r");
  EXPECT_EQ(strip_cr("a"), "a");
  EXPECT_EQ(strip_cr(""), "");
  EXPECT_EQ(strip_cr("\r"), "");
}

} // namespace
} // namespace playcount
