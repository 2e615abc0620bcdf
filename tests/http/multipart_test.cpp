#include "http/multipart.hpp"
#include "tests/support/slowdown.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::string_literals;
using namespace playcount::http;

// Bodies captured on the wire from curl 7.88.1 (Debian 12) against a
// loopback listener; only the boundary is curl's random one.

// curl -F file=@x.csv -F note=hello URL
const std::string curl_ct =
    "multipart/form-data; boundary=------------------------a4e00afb0571dca9";
const std::string curl_body =
    "--------------------------a4e00afb0571dca9\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "Song,Date,Number of Plays\r\n"
    "Umbrella,2020-01-01,200\r\n"
    "\r\n"
    "--------------------------a4e00afb0571dca9\r\n"
    "Content-Disposition: form-data; name=\"note\"\r\n"
    "\r\n"
    "hello\r\n"
    "--------------------------a4e00afb0571dca9--\r\n";

// curl -F file=@empty.csv URL (an empty file)
const std::string curl_empty_ct =
    "multipart/form-data; boundary=------------------------74c22244179977a9";
const std::string curl_empty_body =
    "--------------------------74c22244179977a9\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"empty.csv\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "\r\n"
    "--------------------------74c22244179977a9--\r\n";

// curl -F 'file=<x.csv' URL (the file's text as a plain field, no filename)
const std::string curl_text_ct =
    "multipart/form-data; boundary=------------------------2a331d2bd4bce580";
const std::string curl_text_body =
    "--------------------------2a331d2bd4bce580\r\n"
    "Content-Disposition: form-data; name=\"file\"\r\n"
    "\r\n"
    "Song,Date,Number of Plays\r\n"
    "Umbrella,2020-01-01,200\r\n"
    "\r\n"
    "--------------------------2a331d2bd4bce580--\r\n";

// curl -F file=@bin.dat URL, bin.dat holding NUL, 0xff, CR, LF and "--".
const std::string curl_binary_ct =
    "multipart/form-data; boundary=------------------------c48cf8272995730e";
const std::string binary_file = "a\0b\xff\r\n--\r\n\r\n--x\rend"s;
const std::string curl_binary_body =
    "--------------------------c48cf8272995730e\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"bin.dat\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n" +
    binary_file +
    "\r\n"
    "--------------------------c48cf8272995730e--\r\n";

// curl -F name=report -F 'file=@x.csv;filename=plays.csv;type=text/csv' URL
const std::string curl_typed_ct =
    "multipart/form-data; boundary=------------------------804916f7f02d3c7b";
const std::string curl_typed_body =
    "--------------------------804916f7f02d3c7b\r\n"
    "Content-Disposition: form-data; name=\"name\"\r\n"
    "\r\n"
    "report\r\n"
    "--------------------------804916f7f02d3c7b\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"plays.csv\"\r\n"
    "Content-Type: text/csv\r\n"
    "\r\n"
    "Song,Date,Number of Plays\r\n"
    "Umbrella,2020-01-01,200\r\n"
    "\r\n"
    "--------------------------804916f7f02d3c7b--\r\n";

// curl -F 'file=@empty.csv;type=text/csv' -F 'file=<x.csv' URL
const std::string curl_two_files_ct =
    "multipart/form-data; boundary=------------------------ab08277d66859312";
const std::string curl_two_files_body =
    "--------------------------ab08277d66859312\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"empty.csv\"\r\n"
    "Content-Type: text/csv\r\n"
    "\r\n"
    "\r\n"
    "--------------------------ab08277d66859312\r\n"
    "Content-Disposition: form-data; name=\"file\"\r\n"
    "\r\n"
    "Song,Date,Number of Plays\r\n"
    "Umbrella,2020-01-01,200\r\n"
    "\r\n"
    "--------------------------ab08277d66859312--\r\n";

const std::string csv_file = "Song,Date,Number of Plays\r\n"
                             "Umbrella,2020-01-01,200\r\n";

// A part of a hand-made body with boundary "abc".
std::string field(std::string_view name, std::string_view content) {
  return "--abc\r\nContent-Disposition: form-data; name=\"" +
         std::string{name} + "\"\r\n\r\n" + std::string{content} + "\r\n";
}

