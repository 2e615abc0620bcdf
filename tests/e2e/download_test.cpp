// Downloads by the book and curl's way of uploading (issue 13, items 5 and
// 6), with curl itself against `playcount serve` on loopback: HEAD, Range and
// resuming with `curl -C -`, ETag and the conditional requests, gzip with
// `curl --compressed` (made once), `curl -T`, names of raw uploads, and a
// body sent to no endpoint.

#include "tests/support/csv_gen.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <string>
#include <vector>

namespace playcount {
namespace {

using test::json_of;
using test::read_file;
using test::str;

const std::string curl = "/usr/bin/curl";

class download_test : public test::served_test {
protected:
  // A result of about 1 MB: big enough for ranges, cuts and gzip to matter.
  static std::string big_csv() {
    test::csv_shape shape;
    shape.rows = 60000;
    shape.songs = 20000;
    shape.days = 30;
    return test::make_csv(shape);
  }

  std::string url(uint16_t port, const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }

  // Runs curl with `args`; its standard output.
  test::process_result curl_with(std::vector<std::string> args) {
    args.insert(args.begin(), {curl, "-sS"});
    return test::run(args);
  }

  // The job of a finished upload of `csv` (a form file named `name`).
  std::string finished_job(uint16_t port, const std::string& csv,
                           const std::string& name = "plays.csv") {
    const auto r = test::upload_file(port, csv, name);
    EXPECT_EQ(r.status, 202) << r.raw;
    const std::string id = str(json_of(r), "jobId");
    wait_for(port, id, "finished");
    return id;
  }

