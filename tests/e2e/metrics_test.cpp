// GET /metrics and the web pages of a running `playcount serve`, over
// loopback HTTP: a scrape before and after a job must show the job;
// `promtool check metrics` and a real Prometheus server on loopback read
// it; and the log lines for journald and machines.

#include "tests/support/api_client.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cctype>
#include <map>
#include <netinet/in.h>
#include <optional>
#include <regex>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>

namespace playcount {
namespace {

/// The samples of a scrape: "name{labels}" -> value.
std::map<std::string, double> scrape(uint16_t port) {
  const auto r = test::http_get(port, "/metrics");
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.header("content-type"),
            "text/plain; version=0.0.4; charset=utf-8");
  std::map<std::string, double> out;
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    const size_t space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

double at(const std::map<std::string, double>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

class metrics_e2e : public test::served_test {
protected:
  void SetUp() override {
    server_ = start({"--test-range-size", "4K"});
    ASSERT_NE(server_->port(), 0) << server_->log();
  }

  std::unique_ptr<test::server_process> server_;
};

TEST_F(metrics_e2e,
       a_job_shows_in_the_jobs_bytes_rows_ranges_uploads_and_latencies) {
  const uint16_t port = server_->port();
  const auto before = scrape(port);
  EXPECT_EQ(at(before, "playcount_up"), 1);
  EXPECT_EQ(at(before, R"(playcount_nodes{state="up"})"), 1);
  EXPECT_EQ(at(before, R"(playcount_workers{state="idle"})"), 2);
  EXPECT_GT(at(before, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(at(before, "process_open_fds"), 3);
  EXPECT_GT(at(before, "process_max_fds"), at(before, "process_open_fds"));
  EXPECT_GT(at(before, "process_start_time_seconds"), 1.7e9);
  EXPECT_EQ(at(before, R"(playcount_node_up{node="local"})"), 1);
  EXPECT_EQ(at(before, R"(playcount_node_workers{node="local"})"), 2);
  EXPECT_EQ(at(before, R"(playcount_jobs_ended_total{outcome="finished"})"), 0);

  test::csv_shape shape;
  shape.rows = 2000;
  const std::string csv = test::make_csv(shape);
  const std::string id = test::submit(port, csv);
  ASSERT_FALSE(id.empty());
  const auto job = test::wait_for_state(port, id, "finished");
  const auto after = scrape(port);

  EXPECT_EQ(at(after, R"(playcount_jobs{state="finished"})"),
            at(before, R"(playcount_jobs{state="finished"})") + 1);
  EXPECT_EQ(at(after, R"(playcount_jobs_ended_total{outcome="finished"})"), 1);
  EXPECT_EQ(at(after, R"(playcount_jobs_ended_total{outcome="failed"})"), 0);
  EXPECT_EQ(
      at(after, R"(playcount_job_duration_seconds_count{outcome="finished"})"),
      1);
  EXPECT_EQ(
      at(after,
         R"(playcount_job_duration_seconds_bucket{outcome="finished",le="+Inf"})"),
      1);
  EXPECT_EQ(at(after, "playcount_job_queue_wait_seconds_count"), 1);
  // The ranges cover the records, not the header.
  EXPECT_EQ(job.at("bytesTotal").to_number<double>(), csv.size());
  const double data_bytes =
      static_cast<double>(csv.size() - csv.find('\n') - 1);
  EXPECT_EQ(at(after, "playcount_read_bytes_total"),
            at(before, "playcount_read_bytes_total") + data_bytes);
  EXPECT_EQ(at(after, "playcount_read_rows_total"),
            at(before, "playcount_read_rows_total") + shape.rows);
  // 4 KiB ranges: the file is many of them.
  EXPECT_GE(at(after, "playcount_ranges_dispatched_total"),
            at(before, "playcount_ranges_dispatched_total") +
                data_bytes / 4096);
  EXPECT_EQ(at(after, "playcount_ranges_redispatched_total"), 0);
  // One node read it all: the server's own.
  EXPECT_EQ(at(after, R"(playcount_node_read_bytes_total{node="local"})"),
            at(after, "playcount_read_bytes_total"));
  EXPECT_EQ(at(after, R"(playcount_node_ranges_total{node="local"})"),
            at(after, "playcount_ranges_dispatched_total"));
  // GET /admin/stats has the same totals.
  const auto totals = test::admin_stats(port).at("totals").as_object();
  EXPECT_EQ(totals.at("bytesRead").to_number<double>(),
            at(after, "playcount_read_bytes_total"));
  EXPECT_EQ(totals.at("rowsRead").to_number<double>(),
            at(after, "playcount_read_rows_total"));
  EXPECT_GE(at(after, "playcount_upload_bytes_total"),
            at(before, "playcount_upload_bytes_total") + csv.size());
  const std::string upload = R"({endpoint="upload"})";
  EXPECT_EQ(
      at(after,
         R"(playcount_http_responses_total{route="/jobs/count/",code="202"})"),
      1);
  EXPECT_EQ(
      at(after,
         R"(playcount_http_responses_total{route="/metrics",code="200"})"),
      1);
  EXPECT_EQ(at(after, "playcount_http_request_duration_seconds_count" + upload),
            1);
  EXPECT_EQ(
      at(after,
         R"(playcount_http_request_duration_seconds_bucket{endpoint="upload",le="+Inf"})"),
      1);
  EXPECT_GT(at(after, "playcount_http_request_duration_seconds_sum" + upload),
            0);
  // The polls of wait_for_state, and the first scrape.
  EXPECT_GE(
      at(after,
         R"(playcount_http_request_duration_seconds_count{endpoint="job"})"),
      1);
  EXPECT_EQ(
      at(after,
         R"(playcount_http_request_duration_seconds_count{endpoint="metrics"})"),
      1);
}

TEST_F(metrics_e2e, the_web_pages_are_served_from_the_binary) {
  const uint16_t port = server_->port();
  const std::vector<std::tuple<std::string, std::string, std::string>> rows = {
      {"/", "text/html; charset=utf-8", "<progress"},
      {"/admin", "text/html; charset=utf-8", "/web/admin.js"},
      {"/admin/", "text/html; charset=utf-8", "/web/admin.js"},
      {"/web/app.js", "text/javascript; charset=utf-8", "/jobs/count/"},
      {"/web/style.css", "text/css; charset=utf-8", "progress"},
  };
  for (const auto& [path, type, part] : rows) {
    const auto r = test::http_get(port, path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.raw.substr(0, 300);
    EXPECT_EQ(r.header("content-type"), type) << path;
    EXPECT_NE(r.body.find(part), std::string::npos) << path;
    EXPECT_NE(r.header("content-security-policy").find("default-src 'self'"),
              std::string::npos)
        << path;
  }
  EXPECT_EQ(test::http_get(port, "/web/missing.js").status, 404);
  EXPECT_EQ(test::http_get(port, "/web/../CMakeLists.txt").status, 404);
  // The API is where it was.
  EXPECT_EQ(test::http_get(port, "/admin/stats").status, 200);
  EXPECT_EQ(test::http_get(port, "/healthz").body, "ok");
}

// The samples of `text` must be what promtool, Prometheus's own linter,
// takes without a word.
void expect_promtool_clean(const test::temp_dir& dir, const std::string& text) {
  const std::string file = dir.write("scrape.txt", text);
  const auto r =
      test::run({"/bin/sh", "-c",
                 "command -v promtool >/dev/null || { echo 'no promtool: "
                 "apt-get install prometheus (make test-deps)'; exit "
                 "127; }; promtool check metrics < " +
                     file + " 2>&1"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "") << r.out;
}

TEST_F(metrics_e2e, promtool_finds_nothing_to_say_of_a_real_scrape) {
  const uint16_t port = server_->port();
  // Every kind of series: a job ended, and responses of several codes.
  const std::string id = test::submit(port, test::make_csv({}));
  ASSERT_FALSE(id.empty());
  test::wait_for_state(port, id, "finished");
  EXPECT_EQ(test::http_get(port, "/nothing").status, 404);
  EXPECT_EQ(test::http_delete(port, "/metrics").status, 405);
  const auto r = test::http_get(port, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(
      r.body.find(
          R"(playcount_http_responses_total{route="unmatched",code="404"} 1)"),
      std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(R"(playcount_build_info{version=")"),
            std::string::npos);
  test::temp_dir dir;
  expect_promtool_clean(dir, r.body);
}

TEST(metrics_docs, the_alerting_rules_in_the_docs_pass_promtool) {
  const std::string doc = test::read_file(std::string(PLAYCOUNT_SOURCE_DIR) +
                                          "/docs/operations.md");
  const size_t section = doc.find("### Alerting rules");
  ASSERT_NE(section, std::string::npos);
  const size_t start = doc.find("```yaml\n", section);
  ASSERT_NE(start, std::string::npos);
  const size_t end = doc.find("```\n", start + 8);
  ASSERT_NE(end, std::string::npos);
  test::temp_dir dir;
  const std::string rules =
      dir.write("rules.yml", doc.substr(start + 8, end - start - 8));
  const auto r =
      test::run({"/bin/sh", "-c", "promtool check rules " + rules + " 2>&1"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("SUCCESS: 7 rules found"), std::string::npos) << r.out;
}

TEST_F(metrics_e2e, probes_are_logged_at_debug_other_requests_at_info) {
  const uint16_t port = server_->port();
  EXPECT_EQ(test::http_get(port, "/healthz").status, 200);
  EXPECT_EQ(test::http_get(port, "/metrics").status, 200);
  EXPECT_EQ(test::http_get(port, "/jobs/").status, 200);
  // The last one logged: the probes before it would be too by now.
  EXPECT_TRUE(test::eventually([&] {
    return server_->log().find("GET /jobs/ 200") != std::string::npos;
  })) << server_->log();
  EXPECT_EQ(server_->log().find("GET /healthz"), std::string::npos)
      << server_->log();
  EXPECT_EQ(server_->log().find("GET /metrics"), std::string::npos)
      << server_->log();
}

// A free port on loopback, for a child that cannot be told to pick one.
uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

std::string url_encoded(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

// The value of an instant query through Prometheus's HTTP API, when it has
// exactly one series.
std::optional<double> prometheus_value(uint16_t port,
                                       const std::string& query) {
  const auto r = test::http_exchange(
      port,
      test::request_text("GET", "/api/v1/query?query=" + url_encoded(query),
                         {"Connection: close"}));
  if (r.status != 200)
    return std::nullopt;
  boost::system::error_code ec;
  const auto v = boost::json::parse(r.body, ec);
  if (ec || !v.is_object())
    return std::nullopt;
  const auto* data = v.as_object().if_contains("data");
  const auto* result = data != nullptr && data->is_object()
                           ? data->as_object().if_contains("result")
                           : nullptr;
  if (result == nullptr || !result->is_array() ||
      result->as_array().size() != 1)
    return std::nullopt;
  const auto& value = result->as_array()[0].as_object().at("value").as_array();
  return std::stod(std::string(value.at(1).as_string()));
}

TEST_F(metrics_e2e, a_real_prometheus_scrapes_it_and_computes_rates) {
  const uint16_t port = server_->port();
  const std::string id = test::submit(port, test::make_csv({}));
  ASSERT_FALSE(id.empty());
  test::wait_for_state(port, id, "finished");

  test::temp_dir dir;
  const uint16_t prometheus_port = free_port();
  ASSERT_NE(prometheus_port, 0);
  const std::string config = dir.write(
      "prometheus.yml",
      "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      "scrape_configs:\n  - job_name: playcount\n    static_configs:\n"
      "      - targets: ['127.0.0.1:" +
          std::to_string(port) + "']\n");
  test::child_process prometheus(
      {"/usr/bin/prometheus", "--config.file=" + config,
       "--storage.tsdb.path=" + dir.file("tsdb"),
       "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
      dir.file("prometheus.log"));
  ASSERT_TRUE(prometheus.running()) << "no /usr/bin/prometheus? apt-get "
                                       "install prometheus (make test-deps)";

  // Its own scrapes are answered responses: a rate once it has two.
  std::optional<double> rate;
  std::optional<double> ended;
  EXPECT_TRUE(test::eventually(
      [&] {
        rate = prometheus_value(
            prometheus_port,
            R"(sum(rate(playcount_http_responses_total{route="/metrics",code="200"}[10s])))");
        ended = prometheus_value(
            prometheus_port,
            R"(playcount_jobs_ended_total{job="playcount",outcome="finished"})");
        return rate && *rate > 0 && ended;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(250)))
      << prometheus.log();
  EXPECT_GT(rate.value_or(0), 0.2) << "about one scrape a second";
  EXPECT_EQ(ended.value_or(0), 1);
  EXPECT_EQ(
      prometheus_value(prometheus_port, R"(up{job="playcount"})").value_or(0),
      1);
}

// Starts a server with `args` and stderr in `log` (made first, so that its
// device and inode can be given in `env`).
std::unique_ptr<test::server_process>
start_logging_server(const test::temp_dir& dir, const std::string& log,
                     std::vector<std::string> args,
                     const std::vector<std::string>& env = {}) {
  args.insert(args.end(), {"--workers", "1", "--data-dir", dir.file("data")});
  return std::make_unique<test::server_process>(PLAYCOUNT_BINARY, args, log,
                                                env);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

TEST(logs_e2e, json_logs_are_one_object_a_line_with_job_and_request_fields) {
  test::temp_dir dir;
  auto server = start_logging_server(dir, dir.file("server.log"),
                                     {"--log-format", "json"});
  const uint16_t port = server->port();
  ASSERT_NE(port, 0) << server->log();
  const std::string id = test::submit(port, test::make_csv({}));
  ASSERT_FALSE(id.empty());
  test::wait_for_state(port, id, "finished");
  ASSERT_TRUE(test::eventually([&] {
    return server->log().find(" finished in ") != std::string::npos;
  })) << server->log();
  bool request = false;
  bool job = false;
  for (const std::string& line : lines_of(server->log())) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(line, ec);
    ASSERT_FALSE(ec) << line;
    ASSERT_TRUE(v.is_object()) << line;
    const auto& o = v.as_object();
    EXPECT_TRUE(o.contains("time") && o.contains("level") &&
                o.contains("message"))
        << line;
    if (const auto* method = o.if_contains("method");
        method != nullptr && method->as_string() == "POST") {
      request = true;
      EXPECT_EQ(o.at("target").as_string(), "/jobs/count/");
      EXPECT_EQ(o.at("status").as_int64(), 202);
      EXPECT_GT(o.at("duration_ms").to_number<double>(), 0);
    }
    if (const auto* job_id = o.if_contains("job_id"); job_id != nullptr) {
      job = true;
      EXPECT_EQ(job_id->as_string(), id) << line;
    }
  }
  EXPECT_TRUE(request) << server->log();
  EXPECT_TRUE(job) << server->log();
  // A format it does not know is a usage error.
  const auto bad =
      test::run({PLAYCOUNT_BINARY, "serve", "--log-format", "xml"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--log-format is text or json"), std::string::npos)
      << bad.err;
}

TEST(logs_e2e, under_journald_lines_carry_a_priority_and_no_time) {
  test::temp_dir dir;
  const std::string log = dir.write("server.log", "");
  struct stat st {};
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  auto server =
      start_logging_server(dir, log, {"--log-level", "debug"},
                           {"JOURNAL_STREAM=" + std::to_string(st.st_dev) +
                            ":" + std::to_string(st.st_ino)});
  const uint16_t port = server->port();
  ASSERT_NE(port, 0) << server->log();
  EXPECT_EQ(test::http_get(port, "/healthz").status, 200);
  EXPECT_EQ(test::http_get(port, "/nothing").status, 404);
  ASSERT_TRUE(test::eventually([&] {
    return server->log().find("GET /nothing 404") != std::string::npos;
  })) << server->log();
  const std::regex line_format(
      R"(<[0-7]>(debug|info|warning|error|critical) .+)");
  for (const std::string& line : lines_of(server->log()))
    EXPECT_TRUE(std::regex_match(line, line_format)) << line;
  const std::string text = server->log();
  EXPECT_NE(text.find("<6>info listening on"), std::string::npos) << text;
  EXPECT_NE(text.find("<7>debug GET /healthz 200"), std::string::npos) << text;
  EXPECT_NE(text.find("<6>info GET /nothing 404"), std::string::npos) << text;
}

} // namespace
} // namespace playcount