std::string file_part(std::string_view content,
                      std::string_view filename = "plays.csv") {
  return "--abc\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
         std::string{filename} + "\"\r\nContent-Type: text/csv\r\n\r\n" +
         std::string{content} + "\r\n";
}

const std::string abc_ct = "multipart/form-data; boundary=abc";
const std::string abc_end = "--abc--\r\n";

struct expected_part {
  std::string name;
  std::optional<std::string> filename;
  std::string content_type;
  std::string content;
};

struct success_case {
  const char* title;
  std::string content_type;
  std::string body;
  std::vector<expected_part> parts;
};

void PrintTo(const success_case& c, std::ostream* os) {
  *os << c.title;
}

bool lies_within(std::string_view view, std::string_view body) {
  if (view.empty())
    return true;
  return view.data() >= body.data() &&
         view.data() + view.size() <= body.data() + body.size();
}

class multipart_parses : public testing::TestWithParam<success_case> {};

TEST_P(multipart_parses, into_the_expected_parts_viewing_the_body) {
  const auto& c = GetParam();
  const auto result = parse_multipart(c.content_type, c.body);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  const auto& parts = result->parts;
  ASSERT_EQ(parts.size(), c.parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    SCOPED_TRACE("part " + std::to_string(i + 1));
    const auto& want = c.parts[i];
    const auto& got = parts[i];
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.has_filename, want.filename.has_value());
    EXPECT_EQ(got.filename, want.filename.value_or(""));
    EXPECT_EQ(got.content_type, want.content_type);
    EXPECT_EQ(got.content, want.content);
    EXPECT_TRUE(lies_within(got.name, c.body));
    EXPECT_TRUE(lies_within(got.filename, c.body));
    EXPECT_TRUE(lies_within(got.content_type, c.body));
    EXPECT_TRUE(lies_within(got.content, c.body)) << "content was copied";
  }
}

const std::string long_boundary(70, 'z');

