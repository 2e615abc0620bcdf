// `playcount serve` against clients that misbehave (issue: hardening, part
// 3) and against clients without the right token (part 6). Each hostile
// request gets a clear answer (JSON where the server writes it; Pistache's
// own bare 408 for timeouts), and after each the server still serves a
// normal upload.

#include "tests/support/csv_gen.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/proc_stat.hpp"
#include "tests/support/server_fixture.hpp"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <sys/resource.h>

namespace playcount {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using test::http_response;
using test::json_of;
using test::str;

const std::string small_csv = "Song,Date,Number of Plays\n"
                              "Umbrella,2020-01-02,3\n"
                              "Umbrella,2020-01-01,4\n";
const std::string small_result = "Song,Date,Total Number of Plays for Date\n"
                                 "Umbrella,2020-01-01,4\n"
                                 "Umbrella,2020-01-02,3\n";

std::string upload_head(const std::string& extra) {
  return "POST /jobs/count/ HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n" +
         extra + "\r\n";
}

std::string form(const std::string& content_type, const std::string& body) {
  return test::request_text("POST", "/jobs/count/",
                            {"Content-Type: " + content_type}, body);
}

class hostile_test : public test::served_test {
protected:
  /// The server still works: health, and an upload that finishes right.
  void still_serving(uint16_t port, const std::string& after) {
    const auto health = test::http_get(port, "/healthz");
    ASSERT_EQ(health.status, 200) << "after " << after;
    const auto r = test::upload_csv(port, small_csv);
    ASSERT_EQ(r.status, 202) << "after " << after << "\n" << r.raw;
    ids_.push_back(str(json_of(r), "jobId"));
  }

  void all_uploads_finished(uint16_t port) {
    for (const auto& id : ids_) {
      wait_for(port, id, "finished");
      EXPECT_EQ(test::http_get(port, "/jobs/" + id + "/result/").body,
                small_result);
    }
  }

