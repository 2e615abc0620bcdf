// The pure parts of downloads by the book (http/download.hpp) and of file
// names over HTTP (http/file_names.hpp): every rule of RFC 9110 they follow.

#include "http/download.hpp"
#include "http/file_names.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

namespace playcount::http {
namespace {

std::string header_of(const download_plan& p, const std::string& name) {
  for (const auto& [n, v] : p.headers)
    if (n == name)
      return v;
  return "(none)";
}

// -- Range --------------------------------------------------------------------

TEST(download_range, single_ranges_of_each_form) {
  struct row {
    std::string header;
    range_request::kind_type kind;
    uint64_t first, length;
  };
  const std::vector<row> rows = {
      {"bytes=0-99", range_request::part, 0, 100},
      {"bytes=100-", range_request::part, 100, 900},
      {"bytes=-10", range_request::part, 990, 10},
      {"bytes=-5000", range_request::part, 0, 1000}, // more than there is
      {"bytes=990-5000", range_request::part, 990, 10},
      {"bytes=999-999", range_request::part, 999, 1},
      {"Bytes=5-9 ", range_request::part, 5, 5},
      {"bytes = 5-9", range_request::whole, 0, 0}, // no space around =
      {"bytes=1000-", range_request::unsatisfiable, 0, 0},
      {"bytes=2000-3000", range_request::unsatisfiable, 0, 0},
      {"bytes=-0", range_request::unsatisfiable, 0, 0},
      // The whole body: several ranges, another unit, nonsense.
      {"bytes=0-1,5-9", range_request::whole, 0, 0},
      {"items=0-9", range_request::whole, 0, 0},
      {"bytes=9-5", range_request::whole, 0, 0},
      {"bytes=a-b", range_request::whole, 0, 0},
      {"bytes=5", range_request::whole, 0, 0},
      {"bytes=-", range_request::whole, 0, 0},
      {"", range_request::whole, 0, 0},
  };
  for (const auto& x : rows) {
    const range_request r = parse_range(x.header, 1000);
    EXPECT_EQ(r.kind, x.kind) << x.header;
    if (x.kind == range_request::part) {
      EXPECT_EQ(r.first, x.first) << x.header;
      EXPECT_EQ(r.length, x.length) << x.header;
    }
  }
  EXPECT_EQ(parse_range("bytes=0-", 0).kind, range_request::unsatisfiable);
  EXPECT_EQ(parse_range("bytes=-1", 0).kind, range_request::unsatisfiable);
}

// -- validators ---------------------------------------------------------------

TEST(download_validators, http_dates_go_there_and_back) {
  EXPECT_EQ(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_FALSE(parse_http_date("yesterday"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT and more"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Abc 1994 08:49:37 GMT"));
}

TEST(download_validators, the_etag_names_the_job_size_and_mtime) {
  const file_identity f{1000, 1700000000123456789};
  const std::string tag = strong_etag("job", f, false);
  EXPECT_EQ(tag.front(), '"');
  EXPECT_EQ(tag.back(), '"');
  EXPECT_EQ(tag.rfind("\"job-", 0), 0u) << tag;
  EXPECT_EQ(strong_etag("job", f, true),
            tag.substr(0, tag.size() - 1) + "-gz\"");
  EXPECT_NE(strong_etag("job", {1001, f.mtime_ns}, false), tag);
  EXPECT_NE(strong_etag("job", {f.size, f.mtime_ns + 1}, false), tag);
  EXPECT_TRUE(none_match_hits(tag, tag));
  EXPECT_TRUE(none_match_hits("\"x\", " + tag, tag));
  EXPECT_TRUE(none_match_hits("W/" + tag, tag)); // the weak comparison
  EXPECT_TRUE(none_match_hits("*", tag));
  EXPECT_FALSE(none_match_hits("\"x\"", tag));
}

TEST(download_validators, gzip_is_taken_as_accept_encoding_says) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("deflate, gzip"));
  EXPECT_TRUE(accepts_gzip("gzip;q=0.5, br"));
  EXPECT_TRUE(accepts_gzip("GZIP"));
  EXPECT_TRUE(accepts_gzip("x-gzip"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_TRUE(accepts_gzip("gzip;q=0.001"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("gzip; q=0.000"));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("br, deflate"));
  EXPECT_FALSE(accepts_gzip("*, gzip;q=0")); // the named coding wins
  EXPECT_FALSE(accepts_gzip("*;q=0"));
}

// -- the plan -----------------------------------------------------------------

TEST(download_plan, the_whole_file_with_its_validators) {
  const file_identity f{1000, 1};
  const auto p = plan_download({}, f, "\"t\"", 784111777);
  EXPECT_EQ(p.status, http_status::ok);
  EXPECT_EQ(p.offset, 0u);
  EXPECT_EQ(p.length, 1000u);
  EXPECT_EQ(header_of(p, "Content-Length"), "1000");
  EXPECT_EQ(header_of(p, "Accept-Ranges"), "bytes");
  EXPECT_EQ(header_of(p, "ETag"), "\"t\"");
  EXPECT_EQ(header_of(p, "Last-Modified"), "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(download_plan, head_has_the_length_and_no_body_and_no_range) {
  download_request r;
  r.head_only = true;
  r.range = "bytes=0-9";
  const auto p = plan_download(r, {1000, 1}, "\"t\"", 0);
  EXPECT_EQ(p.status, http_status::ok);
  EXPECT_EQ(p.length, 0u);
  EXPECT_EQ(header_of(p, "Content-Length"), "1000");
}

TEST(download_plan, a_range_answers_206_and_a_range_past_the_end_416) {
  download_request r;
  r.range = "bytes=100-199";
  auto p = plan_download(r, {1000, 1}, "\"t\"", 0);
  EXPECT_EQ(p.status, http_status::partial_content);
  EXPECT_EQ(p.offset, 100u);
  EXPECT_EQ(p.length, 100u);
  EXPECT_EQ(header_of(p, "Content-Range"), "bytes 100-199/1000");
  EXPECT_EQ(header_of(p, "Content-Length"), "100");
  r.range = "bytes=1000-";
  p = plan_download(r, {1000, 1}, "\"t\"", 0);
  EXPECT_EQ(p.status, http_status::range_not_satisfiable);
  EXPECT_EQ(p.length, 0u);
  EXPECT_EQ(header_of(p, "Content-Range"), "bytes */1000");
}

TEST(download_plan, if_range_that_does_not_match_gets_the_whole_file) {
  download_request r;
  r.range = "bytes=100-199";
  r.if_range = "\"t\"";
  EXPECT_EQ(plan_download(r, {1000, 1}, "\"t\"", 0).status,
            http_status::partial_content);
  r.if_range = "\"other\"";
  EXPECT_EQ(plan_download(r, {1000, 1}, "\"t\"", 0).status, http_status::ok);
  r.if_range = "W/\"t\""; // a weak tag never matches If-Range
  EXPECT_EQ(plan_download(r, {1000, 1}, "\"t\"", 0).status, http_status::ok);
  r.if_range = "Sun, 06 Nov 1994 08:49:37 GMT";
  EXPECT_EQ(plan_download(r, {1000, 1}, "\"t\"", 784111777).status,
            http_status::partial_content);
  EXPECT_EQ(plan_download(r, {1000, 1}, "\"t\"", 784111778).status,
            http_status::ok);
}

TEST(download_plan, conditional_requests_get_304) {
  download_request r;
  r.if_none_match = "\"t\"";
  auto p = plan_download(r, {1000, 1}, "\"t\"", 100);
  EXPECT_EQ(p.status, http_status::not_modified);
  EXPECT_EQ(p.length, 0u);
  EXPECT_EQ(header_of(p, "ETag"), "\"t\"");
  EXPECT_EQ(header_of(p, "Content-Length"), "(none)");
  r.if_none_match = "\"old\"";
  EXPECT_EQ(plan_download(r, {1000, 1}, "\"t\"", 100).status, http_status::ok);
  // If-Modified-Since, only without If-None-Match (RFC 9110 §13.1.3).
  r.if_modified_since = http_date(100);
  EXPECT_EQ(plan_download(r, {1000, 1}, "\"t\"", 100).status, http_status::ok);
  r.if_none_match.reset();
  EXPECT_EQ(plan_download(r, {1000, 1}, "\"t\"", 100).status,
            http_status::not_modified);
  EXPECT_EQ(plan_download(r, {1000, 1}, "\"t\"", 101).status, http_status::ok);
  r.if_modified_since = "not a date";
  EXPECT_EQ(plan_download(r, {1000, 1}, "\"t\"", 100).status, http_status::ok);
}

// -- file names ---------------------------------------------------------------

TEST(file_names, an_upload_name_is_one_segment) {
  const auto ok = [](std::string_view encoded) {
    auto n = encoded_upload_name(encoded, "in the path");
    return std::holds_alternative<std::string>(n) ? std::get<std::string>(n)
                                                  : std::string("(refused)");
  };
  EXPECT_EQ(ok("plays.csv"), "plays.csv");
  EXPECT_EQ(ok("my%20plays.csv"), "my plays.csv");
  EXPECT_EQ(ok("%C3%A9t%C3%A9.csv"), "\xC3\xA9t\xC3\xA9.csv");
  EXPECT_EQ(ok("a..b.csv"), "a..b.csv");
  for (const char* bad : {"..", ".", "..%2Fetc", "a%2Fb", "a%5Cb", "%00x",
                          "%0a", "%zz", "a%2", ""})
    EXPECT_EQ(ok(bad), "(refused)") << bad;
  EXPECT_EQ(ok(std::string(256, 'a')), "(refused)");
  const auto e =
      std::get<api_error>(encoded_upload_name("..%2Fx", "in the path"));
  EXPECT_EQ(e.code, api_errc::bad_request);
  EXPECT_NE(e.message.find("in the path"), std::string::npos) << e.message;
}

TEST(file_names, content_disposition_gives_a_name) {
  EXPECT_EQ(disposition_filename("attachment; filename=\"x.csv\""), "x.csv");
  EXPECT_EQ(disposition_filename("attachment; filename=x.csv"), "x.csv");
  EXPECT_EQ(disposition_filename("inline;filename=\"a \\\"q\\\".csv\""),
            "a \"q\".csv");
  EXPECT_EQ(disposition_filename(
                "attachment; filename=\"e.csv\"; filename*=UTF-8''%C3%A9.csv"),
            "\xC3\xA9.csv");
  EXPECT_FALSE(disposition_filename("attachment"));
  EXPECT_FALSE(disposition_filename("attachment; name=\"x\""));
}

TEST(file_names, the_download_is_named_after_the_upload) {
  EXPECT_EQ(attachment_name("plays.csv", "id"), "plays-totals.csv");
  EXPECT_EQ(attachment_name("x.csv.gz", "id"), "x-totals.csv");
  EXPECT_EQ(attachment_name("x.CSV.zst", "id"), "x-totals.csv");
  EXPECT_EQ(attachment_name("plays", "id"), "plays-totals.csv");
  EXPECT_EQ(attachment_name("C:\\data\\plays.csv", "id"), "plays-totals.csv");
  EXPECT_EQ(attachment_name("", "id"), "id.csv");
  EXPECT_EQ(attachment_name(".csv", "id"), "id.csv");
  // Bytes that are not UTF-8, as the registry keeps them (`\xE9`): part of
  // the name, not path separators.
  EXPECT_EQ(attachment_name("caf\\xE9.csv", "id"), "caf\\xE9-totals.csv");
  EXPECT_EQ(attachment_name("C:\\xAB\\caf\\xE9.csv", "id"),
            "caf\\xE9-totals.csv");
  EXPECT_EQ(attachment_name("C:\\xab\\plays.csv", "id"), "plays-totals.csv");
}

TEST(file_names, a_form_file_name_keeps_255_bytes_and_whole_characters) {
  EXPECT_EQ(form_file_name("plays.csv"), "plays.csv");
  EXPECT_EQ(form_file_name(std::string(300, 'a')), std::string(255, 'a'));
  // "é" is 2 bytes: 254 bytes of them, not 255 with half of one.
  std::string e;
  for (int i = 0; i < 200; ++i)
    e += "\xC3\xA9";
  EXPECT_EQ(form_file_name(e), e.substr(0, 254));
  // "€" is 3 bytes, after one ASCII byte: 1 + 3 * 84 = 253.
  std::string euro = "x";
  for (int i = 0; i < 100; ++i)
    euro += "\xE2\x82\xAC";
  EXPECT_EQ(form_file_name(euro), euro.substr(0, 253));
  // A 4-byte character that would end at byte 256: left out whole.
  const std::string four = std::string(252, 'a') + "\xF0\x9F\x8E\xB5" + "b";
  EXPECT_EQ(form_file_name(four), std::string(252, 'a'));
}

TEST(file_names, content_disposition_quotes_safely) {
  EXPECT_EQ(content_disposition("plays-totals.csv"),
            "attachment; filename=\"plays-totals.csv\"");
  EXPECT_EQ(content_disposition("a\"b\\c%.csv"),
            "attachment; filename=\"a_b_c_.csv\"; "
            "filename*=UTF-8''a%22b%5Cc%25.csv");
  EXPECT_EQ(content_disposition("\xC3\xA9t\xC3\xA9 1.csv"),
            "attachment; filename=\"_t_ 1.csv\"; "
            "filename*=UTF-8''%C3%A9t%C3%A9%201.csv");
}

} // namespace
} // namespace playcount::http
