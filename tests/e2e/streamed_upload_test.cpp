// Uploads counted while they arrive (issue 13): a raw body or a form's file
// part is read by the job as it lands, so the job has started, and counted
// rows, before its last byte is sent.

#include "tests/support/api_client.hpp"
#include "tests/support/compressed.hpp"
#include "tests/support/count_alone.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proc_stat.hpp"
#include "tests/support/server_fixture.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <sys/resource.h>
#include <utility>
#include <vector>

namespace playcount {
namespace {

using namespace std::chrono_literals;
using test::json_of;
using test::str;

class streamed_upload_test : public test::served_test {
protected:
  // About 1 MB, cut into 64 KiB ranges by the server below.
  static std::string csv() {
    test::csv_shape shape;
    shape.rows = 40000;
    shape.songs = 3000;
    return test::make_csv(shape);
  }

  // About 3 MB: decoded, more than the 1 MiB the server buffers before
  // the job sees it, whatever of a compressed stream is held back.
  static std::string big_csv() {
    test::csv_shape shape;
    shape.rows = 100000;
    shape.songs = 3000;
    return test::make_csv(shape);
  }

  static std::string form_head(const std::string& boundary, size_t length) {
    return "POST /jobs/count/ HTTP/1.1\r\nContent-Type: multipart/form-data; "
           "boundary=" +
           boundary + "\r\nContent-Length: " + std::to_string(length) +
           "\r\n\r\n";
  }

  static std::string raw_head(const std::string& type, size_t length) {
    return "POST /jobs/count/ HTTP/1.1\r\nContent-Type: " + type +
           "\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
  }

  // The one job the server lists.
  static boost::json::object only_job(uint16_t port) {
    const auto list = json_of(test::http_get(port, "/jobs/"));
    const auto& jobs = list.at("jobs").as_array();
    return jobs.size() == 1 ? jobs[0].as_object() : boost::json::object{};
  }

  static uint64_t number(const boost::json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_int64() ? static_cast<uint64_t>(v->as_int64())
                                         : 0;
  }