  std::vector<std::string> ids_;
};

// -- one bad request at a time ------------------------------------------------

struct hostile_row {
  std::string what;
  std::string raw;
  int status;
  std::string message; ///< a piece of the JSON message ("" for text bodies)
};

TEST_F(hostile_test,
       each_malformed_request_gets_a_json_error_and_the_server_goes_on) {
  auto s = start();
  const std::string part =
      "Content-Disposition: form-data; name=\"file\"; "
      "filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\n" +
      small_csv;
  const std::string big(200 * 1024, 'h');
  const std::vector<hostile_row> rows = {
      // Content-Length
      {"a 25-digit Content-Length on the upload",
       upload_head("Content-Length: 9999999999999999999999999\r\n"), 413,
       "over the limit"},
      {"the largest 64-bit Content-Length on the upload",
       upload_head("Content-Length: 18446744073709551615\r\n"), 413,
       "over the limit"},
      {"a huge Content-Length on a GET",
       "GET /jobs/ HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
       413, "no body over 64 KiB"},
      {"a negative Content-Length on the upload",
       upload_head("Content-Length: -1\r\n") + "x", 400,
       "malformed Content-Length"},
      {"a negative Content-Length on a GET",
       "GET /jobs/ HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400,
       "malformed Content-Length"},
      {"a Content-Length with letters",
       upload_head("Content-Length: 12abc\r\n"), 400,
       "malformed Content-Length"},
      {"two different Content-Lengths",
       "GET /jobs/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: "
       "2\r\n\r\nab",
       400, "two different Content-Length"},
      {"Content-Length and chunked at once",
       upload_head("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n") +
           "0\r\n\r\n",
       400, "both Content-Length and Transfer-Encoding"},
      {"two Transfer-Encoding headers (chunked, gzip: not chunked last)",
       upload_head(
           "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n") +
           "0\r\n\r\n",
       400, "two Transfer-Encoding headers"},
      {"Transfer-Encoding: chunked twice",
       upload_head(
           "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n") +
           "0\r\n\r\n",
       400, "two Transfer-Encoding headers"},
      // request lines
      {"a garbage request line", "HELLO\r\n\r\n", 400,
       "not an HTTP/1.1 request line"},
      {"binary garbage (a TLS hello)",
       std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15),
       400, "not an HTTP/1.1 request line"},
      {"a request line without a version", "GET /healthz\r\n\r\n", 400,
       "not an HTTP/1.1 request line"},
      // bytes that are not UTF-8 come back escaped, in valid JSON
      {"a request line of bytes that are not UTF-8", "\xff\xfe\r\n\r\n", 400,
       "\\xFF\\xFE"},
      {"a method with a byte that is not UTF-8",
       "G\xff"
       "T /healthz HTTP/1.1\r\n\r\n",
       400, "G\\xFFT /healthz"},
      {"an HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505,
       "HTTP/2.0"},
      {"a header line without a colon",
       "GET /jobs/ HTTP/1.1\r\nno colon here\r\n\r\n", 400,
       "malformed request head"},
      {"an unknown method", "FOO /healthz HTTP/1.1\r\n\r\n", 501,
       "FOO is not implemented"},
      {"a method in lower case", "get /healthz HTTP/1.1\r\n\r\n", 501,
       "not implemented"},
      {"a known method the path does not take", "PATCH /jobs/ HTTP/1.1\r\n\r\n",
       405, "PATCH is not allowed"},
      // multipart
      {"multipart without a boundary",
       form("multipart/form-data", "--x\r\n" + part + "\r\n--x--\r\n"), 400,
       "boundary"},
      {"multipart with the wrong boundary",
       form("multipart/form-data; boundary=abc",
            "--xyz\r\n" + part + "\r\n--xyz--\r\n"),
       400, "multipart"},
      {"an unterminated part",
       form("multipart/form-data; boundary=abc", "--abc\r\n" + part), 400,
       "multipart"},
      {"two file parts",
       form("multipart/form-data; boundary=abc",
            "--abc\r\n" + part + "\r\n--abc\r\n" + part + "\r\n--abc--\r\n"),
       400, "multipart"},
      // heads
      {"a 200 KB header on a GET",
       "GET /healthz HTTP/1.1\r\nX-Big: " + big + "\r\n\r\n", 431,
       "over 64 KiB"},
      {"a 200 KB header on the upload",
       upload_head("Content-Length: 3\r\nX-Big: " + big + "\r\n") + "a,b", 431,
       "over 64 KiB"},
      {"2000 small headers",
       [] {
         std::string h = "GET /jobs/ HTTP/1.1\r\n";
         for (int i = 0; i < 2000; ++i)
           h +=
               "X-H" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
         return h + "\r\n";
       }(),
       431, "over 64 KiB"},
      // paths
      {"a path traversal in the job id",
       "GET /jobs/../../etc/passwd/ HTTP/1.1\r\n\r\n", 404, "no such endpoint"},
      {"an encoded path traversal",
       "GET /jobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd/ HTTP/1.1\r\n\r\n", 404,
       "Job not found."},
      {"an encoded traversal to a result",
       "GET /jobs/..%2F..%2F..%2Fetc%2Fpasswd/result/ HTTP/1.1\r\n\r\n", 404,
       ""},
      {"a traversal in DELETE", "DELETE /jobs/%2e%2e/ HTTP/1.1\r\n\r\n", 404,
       "Job not found."},
      {"a NUL in the path", std::string("GET /jobs/a\0b/ HTTP/1.1\r\n\r\n", 27),
       404, "Job not found."},
  };
  for (const auto& row : rows) {
    const http_response r = test::http_exchange(s->port(), row.raw);
    ASSERT_TRUE(r.received) << row.what << ": no answer";
    EXPECT_EQ(r.status, row.status) << row.what << "\n" << r.raw.substr(0, 400);
    if (!row.message.empty()) {
      EXPECT_EQ(r.header("content-type"), "application/json") << row.what;
      EXPECT_NE(str(json_of(r), "message").find(row.message), std::string::npos)
          << row.what << "\n"
          << r.body;
    } else {
      EXPECT_EQ(r.body, "Job not found.") << row.what;
    }
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << row.what;
    still_serving(s->port(), row.what);
  }
  all_uploads_finished(s->port());
  // Nothing of the refused uploads stayed: one directory per good upload.
  EXPECT_EQ(job_dirs(), ids_.size());
}