INSTANTIATE_TEST_SUITE_P(
    table, multipart_parses,
    testing::Values(
        success_case{"a_curl_upload_with_a_note_gives_the_file_bytes_unchanged",
                     curl_ct,
                     curl_body,
                     {{"file", "x.csv", "application/octet-stream", csv_file},
                      {"note", std::nullopt, "", "hello"}}},
        success_case{"a_curl_upload_of_an_empty_file_gives_an_empty_content",
                     curl_empty_ct,
                     curl_empty_body,
                     {{"file", "empty.csv", "application/octet-stream", ""}}},
        success_case{"a_curl_text_field_named_file_has_no_filename",
                     curl_text_ct,
                     curl_text_body,
                     {{"file", std::nullopt, "", csv_file}}},
        success_case{
            "a_curl_upload_of_binary_bytes_keeps_them_all",
            curl_binary_ct,
            curl_binary_body,
            {{"file", "bin.dat", "application/octet-stream", binary_file}}},
        success_case{"a_curl_upload_with_type_and_filename_reports_both",
                     curl_typed_ct,
                     curl_typed_body,
                     {{"name", std::nullopt, "", "report"},
                      {"file", "plays.csv", "text/csv", csv_file}}},
        success_case{"a_quoted_boundary_with_a_space_is_unquoted",
                     "multipart/form-data; boundary=\"simple boundary\"",
                     "--simple boundary\r\n"
                     "Content-Disposition: form-data; name=\"file\"\r\n\r\n"
                     "x\r\n--simple boundary--",
                     {{"file", std::nullopt, "", "x"}}},
        success_case{"media_type_parameter_and_header_names_ignore_case",
                     "Multipart/Form-Data; BOUNDARY=abc",
                     "--abc\r\ncontent-disposition: FORM-DATA; NAME=\"file\"; "
                     "FileName=\"a.csv\"\r\nCONTENT-TYPE: text/csv\r\n\r\n"
                     "x\r\n--abc--\r\n",
                     {{"file", "a.csv", "text/csv", "x"}}},
        success_case{
            "other_content_type_parameters_are_ignored",
            "multipart/form-data; charset=utf-8;boundary=abc ; x=\"y;z\"",
            file_part("x") + abc_end,
            {{"file", "plays.csv", "text/csv", "x"}}},
        success_case{
            "a_preamble_and_an_epilogue_are_skipped",
            abc_ct,
            "This is the preamble.\r\n--abc is not a line of its own\r\n" +
                file_part("x") + "--abc--\r\nThis is the epilogue.\r\n",
            {{"file", "plays.csv", "text/csv", "x"}}},
        success_case{
            "the_boundary_inside_content_without_crlf_dashes_is_content",
            abc_ct,
            file_part("x--abc\r\n-abc\n--abc\r\nabc\r\n--ab\r\n") + abc_end,
            {{"file", "plays.csv", "text/csv",
              "x--abc\r\n-abc\n--abc\r\nabc\r\n--ab\r\n"}}},
        success_case{
            "the_boundary_as_a_prefix_of_a_content_line_is_content",
            abc_ct,
            file_part("a\r\n--abcdef\r\n--abc-\r\n--abc--x\r\n--abc\tx\r\nb") +
                abc_end,
            {{"file", "plays.csv", "text/csv",
              "a\r\n--abcdef\r\n--abc-\r\n--abc--x\r\n--abc\tx\r\nb"}}},
        success_case{"the_crlf_before_a_delimiter_belongs_to_the_delimiter",
                     abc_ct,
                     field("a", "") + field("b", "\r\n") +
                         field("c", "\r\n\r\n") + abc_end,
                     {{"a", std::nullopt, "", ""},
                      {"b", std::nullopt, "", "\r\n"},
                      {"c", std::nullopt, "", "\r\n\r\n"}}},
        success_case{"a_csv_without_a_last_line_end_keeps_its_last_byte",
                     abc_ct,
                     file_part("Song,Date,Number of Plays\nx,2020-01-01,1") +
                         abc_end,
                     {{"file", "plays.csv", "text/csv",
                       "Song,Date,Number of Plays\nx,2020-01-01,1"}}},
        success_case{"transport_padding_after_a_boundary_is_allowed",
                     abc_ct,
                     "--abc \t\r\nContent-Disposition: form-data; name=\"file\""
                     "\r\n\r\nx\r\n--abc-- \r\n",
                     {{"file", std::nullopt, "", "x"}}},
        success_case{"a_close_delimiter_at_the_very_end_needs_no_crlf",
                     abc_ct,
                     field("file", "x") + "--abc--",
                     {{"file", std::nullopt, "", "x"}}},
        success_case{"an_empty_body_is_a_form_without_parts", abc_ct, "", {}},
        success_case{"a_body_of_only_the_close_delimiter_has_no_parts",
                     abc_ct,
                     "--abc--\r\n",
                     {}},
        success_case{"a_form_without_a_file_field_parses_to_its_other_fields",
                     abc_ct,
                     field("note", "hello") + field("note", "again") + abc_end,
                     {{"note", std::nullopt, "", "hello"},
                      {"note", std::nullopt, "", "again"}}},
        success_case{
            "a_folded_header_line_continues_the_value",
            abc_ct,
            "--abc\r\nContent-Disposition: form-data;\r\n name=\"file\";"
            "\r\n\tfilename=\"a.csv\"\r\n\r\nx\r\n--abc--\r\n",
            {{"file", "a.csv", "", "x"}}},
        success_case{
            "unknown_part_headers_are_ignored",
            abc_ct,
            "--abc\r\nX-Whatever: 1\r\nContent-Disposition: form-data; "
            "name=file; filename*=UTF-8''a.csv\r\nContent-Transfer-"
            "Encoding: binary\r\n\r\nx\r\n--abc--\r\n",
            {{"file", std::nullopt, "", "x"}}},
        success_case{"a_filename_keeps_its_raw_bytes",
                     abc_ct,
                     file_part("x", "we\\%22ird; name=\\\"x.csv") + abc_end,
                     {{"file", "we\\%22ird; name=\\\"x.csv", "text/csv", "x"}}},
        success_case{
            "a_first_line_that_only_starts_with_the_boundary_is_preamble",
            abc_ct,
            "--abcd\r\n" + field("file", "x") + abc_end,
            {{"file", std::nullopt, "", "x"}}},
        success_case{"a_seventy_character_boundary_is_accepted",
                     "multipart/form-data; boundary=" + long_boundary,
                     "--" + long_boundary +
                         "\r\nContent-Disposition: form-data; "
                         "name=\"file\"\r\n\r\nx\r\n--" +
                         long_boundary + "--\r\n",
                     {{"file", std::nullopt, "", "x"}}}),
    [](const testing::TestParamInfo<success_case>& param_info) {
      return std::string{param_info.param.title};
    });

