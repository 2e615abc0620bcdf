// Uploads counted while they arrive (issue 13): a raw body or a form's file
// part is read by the job as it lands, so the job has started, and counted
// rows, before its last byte is sent.

#include "tests/support/api_client.hpp"
#include "tests/support/compressed.hpp"
#include "tests/support/count_alone.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_fixture.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

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
  // so a job whose input is whole (a gzip upload: decoded once whole, never
  // counted while it arrives) starts and finishes meanwhile.
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