TEST_F(hostile_test, pipelined_requests_are_answered_in_order) {
  auto s = start();
  test::http_connection c(s->port());
  ASSERT_TRUE(c.send("GET /healthz HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"
                     "GET /nothing HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"
                     "GET /jobs/ HTTP/1.1\r\nConnection: keep-alive\r\n"
                     "Content-Length: 2\r\n\r\nab"
                     "GET /healthz HTTP/1.1\r\n\r\n"));
  std::string all;
  while (c.read_some(all, 3s)) {
  }
  std::vector<int> statuses;
  for (size_t at = all.find("HTTP/1.1 "); at != std::string::npos;
       at = all.find("HTTP/1.1 ", at + 1))
    statuses.push_back(std::atoi(all.c_str() + at + 9));
  EXPECT_EQ(statuses, (std::vector<int>{200, 404, 200, 200})) << all;
}

// -- clients that go away or take their time
// -----------------------------------

TEST_F(hostile_test,
       a_client_that_closes_before_its_body_ends_leaves_no_input) {
  auto s = start();
  const std::string form_head =
      "POST /jobs/count/ HTTP/1.1\r\nContent-Type: multipart/form-data; "
      "boundary=abc\r\nContent-Length: 100000\r\n\r\n--abc\r\n"
      "Content-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n"
      "\r\nSong,Date,Number of Plays\n";
  const std::vector<std::pair<std::string, std::string>> cuts = {
      {"a form cut short", form_head},
      {"a raw body cut short",
       upload_head("Content-Length: 5000000\r\n") + std::string(70000, 'x')},
      {"a chunked body cut mid-chunk",
       upload_head("Transfer-Encoding: chunked\r\n") + "1000\r\nabc"},
      {"a GET body cut short",
       "GET /jobs/ HTTP/1.1\r\nContent-Length: 1000\r\n\r\nabc"},
      {"a head cut short", "GET /jobs/ HTTP/1.1\r\nHost: x"},
  };
  for (const auto& [what, bytes] : cuts) {
    {
      test::http_connection c(s->port());
      ASSERT_TRUE(c.send(bytes)) << what;
      // The stimulus, not a wait: the server most likely reads the bytes
      // before the close, so the request is cut in the middle (if not, it
      // is cut before it began, which must leave nothing behind either).
      std::this_thread::sleep_for(50ms);
    } // closed here
    EXPECT_TRUE(only_cut_uploads_within(5s)) << what;
    still_serving(s->port(), what);
    all_uploads_finished(s->port());
    ids_.clear();
    // The finished job's directory: delete it, to count from zero again.
    for (const auto& entry :
         std::filesystem::directory_iterator(data() + "/jobs"))
      test::http_delete(s->port(),
                        "/jobs/" + entry.path().filename().string() + "/");
  }
  EXPECT_NE(s->log().find("aborted by the client"), std::string::npos);
}

/// Sends `head`, then `body` `step` bytes at a time every `every`, until the
/// server answers or closes; returns what it said and when.
struct trickle_result {
  http_response response;
  std::chrono::milliseconds answered_after{0};
  bool closed = false;
  size_t sent = 0;
};

trickle_result trickle(uint16_t port, const std::string& head,
                       const std::string& body, size_t step,
                       std::chrono::milliseconds every,
                       std::chrono::milliseconds limit = 10s) {
  trickle_result out;
  test::http_connection c(port);
  const auto start = std::chrono::steady_clock::now();
  c.send(head);
  std::string got;
  // Sends and reads in turns: the stimulus; `limit` only ends a server
  // that never answers.
  while (std::chrono::steady_clock::now() - start < test::scaled(limit) &&
         !test::http_connection::complete(got)) {
    if (out.sent < body.size() && c.send(body.substr(out.sent, step)))
      out.sent += std::min(step, body.size() - out.sent);
    c.read_some(got, every);
  }
  out.answered_after = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  out.response = test::parse_response(got);
  out.closed = c.closed_by_server(2s);
  return out;
}