struct failure_case {
  const char* title;
  std::string content_type;
  std::string body;
  multipart_errc code;
  std::string message_part;
};

void PrintTo(const failure_case& c, std::ostream* os) {
  *os << c.title;
}

class multipart_rejects : public testing::TestWithParam<failure_case> {};

TEST_P(multipart_rejects, with_the_expected_code_and_message) {
  const auto& c = GetParam();
  const auto result = parse_multipart(c.content_type, c.body);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(to_string(result.error().code), to_string(c.code));
  EXPECT_NE(result.error().message.find(c.message_part), std::string::npos)
      << "message: " << result.error().message;
  EXPECT_EQ(result.error().message.find('\n'), std::string::npos)
      << "the message must stay on one line";
}

const std::string big_headers(max_part_headers_size + 1, 'x');

INSTANTIATE_TEST_SUITE_P(
    table, multipart_rejects,
    testing::Values(
        failure_case{
            "a_text_csv_content_type_is_not_multipart", "text/csv", csv_file,
            multipart_errc::not_multipart,
            "Content-Type is \"text/csv\", expected multipart/form-data"},
        failure_case{"a_missing_boundary_parameter",
                     "multipart/form-data; charset=utf-8", curl_body,
                     multipart_errc::missing_boundary,
                     "has no boundary parameter"},
        failure_case{"a_boundary_parameter_without_a_value",
                     "multipart/form-data; boundary=", curl_body,
                     multipart_errc::bad_boundary,
                     "parameter \"boundary\" has no value"},
        failure_case{"an_empty_quoted_boundary",
                     "multipart/form-data; boundary=\"\"", curl_body,
                     multipart_errc::bad_boundary, "is empty"},
        failure_case{"a_boundary_with_an_unclosed_quote",
                     "multipart/form-data; boundary=\"abc", curl_body,
                     multipart_errc::bad_boundary, "unclosed quote"},
        failure_case{"a_boundary_longer_than_seventy_characters",
                     "multipart/form-data; boundary=" + std::string(71, 'z'),
                     curl_body, multipart_errc::bad_boundary,
                     "is longer than 70 characters"},
        failure_case{"a_boundary_with_a_character_rfc_2046_forbids",
                     "multipart/form-data; boundary=\"a@b\"", curl_body,
                     multipart_errc::bad_boundary, "has the character \"@\""},
        failure_case{
            "a_body_with_another_boundary_than_the_content_type",
            "multipart/form-data; boundary=------------------------wrong",
            curl_body, multipart_errc::no_opening_boundary,
            "does not start with the boundary "
            "\"--------------------------wrong\" given in Content-Type; "
            "its first line is "
            "\"--------------------------a4e00afb0571dca9\""},
        failure_case{"a_body_that_is_not_multipart_at_all", abc_ct, csv_file,
                     multipart_errc::no_opening_boundary,
                     "its first line is \"Song,Date,Number of Plays\""},
        failure_case{"a_curl_upload_cut_inside_the_file", curl_ct,
                     curl_body.substr(0, curl_body.find("Umbrella")),
                     multipart_errc::unterminated,
                     "part 1 (\"file\") has no closing boundary: the body ends "
                     "before \"--------------------------a4e00afb0571dca9--\""},
        failure_case{"a_last_part_without_its_close_delimiter", abc_ct,
                     field("note", "hello") + file_part("x"),
                     multipart_errc::unterminated,
                     "part 2 (\"file\") has no closing boundary"},
        failure_case{"a_body_ending_at_a_boundary_without_its_dashes", abc_ct,
                     file_part("x") + "--abc", multipart_errc::unterminated,
                     "part 1 (\"file\") has no closing boundary"},
        failure_case{"a_body_ending_inside_part_headers", abc_ct,
                     "--abc\r\nContent-Disposition: form-da",
                     multipart_errc::unterminated,
                     "part 1 has no closing boundary: the body ends inside its "
                     "headers"},
        failure_case{"part_headers_ending_in_bare_line_feeds", abc_ct,
                     "--abc\nContent-Disposition: form-data; name=\"file\"\n\n"
                     "x\n--abc--\n",
                     multipart_errc::no_opening_boundary,
                     "the first line \"--abc\\nContent-Disposition: form-data; "
                     "name=\\\"file\\\"\\n\\nx\\n--abc--"
                     "\"... is not the boundary \"--abc\" followed by CRLF"},
        failure_case{"part_headers_without_an_empty_line", abc_ct,
                     "--abc\r\nContent-Disposition: form-data; name=\"a\"\r\n" +
                         field("file", "x") + abc_end,
                     multipart_errc::bad_part_headers,
                     "part 1: the headers do not end with an empty line before "
                     "the next boundary"},
        failure_case{
            "part_headers_longer_than_the_limit", abc_ct,
            "--abc\r\nX-Big: " + big_headers + "\r\n\r\nx\r\n" + abc_end,
            multipart_errc::bad_part_headers,
            "the headers do not end with an empty line (CRLF CRLF) within "
            "65536 bytes"},
        failure_case{"a_part_without_headers", abc_ct,
                     "--abc\r\n\r\nx\r\n" + abc_end,
                     multipart_errc::bad_part_headers,
                     "part 1: no Content-Disposition header"},
        failure_case{"a_part_without_content_disposition", abc_ct,
                     "--abc\r\nContent-Type: text/csv\r\n\r\nx\r\n" + abc_end,
                     multipart_errc::bad_part_headers,
                     "no Content-Disposition header"},
        failure_case{
            "a_disposition_other_than_form_data", abc_ct,
            "--abc\r\nContent-Disposition: attachment; name=\"file\"\r\n"
            "\r\nx\r\n" +
                abc_end,
            multipart_errc::bad_part_headers,
            "part 1: Content-Disposition is \"attachment\", not "
            "form-data"},
        failure_case{
            "a_disposition_without_a_name", abc_ct,
            "--abc\r\nContent-Disposition: form-data; filename=\"a.csv\""
            "\r\n\r\nx\r\n" +
                abc_end,
            multipart_errc::bad_part_headers,
            "Content-Disposition has no name parameter"},
        failure_case{"a_disposition_with_two_names", abc_ct,
                     "--abc\r\nContent-Disposition: form-data; name=\"a\"; "
                     "name=\"file\"\r\n\r\nx\r\n" +
                         abc_end,
                     multipart_errc::bad_part_headers,
                     "Content-Disposition has two name parameters"},
        failure_case{
            "a_disposition_with_an_unclosed_quote", abc_ct,
            "--abc\r\nContent-Disposition: form-data; name=\"file\r\n\r\n"
            "x\r\n" +
                abc_end,
            multipart_errc::bad_part_headers,
            "Content-Disposition: parameter \"name\" has an unclosed "
            "quote"},
        failure_case{
            "a_header_line_without_a_colon", abc_ct,
            "--abc\r\nContent-Disposition: form-data; name=\"file\"\r\n"
            "oops\r\n\r\nx\r\n" +
                abc_end,
            multipart_errc::bad_part_headers,
            "header line \"oops\" has no ':'"},
        failure_case{
            "a_header_name_with_a_space", abc_ct,
            "--abc\r\nContent-Disposition : form-data; name=\"file\"\r\n"
            "\r\nx\r\n" +
                abc_end,
            multipart_errc::bad_part_headers,
            "bad header name \"Content-Disposition \""},
        failure_case{
            "two_content_disposition_headers", abc_ct,
            "--abc\r\nContent-Disposition: form-data; name=\"a\"\r\n"
            "Content-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n" +
                abc_end,
            multipart_errc::bad_part_headers,
            "two Content-Disposition headers"},
        failure_case{
            "two_file_parts_from_curl", curl_two_files_ct, curl_two_files_body,
            multipart_errc::duplicate_field,
            "two parts are named \"file\" (parts 1 and 2): send one file "
            "per request"},
        failure_case{"two_file_parts_among_other_fields", abc_ct,
                     file_part("a") + field("note", "x") + file_part("b") +
                         abc_end,
                     multipart_errc::duplicate_field,
                     "two parts are named \"file\" (parts 1 and 3)"}),
    [](const testing::TestParamInfo<failure_case>& param_info) {
      return std::string{param_info.param.title};
    });