  std::string result_path(const std::string& id) const {
    return paths_for(data(), id).result;
  }
};

// A header's value in curl's -D/-I output (name in any case), or "".
std::string header_in(const std::string& head, const std::string& name) {
  std::string lower = head;
  for (char& ch : lower)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::string key = name + ":";
  for (char& ch : key)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const size_t at = lower.rfind("\n" + key);
  if (at == std::string::npos)
    return "";
  size_t start = at + 1 + key.size();
  while (start < head.size() && head[start] == ' ')
    ++start;
  const size_t end = head.find('\r', start);
  return head.substr(start, end - start);
}

// -- HEAD ---------------------------------------------------------------------

TEST_F(download_test, head_answers_with_the_headers_of_get_and_no_body) {
  auto s = start();
  const std::string id = finished_job(s->port(), big_csv());
  const std::string result = read_file(result_path(id));
  const std::string target = "/jobs/" + id + "/result/";
  const auto head = curl_with({"-I", url(s->port(), target)});
  ASSERT_EQ(head.exit_code, 0) << head.err;
  EXPECT_EQ(head.out.rfind("HTTP/1.1 200", 0), 0u) << head.out;
  EXPECT_EQ(header_in(head.out, "Content-Length"),
            std::to_string(result.size()));
  EXPECT_EQ(header_in(head.out, "Accept-Ranges"), "bytes");
  EXPECT_EQ(header_in(head.out, "Content-Type"), "text/csv");
  EXPECT_EQ(header_in(head.out, "Content-Disposition"),
            "attachment; filename=\"plays-totals.csv\"");
  EXPECT_EQ(header_in(head.out, "ETag").rfind("\"" + id + "-", 0), 0u)
      << head.out;
  EXPECT_NE(header_in(head.out, "Last-Modified").find(" GMT"),
            std::string::npos);
  // On the wire: no body after the head.
  const auto raw =
      test::http_exchange(s->port(), test::request_text("HEAD", target));
  EXPECT_EQ(raw.status, 200) << raw.raw;
  EXPECT_TRUE(raw.body.empty()) << raw.body.size();
  // The GET has the same headers, and the body.
  const auto get =
      curl_with({"-D", "-", "-o", "/dev/null", url(s->port(), target)});
  EXPECT_EQ(header_in(get.out, "ETag"), header_in(head.out, "ETag"));
  EXPECT_EQ(header_in(get.out, "Content-Length"),
            std::to_string(result.size()));
}

TEST_F(download_test, head_works_on_every_get_endpoint) {
  auto s = start();
  for (const char* target : {"/healthz", "/jobs/", "/admin/stats", "/"}) {
    const auto get = test::http_get(s->port(), target);
    const auto head =
        test::http_exchange(s->port(), test::request_text("HEAD", target));
    EXPECT_EQ(head.status, get.status) << target << "\n" << head.raw;
    EXPECT_TRUE(head.body.empty()) << target << "\n" << head.raw;
    if (std::string(target) != "/jobs/" &&
        std::string(target) != "/admin/stats")
      EXPECT_EQ(head.header("content-length"), std::to_string(get.body.size()))
          << target;
    else // their bodies change with the uptime: only a length is checked
      EXPECT_FALSE(head.header("content-length").empty()) << target;
  }
}

// -- Range --------------------------------------------------------------------

TEST_F(download_test, a_range_gives_those_bytes_and_past_the_end_416) {
  auto s = start();
  const std::string id = finished_job(s->port(), big_csv());
  const std::string result = read_file(result_path(id));
  ASSERT_GT(result.size(), 200000u);
  const std::string u = url(s->port(), "/jobs/" + id + "/result/");
  const std::string part = dir_.file("part");
  auto r = curl_with({"-r", "0-99", "-o", part, "-w", "%{http_code}", u});
  EXPECT_EQ(r.out, "206") << r.err;
  EXPECT_EQ(read_file(part), result.substr(0, 100));
  r = curl_with({"-r", "-50", "-o", part, "-D", "-", u});
  EXPECT_EQ(header_in(r.out, "Content-Range"),
            "bytes " + std::to_string(result.size() - 50) + "-" +
                std::to_string(result.size() - 1) + "/" +
                std::to_string(result.size()));
  EXPECT_EQ(read_file(part), result.substr(result.size() - 50));
  r = curl_with(
      {"-r", std::to_string(result.size()) + "-", "-o", part, "-D", "-", u});
  EXPECT_EQ(r.out.rfind("HTTP/1.1 416", 0), 0u) << r.out;
  EXPECT_EQ(header_in(r.out, "Content-Range"),
            "bytes */" + std::to_string(result.size()));
  // Several ranges: the whole body, 200.
  r = curl_with({"-r", "0-9,20-29", "-o", part, "-w", "%{http_code}", u});
  EXPECT_EQ(r.out, "200");
  EXPECT_EQ(read_file(part), result);
}

TEST_F(download_test, a_download_cut_half_way_resumes_with_curl_C) {
  auto s = start();
  const std::string id = finished_job(s->port(), big_csv());
  const std::string result = read_file(result_path(id));
  const std::string u = url(s->port(), "/jobs/" + id + "/result/");
  const std::string part = dir_.file("cut.csv");
  // The first half, as a download cut off there leaves it...
  const size_t half = result.size() / 2;
  auto r = curl_with({"-r", "0-" + std::to_string(half - 1), "-o", part, u});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(read_file(part).size(), half);
  // ...and curl picks up where the file ends.
  r = curl_with({"-C", "-", "-o", part, "-w", "%{http_code}", u});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "206");
  EXPECT_EQ(read_file(part), result);
}

TEST_F(download_test, a_download_the_client_drops_mid_way_resumes_with_curl_C) {
  auto s = start();
  const std::string id = finished_job(s->port(), big_csv());
  const std::string result = read_file(result_path(id));
  const std::string target = "/jobs/" + id + "/result/";
  // A client that goes away after about 100 KB of the body (curl's
  // --limit-rate lets a first burst of megabytes through: no cut). What it
  // got is what a download cut off by the network leaves on disk.
  std::string got;
  {
    test::http_connection c(s->port());
    ASSERT_TRUE(c.send(test::request_text("GET", target)));
    ASSERT_TRUE(c.read_until(got, "\r\n\r\n", std::chrono::seconds(10)));
    while (got.size() - got.find("\r\n\r\n") < 100000 &&
           c.read_some(got, std::chrono::seconds(10))) {
    }
  } // closed mid-way
  got.erase(0, got.find("\r\n\r\n") + 4);
  ASSERT_GE(got.size(), 100000u);
  ASSERT_LT(got.size(), result.size());
  ASSERT_EQ(got, result.substr(0, got.size()));
  const std::string part = dir_.write("cut-by-network.csv", got);
  const auto r = curl_with(
      {"-C", "-", "-o", part, "-w", "%{http_code}", url(s->port(), target)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "206");
  EXPECT_EQ(read_file(part), result);
}

// -- validators ---------------------------------------------------------------

TEST_F(download_test, if_none_match_and_if_modified_since_get_304) {
  auto s = start();
  const std::string id = finished_job(s->port(), big_csv());
  const std::string u = url(s->port(), "/jobs/" + id + "/result/");
  const auto head = curl_with({"-I", u});
  const std::string etag = header_in(head.out, "ETag");
  const std::string modified = header_in(head.out, "Last-Modified");
  ASSERT_FALSE(etag.empty()) << head.out;
  auto r = curl_with({"-H", "If-None-Match: " + etag, "-D", "-", u});
  EXPECT_EQ(r.out.rfind("HTTP/1.1 304", 0), 0u) << r.out;
  EXPECT_EQ(r.out.find("\r\n\r\n"), r.out.size() - 4) << "a body after 304";
  EXPECT_EQ(header_in(r.out, "ETag"), etag);
  r = curl_with({"-H", "If-None-Match: \"other\"", "-o", "/dev/null", "-w",
                 "%{http_code}", u});
  EXPECT_EQ(r.out, "200");
  r = curl_with({"-H", "If-Modified-Since: " + modified, "-o", "/dev/null",
                 "-w", "%{http_code}", u});
  EXPECT_EQ(r.out, "304");
  // If-Range with a tag that is not the file's: the whole file, 200.
  r = curl_with({"-r", "0-9", "-H", "If-Range: \"other\"", "-o", "/dev/null",
                 "-w", "%{http_code}", u});
  EXPECT_EQ(r.out, "200");
  r = curl_with({"-r", "0-9", "-H", "If-Range: " + etag, "-o", "/dev/null",
                 "-w", "%{http_code}", u});
  EXPECT_EQ(r.out, "206");
}

// -- gzip ---------------------------------------------------------------------

TEST_F(download_test, curl_compressed_gets_gzip_made_once_and_the_same_bytes) {
  auto s = start();
  const std::string id = finished_job(s->port(), big_csv());
  const std::string result = read_file(result_path(id));
  const std::string gz = result_path(id) + ".gz";
  const std::string u = url(s->port(), "/jobs/" + id + "/result/");
  const std::string out = dir_.file("got.csv");
  auto r = curl_with({"--compressed", "-D", "-", "-o", out, u});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(header_in(r.out, "Content-Encoding"), "gzip") << r.out;
  EXPECT_EQ(header_in(r.out, "Vary"), "Accept-Encoding");
  const std::string gz_tag = header_in(r.out, "ETag");
  EXPECT_EQ(gz_tag.substr(gz_tag.size() - 4), "-gz\"") << gz_tag;
  EXPECT_EQ(read_file(out), result);
  struct stat first {};
  ASSERT_EQ(::stat(gz.c_str(), &first), 0);
  EXPECT_LT(static_cast<size_t>(first.st_size), result.size());
  // Again: the same file is sent, not made anew.
  r = curl_with({"--compressed", "-o", out, u});
  EXPECT_EQ(read_file(out), result);
  struct stat second {};
  ASSERT_EQ(::stat(gz.c_str(), &second), 0);
  EXPECT_EQ(second.st_ino, first.st_ino);
  EXPECT_EQ(second.st_mtim.tv_sec, first.st_mtim.tv_sec);
  EXPECT_EQ(second.st_mtim.tv_nsec, first.st_mtim.tv_nsec);
  // A range of the gzip variant is of its bytes; HEAD tells its length.
  r = curl_with({"-H", "Accept-Encoding: gzip", "-r", "0-9", "-o", out, u});
  EXPECT_EQ(read_file(out), read_file(gz).substr(0, 10));
  r = curl_with({"-I", "-H", "Accept-Encoding: gzip", u});
  EXPECT_EQ(header_in(r.out, "Content-Length"), std::to_string(first.st_size));
  EXPECT_EQ(header_in(r.out, "Content-Encoding"), "gzip");
  // Who does not ask, or refuses it, gets the plain file.
  for (const std::vector<std::string>& ask :
       {std::vector<std::string>{},
        std::vector<std::string>{"-H", "Accept-Encoding: gzip;q=0"}}) {
    std::vector<std::string> args = ask;
    args.insert(args.end(), {"-D", "-", "-o", out, u});
    r = curl_with(args);
    EXPECT_EQ(header_in(r.out, "Content-Encoding"), "") << r.out;
    EXPECT_EQ(read_file(out), result);
  }
  // The variant goes with its job.
  EXPECT_EQ(test::http_delete(s->port(), "/jobs/" + id + "/").status, 200);
  EXPECT_TRUE(no_job_dirs_within(std::chrono::seconds(10)));
}

// -- curl's way of uploading --------------------------------------------------

TEST_F(download_test, curl_T_uploads_the_file_under_its_name) {
  auto s = start();
  const std::string csv = "Song,Date,Number of Plays\nA,2020-01-01,2\n"
                          "A,2020-01-01,3\n";
  const std::string file = dir_.write("my plays.csv", csv);
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, std::vector<std::string>{"-X", "POST"}}) {
    std::vector<std::string> args = {"-T", file};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(url(s->port(), "/jobs/count/"));
    const auto r = curl_with(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto body = boost::json::parse(r.out).as_object();
    const std::string id = str(body, "jobId");
    ASSERT_TRUE(is_job_id(id)) << r.out;
    const auto done = wait_for(s->port(), id, "finished");
    EXPECT_EQ(str(done, "fileName"), "my plays.csv");
    const auto got = curl_with({"-D", "-", "-o", "/dev/null",
                                url(s->port(), "/jobs/" + id + "/result/")});
    EXPECT_EQ(header_in(got.out, "Content-Disposition"),
              "attachment; filename=\"my plays-totals.csv\"");
  }
  const auto list = json_of(test::http_get(s->port(), "/jobs/"));
  EXPECT_NE(boost::json::serialize(list).find("\"fileName\":\"my plays.csv\""),
            std::string::npos);
}

TEST_F(download_test, a_raw_body_names_itself_by_query_or_content_disposition) {
  auto s = start();
  const std::string csv = "Song,Date,Number of Plays\nA,2020-01-01,2\n";
  auto r = test::upload_csv(s->port(), csv, "/jobs/count/?filename=q%20x.csv");
  ASSERT_EQ(r.status, 202) << r.raw;
  auto done = wait_for(s->port(), str(json_of(r), "jobId"), "finished");
  EXPECT_EQ(str(done, "fileName"), "q x.csv");
  r = test::http_exchange(
      s->port(), test::request_text(
                     "POST", "/jobs/count/",
                     {"Content-Type: text/csv",
                      "Content-Disposition: attachment; filename=\"d.csv\""},
                     csv));
  ASSERT_EQ(r.status, 202) << r.raw;
  done = wait_for(s->port(), str(json_of(r), "jobId"), "finished");
  EXPECT_EQ(str(done, "fileName"), "d.csv");
}

// A form file's name over 255 bytes is kept to its first 255, cut between
// UTF-8 characters: 200 "é" (400 bytes) keep 127 of them, and the download
// is named after those (a cut one showed as \xC3 and named it "xC3").
TEST_F(download_test, a_long_unicode_form_file_name_is_cut_between_characters) {
  auto s = start();
  const std::string csv = "Song,Date,Number of Plays\nA,2020-01-01,2\n";
  std::string e200, e127;
  for (int i = 0; i < 200; ++i)
    e200 += "\xC3\xA9";
  for (int i = 0; i < 127; ++i)
    e127 += "\xC3\xA9";
  const auto r = test::upload_file(s->port(), csv, e200 + ".csv");
  ASSERT_EQ(r.status, 202) << r.raw;
  const std::string id = str(json_of(r), "jobId");
  const auto done = wait_for(s->port(), id, "finished");
  EXPECT_EQ(str(done, "fileName"), e127);
  std::string encoded;
  for (int i = 0; i < 127; ++i)
    encoded += "%C3%A9";
  const auto got = test::http_get(s->port(), "/jobs/" + id + "/result/");
  EXPECT_EQ(got.header("content-disposition"),
            "attachment; filename=\"" + std::string(127, '_') +
                "-totals.csv\"; filename*=UTF-8''" + encoded + "-totals.csv");
}

// A name in Latin-1 (not UTF-8): the job shows the byte as \xE9, and the
// download keeps the whole name (it was named "xE9-totals.csv").
TEST_F(download_test, a_name_that_is_not_utf8_names_its_download_whole) {
  auto s = start();
  const std::string csv = "Song,Date,Number of Plays\nA,2020-01-01,2\n";
  const auto r = test::http_exchange(
      s->port(), test::request_text("PUT", "/jobs/count/caf%E9.csv", {}, csv));
  ASSERT_EQ(r.status, 202) << r.raw;
  const std::string id = str(json_of(r), "jobId");
  const auto done = wait_for(s->port(), id, "finished");
  EXPECT_EQ(str(done, "fileName"), "caf\\xE9.csv");
  const auto got = test::http_get(s->port(), "/jobs/" + id + "/result/");
  EXPECT_EQ(got.header("content-disposition"),
            "attachment; filename=\"caf_xE9-totals.csv\"; "
            "filename*=UTF-8''caf%5CxE9-totals.csv");
}

TEST_F(download_test, a_name_that_is_a_path_is_refused_with_400) {
  auto s = start();
  const std::string csv = "Song,Date,Number of Plays\nA,2020-01-01,2\n";
  for (const char* target :
       {"/jobs/count/..%2F..%2Fetc%2Fpasswd", "/jobs/count/..",
        "/jobs/count/a%5Cb.csv", "/jobs/count/?filename=..%2Fx.csv",
        "/jobs/count/x%00.csv"}) {
    const auto r = test::http_exchange(
        s->port(), test::request_text("PUT", target, {}, csv));
    EXPECT_EQ(r.status, 400) << target << "\n" << r.raw;
    EXPECT_NE(str(json_of(r), "message").find("file name"), std::string::npos)
        << r.body;
  }
  const auto r = test::http_exchange(
      s->port(),
      test::request_text("POST", "/jobs/count/",
                         {"Content-Type: text/csv",
                          "Content-Disposition: attachment; filename=\"../x\""},
                         csv));
  EXPECT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(job_dirs(), 0u);
}

TEST_F(download_test, a_body_sent_to_no_endpoint_gets_404_not_413) {
  auto s = start();
  const std::string big(1 << 20, 'x');
  auto r = test::http_exchange(s->port(),
                               test::request_text("POST", "/nope", {}, big));
  EXPECT_EQ(r.status, 404) << r.raw.substr(0, 300);
  EXPECT_NE(str(json_of(r), "message").find("no such endpoint"),
            std::string::npos);
  r = test::http_exchange(s->port(),
                          test::request_text("PUT", "/jobs/", {}, big));
  EXPECT_EQ(r.status, 405) << r.raw.substr(0, 300);
  EXPECT_EQ(r.header("allow"), "GET");
  // A small one too (Pistache reads it): the same 404.
  r = test::http_exchange(s->port(),
                          test::request_text("POST", "/nope", {}, "abc"));
  EXPECT_EQ(r.status, 404) << r.raw;
}

} // namespace
} // namespace playcount