  // Sends `head` and all of `body` but its last bytes, then waits until the
  // job is counting (started, uploading, rows read); then the rest. The
  // server's answer and the job as it was before the end.
  struct sent {
    test::http_response response;
    boost::json::object before_the_end;
  };
  sent send_held_back(uint16_t port, const std::string& head,
                      const std::string& body) {
    sent out;
    test::http_connection c(port);
    const size_t held = 100;
    EXPECT_TRUE(c.send(head + body.substr(0, body.size() - held)));
    const bool counting = test::eventually(
        [&] {
          out.before_the_end = only_job(port);
          return str(out.before_the_end, "state") == "started" &&
                 number(out.before_the_end, "rows") > 0;
        },
        10s);
    EXPECT_TRUE(counting) << "the job did not count before its upload ended: "
                          << boost::json::serialize(out.before_the_end);
    EXPECT_EQ(str(out.before_the_end, "phase"), "uploading");
    EXPECT_TRUE(c.send(body.substr(body.size() - held)));
    out.response = test::parse_response(c.read_all());
    return out;
  }
};

TEST_F(streamed_upload_test, a_raw_body_is_counted_before_its_last_byte) {
  auto s = start({"--test-range-size", "64K"});
  const std::string body = csv();
  const auto up =
      send_held_back(s->port(),
                     "POST /jobs/count/?filename=plays.csv HTTP/1.1\r\n"
                     "Content-Type: text/csv\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n",
                     body);
  ASSERT_EQ(up.response.status, 202) << up.response.raw;
  const std::string id = str(json_of(up.response), "jobId");
  EXPECT_EQ(str(up.before_the_end, "jobId"), id);
  EXPECT_LT(number(up.before_the_end, "bytesDone"), body.size());
  wait_for(s->port(), id, "finished");
  EXPECT_EQ(test::http_get(s->port(), "/jobs/" + id + "/result/").body,
            test::count_alone(binary, dir_, body));
  EXPECT_EQ(str(only_job(s->port()), "fileName"), "plays.csv");
}

// An upload counted as it arrives shares the cores with its count: the
// server's actor threads run 3 nicer than its HTTP threads, so that the
// upload goes first and the count catches up (app/nicer_threads.hpp).
TEST_F(streamed_upload_test, the_count_runs_nicer_than_what_receives_uploads) {
  auto s = start({});
  std::vector<std::pair<std::string, int>> seen;
  const auto has = [&](const std::string& prefix) {
    return std::any_of(seen.begin(), seen.end(), [&](const auto& t) {
      return t.first.rfind(prefix, 0) == 0;
    });
  };
  ASSERT_TRUE(test::eventually([&] {
    seen = test::thread_niceness(s->pid());
    return has("caf.actor") && has("playcount-http");
  })) << "no actor or HTTP thread seen";
  const int started = ::getpriority(PRIO_PROCESS, 0); // inherited
  for (const auto& [name, nice] : seen) {
    if (name.rfind("caf.", 0) == 0) {
      EXPECT_EQ(nice, std::min(started + 3, 19)) << name;
    } else if (name.rfind("playcount-http", 0) == 0) {
      EXPECT_EQ(nice, started) << name;
    }
  }
}

TEST_F(streamed_upload_test, a_form_file_is_counted_before_its_last_byte) {
  auto s = start({"--test-range-size", "64K"});
  const std::string boundary = "------------------------playcount0123456789";
  const std::string body =
      test::multipart_body(boundary, {{"file", csv(), "plays.csv"}});
  const auto up = send_held_back(
      s->port(),
      "POST /jobs/count/ HTTP/1.1\r\nContent-Type: multipart/form-data; "
      "boundary=" +
          boundary + "\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n\r\n",
      body);
  ASSERT_EQ(up.response.status, 202) << up.response.raw;
  const std::string id = str(json_of(up.response), "jobId");
  wait_for(s->port(), id, "finished");
  EXPECT_EQ(test::http_get(s->port(), "/jobs/" + id + "/result/").body,
            test::count_alone(binary, dir_, csv()));
}

TEST_F(streamed_upload_test,
       a_compressed_upload_is_decoded_and_counted_before_its_last_byte) {
  const std::string csv = big_csv();
  const std::string expected = test::count_alone(binary, dir_, csv);
  const std::string gz = test::gzip_member(csv, 1);
  const std::string zst = test::zstd_frame(csv, 1);
  const std::string boundary = "b0undary";
  struct way {
    std::string what;
    std::string head_and_body[2];
  };
  const auto form = [&](const std::string& file, const char* name) {
    return test::multipart_body(boundary, {{"file", file, name}});
  };
  const std::vector<way> ways = {
      {"a raw gzip body", {raw_head("application/gzip", gz.size()), gz}},
      {"a raw zstd body", {raw_head("application/zstd", zst.size()), zst}},
      {"a .gz form file",
       {form_head(boundary, form(gz, "plays.csv.gz").size()),
        form(gz, "plays.csv.gz")}},
      {"a .zst form file",
       {form_head(boundary, form(zst, "plays.csv.zst").size()),
        form(zst, "plays.csv.zst")}},
      {"a raw body with Content-Encoding: gzip",
       {"POST /jobs/count/ HTTP/1.1\r\nContent-Type: text/csv\r\n"
        "Content-Encoding: gzip\r\nContent-Length: " +
            std::to_string(gz.size()) + "\r\n\r\n",
        gz}},
  };
  auto s = start({"--test-range-size", "64K"});
  for (const auto& w : ways) {
    SCOPED_TRACE(w.what);
    const auto up =
        send_held_back(s->port(), w.head_and_body[0], w.head_and_body[1]);
    ASSERT_EQ(up.response.status, 202) << up.response.raw;
    const std::string id = str(json_of(up.response), "jobId");
    EXPECT_EQ(str(up.before_the_end, "jobId"), id);
    const auto done = wait_for(s->port(), id, "finished");
    EXPECT_EQ(number(done, "bytesTotal"), csv.size());
    EXPECT_EQ(test::http_get(s->port(), "/jobs/" + id + "/result/").body,
              expected);
    // The next one is the only job again.
    EXPECT_EQ(test::http_delete(s->port(), "/jobs/" + id + "/").status, 200);
  }
}

TEST_F(streamed_upload_test,
       a_stream_corrupt_in_the_middle_fails_its_job_with_where) {
  auto s = start({"--test-range-size", "64K"});
  // A whole gzip member (counted as it arrives), then bytes that are no
  // gzip member: corrupt at a byte known in advance.
  const std::string first = test::gzip_member(big_csv(), 1);
  const std::string body = first + std::string(4096, 'x');
  test::http_connection c(s->port());
  ASSERT_TRUE(c.send(raw_head("application/gzip", body.size()) + first));
  boost::json::object o;
  ASSERT_TRUE(test::eventually(
      [&] {
        o = only_job(s->port());
        return str(o, "state") == "started" && number(o, "rows") > 0;
      },
      10s))
      << boost::json::serialize(o);
  ASSERT_TRUE(c.send(body.substr(first.size())));
  const auto r = test::parse_response(c.read_all());
  const std::string where = "the gzip stream is corrupt at byte " +
                            std::to_string(first.size()) +
                            " (of the compressed input): not a gzip member";
  EXPECT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(str(json_of(r), "message").rfind(where, 0), 0u) << r.raw;
  const auto failed = wait_for(s->port(), str(o, "jobId"), "failed");
  EXPECT_NE(str(failed, "error").find(where), std::string::npos)
      << str(failed, "error");
  EXPECT_TRUE(only_cut_uploads_within(5s));
}

TEST_F(streamed_upload_test, a_bomb_fails_before_its_upload_ends) {
  // 16 MiB of zeros in a few KiB; 1 MiB may be decoded.
  const std::string zeros(16 << 20, '\0');
  const std::string gz = test::gzip_member(zeros, 1);
  const std::string form = test::multipart_body(
      "b0undary", {{"file", test::zstd_frame(zeros, 1), "plays.csv.zst"}});
  auto s = start({"--test-range-size", "64K", "--max-input-size", "1M"});
  for (const auto& [head, body] :
       {std::pair{raw_head("application/gzip", gz.size()), gz},
        std::pair{form_head("b0undary", form.size()), form}}) {
    // Most of it is sent; the answer comes without the rest.
    test::http_connection c(s->port());
    ASSERT_TRUE(c.send(head + body.substr(0, body.size() - 100)));
    const auto r = test::parse_response(c.read_all());
    EXPECT_EQ(r.status, 413) << r.raw;
    EXPECT_NE(str(json_of(r), "message")
                  .find("stream inflates past the limit of 1 MiB"),
              std::string::npos)
        << r.raw;
  }
  EXPECT_TRUE(only_cut_uploads_within(5s));
}

TEST_F(streamed_upload_test, on_bad_rows_after_the_file_runs_the_job_again) {
  auto s = start({"--test-range-size", "64K"});
  // A bad record early: counted as it arrives in fail mode, the job would
  // fail; the form then says skip, and the job runs again whole.
  std::string file = csv();
  file.insert(file.find('\n') + 1, "Umbrella,yesterday,1\n");
  const std::string boundary = "b0undary";
  const std::string body = test::multipart_body(
      boundary, {{"file", file, "plays.csv"}, {"on_bad_rows", "skip", ""}});
  test::http_connection c(s->port());
  ASSERT_TRUE(c.send("POST /jobs/count/ HTTP/1.1\r\nContent-Type: "
                     "multipart/form-data; boundary=" +
                     boundary + "\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body));
  const auto r = test::parse_response(c.read_all());
  ASSERT_EQ(r.status, 202) << r.raw;
  const std::string id = str(json_of(r), "jobId");
  const auto o = wait_for(s->port(), id, {"finished", "failed"});
  ASSERT_EQ(str(o, "state"), "finished") << boost::json::serialize(o);
  EXPECT_EQ(number(o, "badRows"), 1u);
  EXPECT_EQ(str(o, "onBadRows"), "skip");
}

TEST_F(streamed_upload_test,
       a_bad_record_fails_the_job_before_the_upload_ends) {
  auto s = start({"--test-range-size", "64K"});
  std::string body = csv();
  body.insert(body.find('\n') + 1, "Umbrella,yesterday,1\n");
  test::http_connection c(s->port());
  const size_t held = 100;
  ASSERT_TRUE(c.send("POST /jobs/count/ HTTP/1.1\r\nContent-Type: text/csv\r\n"
                     "Content-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" +
                     body.substr(0, body.size() - held)));
  boost::json::object o;
  EXPECT_TRUE(test::eventually(
      [&] {
        o = only_job(s->port());
        return str(o, "state") == "failed";
      },
      10s))
      << boost::json::serialize(o);
  EXPECT_EQ(str(o, "error").rfind("line 2: ", 0), 0u) << str(o, "error");
  // The client still gets its job, failed, when it has sent the rest.
  ASSERT_TRUE(c.send(body.substr(body.size() - held)));
  const auto r = test::parse_response(c.read_all());
  ASSERT_EQ(r.status, 202) << r.raw;
  EXPECT_EQ(str(json_of(r), "jobId"), str(o, "jobId"));
  EXPECT_EQ(str(wait_for(s->port(), str(o, "jobId"), "failed"), "state"),
            "failed");
}

TEST_F(streamed_upload_test, a_slow_upload_keeps_no_whole_job_waiting) {
  // One job at a time: the upload still arriving runs in a pool of its own,
  // so a job whose input is whole (a small gzip upload, whole before the
  // registry says there is room: never counted while it arrives) starts and
  // finishes meanwhile.
  auto s = start({"--test-range-size", "64K", "--max-running-jobs", "1"});
  const std::string body = csv();
  test::http_connection slow(s->port());
  ASSERT_TRUE(
      slow.send("POST /jobs/count/ HTTP/1.1\r\nContent-Type: text/csv\r\n"
                "Content-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" +
                body.substr(0, body.size() / 2)));
  boost::json::object uploading;
  ASSERT_TRUE(test::eventually(
      [&] {
        uploading = only_job(s->port());
        return str(uploading, "phase") == "uploading";
      },
      10s))
      << boost::json::serialize(uploading);
  const std::string small = "Song,Date,Number of Plays\na,2020-01-01,2\n";
  const auto r =
      test::upload_file(s->port(), test::gzip_member(small), "small.csv.gz");
  ASSERT_EQ(r.status, 202) << r.raw;
  const std::string whole = str(json_of(r), "jobId");
  wait_for(s->port(), whole, "finished");
  EXPECT_EQ(str(test::job(s->port(), str(uploading, "jobId")), "state"),
            "started")
      << "the slow upload ended meanwhile: the test proves nothing";
  ASSERT_TRUE(slow.send(body.substr(body.size() / 2)));
  const auto done = test::parse_response(slow.read_all());
  ASSERT_EQ(done.status, 202) << done.raw;
  wait_for(s->port(), str(uploading, "jobId"), "finished");
}

} // namespace
} // namespace playcount