TEST_F(hostile_test,
       a_body_trickled_below_the_minimum_rate_gets_408_and_is_closed) {
  // 10 bytes every 100 ms is 100 bytes/s, under the 1 KiB/s default: the
  // upload is cut at the idle timeout (1 s) although bytes keep coming.
  auto s = start({"--idle-timeout", "1s"});
  const auto up = trickle(s->port(), upload_head("Content-Length: 100000\r\n"),
                          std::string(100000, 'x'), 10, 100ms);
  EXPECT_EQ(up.response.status, 408) << up.response.raw;
  EXPECT_GE(up.answered_after, 900ms);
  EXPECT_LT(up.answered_after, test::scaled(4000ms));
  EXPECT_TRUE(up.closed) << "the connection stays open after the 408";
  EXPECT_TRUE(only_cut_uploads_within(3s));
  // A body of another endpoint, trickled: Pistache's own body timeout.
  const auto get =
      trickle(s->port(), "GET /jobs/ HTTP/1.1\r\nContent-Length: 1000\r\n\r\n",
              std::string(1000, 'x'), 1, 100ms);
  EXPECT_EQ(get.response.status, 408) << get.response.raw;
  EXPECT_TRUE(get.closed);
  // A head trickled a byte at a time (slowloris).
  const std::string slow_head =
      "GET /healthz HTTP/1.1\r\nX-Slow: " + std::string(200, 's');
  const auto head = trickle(s->port(), "", slow_head, 1, 50ms);
  EXPECT_EQ(head.response.status, 408) << head.response.raw;
  EXPECT_LT(head.sent, slow_head.size());
  EXPECT_TRUE(head.closed);
  still_serving(s->port(), "trickled requests");
  all_uploads_finished(s->port());
}

TEST_F(hostile_test, idle_connections_do_not_keep_others_out) {
  auto s = start({"--idle-timeout", "1s"});
  std::vector<std::unique_ptr<test::http_connection>> idle;
  for (int i = 0; i < 200; ++i) {
    idle.push_back(std::make_unique<test::http_connection>(s->port()));
    ASSERT_TRUE(idle.back()->connected()) << i;
    if (i % 2 == 0) // half of them with a partial head
      idle.back()->send("GET /jobs/ HTTP/1.1\r\n");
  }
  still_serving(s->port(), "200 idle connections");
  // At the idle timeout every one of them is closed.
  std::vector<bool> seen_closed(idle.size(), false);
  size_t closed = 0;
  EXPECT_TRUE(test::eventually(
      [&] {
        for (size_t i = 0; i < idle.size(); ++i)
          if (!seen_closed[i] && idle[i]->closed_by_server(2ms)) {
            seen_closed[i] = true;
            ++closed;
          }
        return closed == idle.size();
      },
      10s))
      << closed << " of " << idle.size() << " closed";
  all_uploads_finished(s->port());
}