TEST(multipart_fields, without_a_file_field_is_not_an_error_and_has_no_file) {
  const std::string body = field("note", "hello") + abc_end;
  const auto result = parse_multipart(abc_ct, body);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->file(), nullptr);
  EXPECT_NE(result->find("note"), nullptr);
}

TEST(multipart_fields, finds_the_file_part_among_other_fields) {
  const auto result = parse_multipart(curl_typed_ct, curl_typed_body);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  const multipart_part* file = result->file();
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->filename, "plays.csv");
  EXPECT_EQ(file->content, csv_file);
  EXPECT_EQ(result->find("missing"), nullptr);
}

TEST(multipart_fields, allows_repeated_names_when_no_name_must_be_unique) {
  const auto result =
      parse_multipart(curl_two_files_ct, curl_two_files_body, {});
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_EQ(result->parts.size(), 2u);
  EXPECT_EQ(result->file(), &result->parts[0]);
}

TEST(multipart_fields, rejects_a_repeated_name_chosen_by_the_caller) {
  const std::string body = field("a", "1") + field("a", "2") + abc_end;
  const auto result = parse_multipart(abc_ct, body, "a");
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, multipart_errc::duplicate_field);
  EXPECT_NE(result.error().message.find("send one a per request"),
            std::string::npos);
}

