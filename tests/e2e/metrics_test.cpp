// GET /metrics and the web pages of a running `playcount serve`, over
// loopback HTTP: a scrape before and after a job must show the job.

#include "tests/support/api_client.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <map>
#include <sstream>

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
  EXPECT_GT(at(before, "playcount_process_resident_memory_bytes"), 1 << 20);

  test::csv_shape shape;
  shape.rows = 2000;
  const std::string csv = test::make_csv(shape);
  const std::string id = test::submit(port, csv);
  ASSERT_FALSE(id.empty());
  const auto job = test::wait_for_state(port, id, "finished");
  const auto after = scrape(port);

  EXPECT_EQ(at(after, R"(playcount_jobs{state="finished"})"),
            at(before, R"(playcount_jobs{state="finished"})") + 1);
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
         R"(playcount_http_responses_total{endpoint="upload",code="2xx"})"),
      at(before,
         R"(playcount_http_responses_total{endpoint="upload",code="2xx"})") +
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

} // namespace
} // namespace playcount