// Issue 10, item 6: beyond --max-connections a client gets a JSON 503 with
// Retry-After at once, and a slot that frees up is taken again.
TEST_F(hostile_test,
       connections_beyond_max_connections_get_503_with_retry_after) {
  auto s = start({"--max-connections", "20"});
  std::vector<std::unique_ptr<test::http_connection>> idle;
  for (int i = 0; i < 20; ++i) {
    idle.push_back(std::make_unique<test::http_connection>(s->port()));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  // The acceptor takes connections in the order they came.
  http_response busy;
  EXPECT_TRUE(test::eventually([&] {
    busy = test::http_get(s->port(), "/healthz");
    return busy.status == 503;
  })) << busy.raw;
  EXPECT_EQ(busy.header("retry-after"), "1") << busy.raw;
  EXPECT_NE(str(json_of(busy), "message").find("too many connections"),
            std::string::npos)
      << busy.body;
  for (int i = 0; i < 5; ++i)
    idle[i]->close();
  EXPECT_TRUE(test::eventually(
      [&] { return test::http_get(s->port(), "/healthz").status == 200; }));
  EXPECT_NE(s->log().find("--max-connections reached"), std::string::npos);
}

// Issue 10, item 6: out of file descriptors the server neither spins nor
// leaves clients hanging: a spare descriptor answers them 503, and once
// connections close it serves again. Measured before the acceptor of our
// own (Pistache's alone, `ulimit -n 128`, 300 idle connections): 74 % of a
// core, /healthz without an answer even after 40 closed.
TEST_F(hostile_test, out_of_descriptors_it_answers_503_without_spinning) {
#ifdef PLAYCOUNT_SANITIZED
  // UBSan reads its suppressions file (tests/sanitizers/ubsan.supp) only at
  // the first report it suppresses, one from CAF's headers; when that comes
  // while the server is out of descriptors the runtime cannot open the file
  // and aborts the process ("failed to read suppressions file"), on a loaded
  // machine about one run in three. That is the sanitizer's, not ours: the
  // release build runs this test.
  GTEST_SKIP() << "not under sanitizers: UBSan opens its suppressions file "
                  "lazily and aborts when it cannot (no descriptors)";
#endif
  auto s = start({"--max-connections", "100000", "--workers", "1"});
  // Its limit is lowered now that it runs (it raised the soft limit to the
  // hard one at its start): 128 descriptors, of which it uses some 40.
  const rlimit low{128, 128};
  ASSERT_EQ(::prlimit(s->pid(), RLIMIT_NOFILE, &low, nullptr), 0)
      << std::strerror(errno);
  std::vector<std::unique_ptr<test::http_connection>> idle;
  for (int i = 0; i < 200; ++i) {
    idle.push_back(std::make_unique<test::http_connection>(s->port()));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  http_response refused;
  EXPECT_TRUE(test::eventually([&] {
    refused = test::http_get(s->port(), "/healthz");
    return refused.status == 503;
  })) << refused.raw;
  EXPECT_NE(str(json_of(refused), "message").find("out of file descriptors"),
            std::string::npos)
      << refused.raw;
  EXPECT_EQ(refused.header("retry-after"), "1");
  const double cpu = test::cpu_share(s->pid(), 1s);
  std::printf("out of descriptors, 200 idle connections: %.0f %% of a core\n",
              cpu * 100);
  EXPECT_LT(cpu, 0.5);
  for (int i = 0; i < 60; ++i)
    idle[i]->close();
  EXPECT_TRUE(test::eventually(
      [&] { return test::http_get(s->port(), "/healthz").status == 200; }));
  EXPECT_NE(s->log().find("Too many open files"), std::string::npos);
  // Let go of the rest, then a whole upload goes through.
  idle.clear();
  EXPECT_TRUE(test::eventually(
      [&] { return test::http_get(s->port(), "/healthz").status == 200; }));
  still_serving(s->port(), "descriptor exhaustion");
  all_uploads_finished(s->port());
}

// With one descriptor left the connection is accepted but the result
// cannot be opened: that is the server's shortage, not a broken result, so
// 503 with Retry-After as when the socket cannot be copied (it was 500
// "the result cannot be read: Too many open files").
TEST_F(hostile_test, a_result_that_cannot_be_opened_for_want_of_fds_is_503) {
#ifdef PLAYCOUNT_SANITIZED
  GTEST_SKIP() << "not under sanitizers: UBSan opens its suppressions file "
                  "lazily and aborts when it cannot (no descriptors)";
#endif
  auto s = start({"--workers", "1"});
  const auto up = test::upload_csv(s->port(), small_csv);
  ASSERT_EQ(up.status, 202) << up.raw;
  const std::string id = str(json_of(up), "jobId");
  wait_for(s->port(), id, "finished");
  const std::string target = "/jobs/" + id + "/result/";
  rlimit before{};
  ASSERT_EQ(::prlimit(s->pid(), RLIMIT_NOFILE, nullptr, &before), 0);
  // A soft limit at the second free descriptor number leaves one: the
  // accepted socket takes it. Only the soft limit: it is put back below.
  const auto one_left = [&] {
    std::set<int> open;
    const std::string fds = "/proc/" + std::to_string(s->pid()) + "/fd";
    for (const auto& e : std::filesystem::directory_iterator(fds))
      open.insert(std::stoi(e.path().filename().string()));
    int free_seen = 0;
    for (int fd = 0;; ++fd)
      if (open.count(fd) == 0 && ++free_seen == 2) {
        const rlimit low{static_cast<rlim_t>(fd), before.rlim_max};
        return ::prlimit(s->pid(), RLIMIT_NOFILE, &low, nullptr) == 0;
      }
  };
  // The server opens descriptors of its own now and then (its memory
  // sample, a timer): a request that met the acceptor's refusal instead is
  // tried again.
  http_response r;
  bool opened_none = false;
  for (int i = 0; i < 50 && !opened_none; ++i) {
    ASSERT_TRUE(one_left()) << std::strerror(errno);
    r = test::http_get(s->port(), target);
    ASSERT_NE(r.status, 500) << r.raw;
    opened_none =
        r.status == 503 && json_of(r).at("message").as_string().find(
                               "cannot be opened now") != std::string::npos;
  }
  ASSERT_TRUE(opened_none) << "never short of exactly the result's descriptor: "
                           << r.raw;
  EXPECT_NE(str(json_of(r), "message").find("Too many open files"),
            std::string::npos)
      << r.raw;
  EXPECT_EQ(r.header("retry-after"), "1");
  ASSERT_EQ(::prlimit(s->pid(), RLIMIT_NOFILE, &before, nullptr), 0);
  EXPECT_EQ(test::http_get(s->port(), target).body, small_result);
  still_serving(s->port(), "a result refused for want of descriptors");
  all_uploads_finished(s->port());
}

// -- access tokens (part 6) ---------------------------------------------------

class access_test : public test::served_test {
protected:
  void TearDown() override {
    ::unsetenv("PLAYCOUNT_API_TOKEN");
    ::unsetenv("PLAYCOUNT_ADMIN_TOKEN");
  }

  http_response get(uint16_t port, const std::string& target,
                    const std::string& token = {}) {
    return test::http_exchange(
        port, test::request_text("GET", target,
                                 token.empty()
                                     ? std::vector<std::string>{}
                                     : std::vector<std::string>{
                                           "Authorization: Bearer " + token}));
  }

  void expect_401(const http_response& r, const std::string& what) {
    EXPECT_EQ(r.status, 401) << what << "\n" << r.raw.substr(0, 400);
    EXPECT_EQ(r.header("content-type"), "application/json") << what;
    EXPECT_EQ(r.header("www-authenticate").rfind("Bearer", 0), 0u)
        << what << "\n"
        << r.raw.substr(0, 400);
    EXPECT_FALSE(str(json_of(r), "message").empty()) << what;
  }
};

const std::string api_token = "api-7f3c9e1d2b4a6085";
const std::string admin_token = "adm-0c8e5a7b9d1f3e24";

TEST_F(access_test, with_an_api_token_every_endpoint_but_healthz_needs_it) {
  auto s = start({"--api-token", api_token});
  const uint16_t port = s->port();
  const std::string id =
      submit(port, small_csv, {"Authorization: Bearer " + api_token});
  token_ = api_token;
  wait_for(port, id, "finished");
  token_.clear();
  const std::vector<std::string> gets = {"/jobs/", "/jobs/" + id + "/",
                                         "/jobs/" + id + "/result/",
                                         "/admin/stats", "/nothing/here"};
  for (const auto& target : gets) {
    expect_401(get(port, target), "GET " + target);
    expect_401(get(port, target, "wrong-token"), "GET " + target + " wrong");
    expect_401(get(port, target, api_token + "x"), "GET " + target + " longer");
    expect_401(
        test::http_exchange(
            port, test::request_text("GET", target,
                                     {"Authorization: Basic " + api_token})),
        "GET " + target + " Basic");
  }
  EXPECT_EQ(get(port, "/jobs/", api_token).status, 200);
  EXPECT_EQ(get(port, "/admin/stats", api_token).status, 200);
  const auto result = get(port, "/jobs/" + id + "/result/", api_token);
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, small_result);
  EXPECT_EQ(get(port, "/nothing/here", api_token).status, 404);
  // Open: health.
  EXPECT_EQ(get(port, "/healthz").status, 200);
  // DELETE and the upload, without and with the token.
  expect_401(test::http_delete(port, "/jobs/" + id + "/"), "DELETE");
  EXPECT_EQ(test::http_get(port, "/jobs/" + id + "/").status, 401);
  expect_401(test::upload_csv(port, small_csv), "upload");
  expect_401(test::upload_file(port, small_csv), "form upload");
  EXPECT_EQ(
      test::http_exchange(
          port, test::request_text("DELETE", "/jobs/" + id + "/",
                                   {"Authorization: Bearer " + api_token}))
          .status,
      200);
  EXPECT_EQ(job_dirs(), 0u);
}

TEST_F(access_test, an_upload_without_the_token_is_refused_before_its_body) {
  ::setenv("PLAYCOUNT_API_TOKEN", api_token.c_str(), 1);
  auto s = start();
  test::http_connection c(s->port());
  ASSERT_TRUE(c.send(upload_head("Content-Length: 5000000\r\n"
                                 "Expect: 100-continue\r\n")));
  const auto r = test::parse_response(c.read_all(3s));
  expect_401(r, "upload with Expect");
  EXPECT_EQ(r.raw.find("100 Continue"), std::string::npos);
  EXPECT_EQ(job_dirs(), 0u);
  // A request behind an open one on the same connection is checked too.
  test::http_connection p(s->port());
  ASSERT_TRUE(
      p.send("GET /healthz HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"
             "GET /admin/stats HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"));
  std::string all;
  while (p.read_some(all, 2s)) {
  }
  EXPECT_NE(all.find("HTTP/1.1 200"), std::string::npos) << all;
  EXPECT_NE(all.find("HTTP/1.1 401"), std::string::npos) << all;
  EXPECT_EQ(all.find("\"workers\""), std::string::npos) << all;
}

TEST_F(access_test, the_admin_token_guards_admin_and_opens_the_rest) {
  ::setenv("PLAYCOUNT_ADMIN_TOKEN", admin_token.c_str(), 1);
  auto s = start({"--api-token", api_token});
  const uint16_t port = s->port();
  expect_401(get(port, "/admin/stats"), "admin without a token");
  expect_401(get(port, "/admin/stats", api_token), "admin with the API token");
  const auto stats = get(port, "/admin/stats", admin_token);
  EXPECT_EQ(stats.status, 200) << stats.raw;
  EXPECT_TRUE(json_of(stats).contains("workers"));
  EXPECT_EQ(get(port, "/jobs/", admin_token).status, 200);
  EXPECT_EQ(get(port, "/jobs/", api_token).status, 200);
  expect_401(get(port, "/jobs/"), "jobs without a token");
}

TEST_F(access_test, an_admin_token_alone_leaves_the_api_open) {
  auto s = start({"--admin-token", admin_token});
  EXPECT_EQ(get(s->port(), "/jobs/").status, 200);
  expect_401(get(s->port(), "/admin/stats"), "admin");
  EXPECT_EQ(get(s->port(), "/admin/stats", admin_token).status, 200);
}

TEST_F(access_test, tokens_never_reach_the_log) {
  ::setenv("PLAYCOUNT_ADMIN_TOKEN", admin_token.c_str(), 1);
  auto s = start({"--api-token", api_token, "--log-level", "debug"});
  const uint16_t port = s->port();
  submit(port, small_csv, {"Authorization: Bearer " + api_token});
  get(port, "/jobs/", api_token);
  get(port, "/jobs/", "a-wrong-guess-123");
  get(port, "/admin/stats", admin_token);
  get(port, "/admin/stats", api_token);
  EXPECT_EQ(s->stop(), 0);
  const std::string log = s->log();
  EXPECT_NE(log.find("GET /jobs/ 401"), std::string::npos) << log;
  EXPECT_NE(log.find("GET /admin/stats 200"), std::string::npos) << log;
  EXPECT_NE(log.find("an API token and an admin token"), std::string::npos)
      << log;
  for (const std::string& secret :
       {api_token, admin_token, std::string("a-wrong-guess-123")})
    EXPECT_EQ(log.find(secret), std::string::npos) << secret << "\n" << log;
}

TEST_F(access_test, an_empty_token_option_is_refused) {
  const auto r = test::run({binary, "serve", "--api-token", "", "--port", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("must not be empty"), std::string::npos) << r.err;
}

} // namespace
} // namespace playcount