TEST(multipart_fields, parses_a_body_given_its_boundary) {
  const auto result = parse_multipart_body(
      "------------------------a4e00afb0571dca9", curl_body);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_EQ(result->parts.size(), 2u);
  EXPECT_EQ(result->parts[1].content, "hello");
}

TEST(multipart_fields, can_be_moved_out_of_its_result) {
  auto result = parse_multipart(curl_ct, curl_body);
  ASSERT_TRUE(result.has_value());
  multipart_form form = std::move(result).value();
  ASSERT_EQ(form.parts.size(), 2u);
  EXPECT_EQ(form.file()->content, csv_file);
}

struct content_type_case {
  const char* content_type;
  bool multipart;
  const char* boundary; // nullptr: find_boundary fails
};

TEST(multipart_content_type, is_recognized_and_its_boundary_found) {
  const content_type_case cases[] = {
      {"multipart/form-data; boundary=abc", true, "abc"},
      {"multipart/form-data;boundary=abc", true, "abc"},
      {"  MULTIPART/FORM-DATA ; Boundary = abc ", true, "abc"},
      {"multipart/form-data; boundary=\"a b:c\"", true, "a b:c"},
      {"multipart/form-data; boundary=\"a\\bc\"", true, "abc"},
      {"multipart/form-data; xboundary=1; boundary=abc", true, "abc"},
      {"multipart/form-data; boundary=abc; boundary=def", true, "abc"},
      {"multipart/form-data; boundary=\"ab \"", true, nullptr},
      {"multipart/form-data", true, nullptr},
      {"multipart/form-data; boundary=a b", true, nullptr},
      {"multipart/mixed; boundary=abc", false, nullptr},
      {"text/csv", false, nullptr},
      {"text/csv; charset=utf-8", false, nullptr},
      {"", false, nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.content_type);
    EXPECT_EQ(is_multipart_form_data(c.content_type), c.multipart);
    const auto found = find_boundary(c.content_type);
    EXPECT_EQ(found.ok, c.boundary != nullptr) << found.error.message;
    if (c.boundary != nullptr)
      EXPECT_EQ(found.boundary, c.boundary);
    else
      EXPECT_FALSE(found.error.message.empty());
  }
}

TEST(multipart_error_codes, every_code_has_its_own_name) {
  const multipart_errc codes[] = {
      multipart_errc::not_multipart,   multipart_errc::missing_boundary,
      multipart_errc::bad_boundary,    multipart_errc::no_opening_boundary,
      multipart_errc::unterminated,    multipart_errc::bad_part_headers,
      multipart_errc::duplicate_field,
  };
  std::set<std::string_view> names;
  for (auto code : codes)
    names.insert(to_string(code));
  EXPECT_EQ(names.size(), std::size(codes));
  EXPECT_EQ(names.count("unknown"), 0u);
}

// Every prefix of a valid body must be either a clean error or (for the
// prefixes that end after the close delimiter) the full form: never a crash,
// never a part that reaches past the bytes given.
TEST(multipart_robustness, every_prefix_of_a_curl_body_fails_cleanly) {
  const std::string_view body = curl_body;
  const size_t complete = body.size() - 2; // "--boundary--" without CRLF
  for (size_t len = 0; len <= body.size(); ++len) {
    SCOPED_TRACE(len);
    const std::string prefix{body.substr(0, len)};
    const auto result = parse_multipart(curl_ct, prefix);
    if (len == 0) {
      ASSERT_TRUE(result.has_value());
      EXPECT_TRUE(result->parts.empty());
    } else if (len == complete || len == body.size()) {
      ASSERT_TRUE(result.has_value()) << result.error().message;
      EXPECT_EQ(result->parts.size(), 2u);
    } else {
      EXPECT_FALSE(result.has_value());
    }
  }
}

// Flipping any byte of a valid body gives an error or a form whose views stay
// inside the body.
TEST(multipart_robustness, a_changed_byte_never_makes_a_view_leave_the_body) {
  const char replacements[] = {'\r', '\n', '-', '"', ';', ':', 'x', '\0'};
  for (size_t i = 0; i < curl_body.size(); ++i) {
    for (char ch : replacements) {
      std::string body = curl_body;
      body[i] = ch;
      const auto result = parse_multipart(curl_ct, body);
      if (!result.has_value())
        continue;
      for (const auto& part : result->parts) {
        ASSERT_TRUE(lies_within(part.name, body)) << i;
        ASSERT_TRUE(lies_within(part.content, body)) << i;
      }
    }
  }
}

// A 64 MiB CSV file as curl sends it: the content view spans it exactly,
// without copying, in well under a second even in a debug build.
TEST(multipart_large, a_64_mib_upload_is_parsed_in_place) {
  const std::string boundary = "------------------------0123456789abcdef";
  std::string body = "--" + boundary +
                     "\r\nContent-Disposition: form-data; name=\"file\"; "
                     "filename=\"big.csv\"\r\nContent-Type: "
                     "application/octet-stream\r\n\r\n";
  const size_t content_start = body.size();
  body += "Song,Date,Number of Plays\r\n";
  const std::string row = "Umbrella,2020-01-01,200\r\n";
  while (body.size() < (64u << 20))
    body += row;
  const size_t content_end = body.size();
  body += "\r\n--" + boundary +
          "\r\nContent-Disposition: form-data; "
          "name=\"note\"\r\n\r\nhi\r\n--" +
          boundary + "--\r\n";

  const auto started = std::chrono::steady_clock::now();
  const auto result =
      parse_multipart("multipart/form-data; boundary=" + boundary, body);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_EQ(result->parts.size(), 2u);
  const auto& file = result->parts[0];
  EXPECT_EQ(file.content.data(), body.data() + content_start);
  EXPECT_EQ(file.content.size(), content_end - content_start);
  EXPECT_EQ(result->parts[1].content, "hi");
  EXPECT_LT(std::chrono::duration<double>(took).count(),
            2.0 * playcount::test::time_factor);
}

// Many near-miss delimiters ("\r\n--abcX") must not make the search
// quadratic.
TEST(multipart_large, many_boundary_prefixes_in_content_stay_linear) {
  std::string content;
  for (int i = 0; i < 200000; ++i)
    content += "\r\n--abcX";
  const std::string body = file_part(content) + abc_end;
  const auto started = std::chrono::steady_clock::now();
  const auto result = parse_multipart(abc_ct, body);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->file()->content, content);
  EXPECT_LT(std::chrono::duration<double>(took).count(),
            2.0 * playcount::test::time_factor);
}

} // namespace
