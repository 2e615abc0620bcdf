// GET /metrics (the Prometheus text format, version 0.0.4), the log lines
// for journald and machines (app/logging.cpp, compiled in), and the web
// pages built into the binary, without sockets.

#include "app/logging.hpp"
#include "http/metrics.hpp"
#include "http/routes.hpp"
#include "http/web.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace playcount::http {
namespace {

registry_stats sample_stats() {
  registry_stats s;
  s.coordinator_answered = true;
  s.queued = 1;
  s.started = 2;
  s.finished = 3;
  s.failed = 4;
  s.canceled = 5;
  s.uptime_ms = 12'500;
  coordinator_stats& c = s.coordinator;
  c.jobs_running = 2;
  c.ranges_queued = 7;
  c.ranges_dispatched = 40;
  c.ranges_redispatched = 3;
  c.bytes_read = 123'456'789'012;
  c.rows_read = 9'876'543;
  node_stats local;
  local.id = "local";
  local.local = true;
  local.up = true;
  local.workers = 2;
  local.ranges_done = 30;
  local.bytes_done = 3000;
  node_stats n1 = local;
  n1.id = "node-1";
  n1.local = false;
  n1.workers = 1;
  n1.ranges_done = 10;
  n1.bytes_done = 1000;
  node_stats n2 = n1;
  n2.id = "node-2";
  n2.up = false;
  n2.workers = 0;
  n2.ranges_done = 0;
  n2.bytes_done = 0;
  c.nodes = {local, n1, n2};
  worker_stats busy;
  busy.busy = true;
  worker_stats idle;
  c.workers = {busy, idle, idle};
  s.ends.finished = 6;
  s.ends.failed = 7;
  s.ends.canceled = 8;
  s.ends.finished_seconds.observe(0.2);
  s.ends.finished_seconds.observe(90);
  s.ends.queue_wait.observe(0);
  return s;
}

struct parsed {
  std::map<std::string, std::string> types;   ///< family -> type
  std::map<std::string, std::string> samples; ///< name{labels} -> value
  std::vector<std::string> order;             ///< sample keys as they came
};

// Reads the exposition text line by line, failing the test on any line the
// format does not allow, and on a sample whose family has no TYPE before it.
parsed parse(const std::string& text) {
  parsed out;
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const std::regex help(R"(# HELP ((?:playcount|process)_[a-z_]+) \S.*)");
  const std::regex type(
      R"(# TYPE ((?:playcount|process)_[a-z_]+) (counter|gauge|histogram))");
  const std::regex sample(
      R"re(((?:playcount|process)_[a-z_]+)(\{[a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*\})? (-?[0-9.e+]+|\+Inf))re");
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, help))
      continue;
    if (std::regex_match(line, m, type)) {
      EXPECT_EQ(out.types.count(m[1]), 0u) << "two TYPE lines for " << m[1];
      out.types[m[1]] = m[2];
      continue;
    }
    if (!std::regex_match(line, m, sample)) {
      ADD_FAILURE() << "not a line of the text format: \"" << line << "\"";
      continue;
    }
    std::string family = m[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (out.types.count(family) == 0 && family.size() > std::strlen(suffix) &&
          family.compare(family.size() - std::strlen(suffix), std::string::npos,
                         suffix) == 0)
        family.resize(family.size() - std::strlen(suffix));
    EXPECT_EQ(out.types.count(family), 1u) << "no TYPE before " << line;
    const std::string key = std::string(m[1]) + std::string(m[2]);
    EXPECT_EQ(out.samples.count(key), 0u) << "two samples " << key;
    out.samples[key] = m[4];
    out.order.push_back(key);
  }
  return out;
}

TEST(metrics, the_text_format_has_every_family_with_its_type_and_values) {
  const registry_stats stats = sample_stats();
  request_metrics http;
  const request_route upload{request_class::upload, "/jobs/count/"};
  http.observe(upload, 202, 0.0004);
  http.observe(upload, 202, 0.003);
  http.observe(upload, 413, 7.5);
  http.observe({request_class::job, "/jobs/{id}/"}, 200, 100.0);
  http.observe({}, 404, 0.001);
  http.observe({}, 0, 0.001);
  http.add_upload_bytes(1000);
  http.add_upload_bytes(24);
  const process_stats process{4096, 8192, 1.5, 1.7e9, 12, 1024};
  const parsed p =
      parse(metrics_text(&stats, http.snapshot(), process, "1.2.3"));

  const std::map<std::string, std::string> want = {
      {"playcount_up", "1"},
      {"playcount_uptime_seconds", "12.5"},
      {R"(playcount_jobs{state="queued"})", "1"},
      {R"(playcount_jobs{state="started"})", "2"},
      {R"(playcount_jobs{state="finished"})", "3"},
      {R"(playcount_jobs{state="failed"})", "4"},
      {R"(playcount_jobs{state="canceled"})", "5"},
      {"playcount_jobs_running", "2"},
      {"playcount_read_bytes_total", "123456789012"},
      {"playcount_read_rows_total", "9876543"},
      {"playcount_ranges_dispatched_total", "40"},
      {"playcount_ranges_redispatched_total", "3"},
      {"playcount_ranges_queued", "7"},
      {R"(playcount_nodes{state="up"})", "2"},
      {R"(playcount_nodes{state="down"})", "1"},
      {"playcount_worker_nodes_up", "1"},
      {R"(playcount_workers{state="busy"})", "1"},
      {R"(playcount_workers{state="idle"})", "2"},
      {"playcount_upload_bytes_total", "1024"},
      {R"(playcount_build_info{version="1.2.3"})", "1"},
      {R"(playcount_jobs_ended_total{outcome="finished"})", "6"},
      {R"(playcount_jobs_ended_total{outcome="failed"})", "7"},
      {R"(playcount_jobs_ended_total{outcome="canceled"})", "8"},
      {R"(playcount_job_duration_seconds_bucket{outcome="finished",le="0.1"})",
       "0"},
      {R"(playcount_job_duration_seconds_bucket{outcome="finished",le="0.25"})",
       "1"},
      {R"(playcount_job_duration_seconds_bucket{outcome="finished",le="60"})",
       "1"},
      {R"(playcount_job_duration_seconds_bucket{outcome="finished",le="120"})",
       "2"},
      {R"(playcount_job_duration_seconds_bucket{outcome="finished",le="+Inf"})",
       "2"},
      {R"(playcount_job_duration_seconds_count{outcome="finished"})", "2"},
      {R"(playcount_job_duration_seconds_sum{outcome="finished"})", "90.2"},
      {R"(playcount_job_duration_seconds_count{outcome="failed"})", "0"},
      {R"(playcount_job_queue_wait_seconds_bucket{le="0.01"})", "1"},
      {"playcount_job_queue_wait_seconds_count", "1"},
      {R"(playcount_node_up{node="local"})", "1"},
      {R"(playcount_node_up{node="node-1"})", "1"},
      {R"(playcount_node_up{node="node-2"})", "0"},
      {R"(playcount_node_workers{node="local"})", "2"},
      {R"(playcount_node_read_bytes_total{node="local"})", "3000"},
      {R"(playcount_node_read_bytes_total{node="node-1"})", "1000"},
      {R"(playcount_node_ranges_total{node="node-1"})", "10"},
      {R"(playcount_node_ranges_total{node="node-2"})", "0"},
      {R"(playcount_http_responses_total{route="/jobs/count/",code="202"})",
       "2"},
      {R"(playcount_http_responses_total{route="/jobs/count/",code="413"})",
       "1"},
      {R"(playcount_http_responses_total{route="/jobs/{id}/",code="200"})",
       "1"},
      {R"(playcount_http_responses_total{route="unmatched",code="404"})", "1"},
      {R"(playcount_http_responses_total{route="unmatched",code="none"})", "1"},
      {R"(playcount_http_request_duration_seconds_bucket{endpoint="upload",le="0.001"})",
       "1"},
      {R"(playcount_http_request_duration_seconds_bucket{endpoint="upload",le="0.0025"})",
       "1"},
      {R"(playcount_http_request_duration_seconds_bucket{endpoint="upload",le="0.005"})",
       "2"},
      {R"(playcount_http_request_duration_seconds_bucket{endpoint="upload",le="5"})",
       "2"},
      {R"(playcount_http_request_duration_seconds_bucket{endpoint="upload",le="15"})",
       "3"},
      {R"(playcount_http_request_duration_seconds_bucket{endpoint="upload",le="+Inf"})",
       "3"},
      {R"(playcount_http_request_duration_seconds_count{endpoint="upload"})",
       "3"},
      {R"(playcount_http_request_duration_seconds_sum{endpoint="upload"})",
       "7.5034"},
      {R"(playcount_http_request_duration_seconds_bucket{endpoint="job",le="60"})",
       "0"},
      {R"(playcount_http_request_duration_seconds_bucket{endpoint="job",le="+Inf"})",
       "1"},
      {"process_resident_memory_bytes", "4096"},
      {"process_virtual_memory_bytes", "8192"},
      {"process_cpu_seconds_total", "1.5"},
      {"process_start_time_seconds", "1.7e+09"},
      {"process_open_fds", "12"},
      {"process_max_fds", "1024"},
      // Deprecated, for one release.
      {"playcount_process_resident_memory_bytes", "4096"},
      {"playcount_process_virtual_memory_bytes", "8192"},
  };
  for (const auto& [key, value] : want) {
    const auto it = p.samples.find(key);
    if (it == p.samples.end())
      ADD_FAILURE() << "no sample " << key;
    else
      EXPECT_EQ(it->second, value) << key;
  }
  EXPECT_EQ(p.types.at("playcount_read_bytes_total"), "counter");
  EXPECT_EQ(p.types.at("playcount_jobs"), "gauge");
  EXPECT_EQ(p.types.at("playcount_http_request_duration_seconds"), "histogram");
  EXPECT_EQ(p.types.at("playcount_jobs_ended_total"), "counter");
  EXPECT_EQ(p.types.at("playcount_job_duration_seconds"), "histogram");
  EXPECT_EQ(p.types.at("playcount_job_queue_wait_seconds"), "histogram");
  EXPECT_EQ(p.types.at("playcount_node_read_bytes_total"), "counter");
  EXPECT_EQ(p.types.at("process_cpu_seconds_total"), "counter");
  // Classes nobody asked for have no series.
  for (const auto& [key, value] : p.samples)
    EXPECT_EQ(key.find(R"(endpoint="health")"), std::string::npos) << key;
}

TEST(metrics, histogram_buckets_are_cumulative_and_end_with_the_count) {
  request_metrics http;
  const double latencies[] = {0,   0.0009, 0.001, 0.0011, 0.02, 0.3,
                              0.3, 2,      59,    61,     1e9};
  for (double s : latencies)
    http.observe({request_class::stats, "/admin/stats"}, 200, s);
  const parsed p = parse(metrics_text(nullptr, http.snapshot(), {}, "0"));
  const std::string prefix =
      R"(playcount_http_request_duration_seconds_bucket{endpoint="stats",le=")";
  uint64_t previous = 0;
  size_t buckets = 0;
  for (const auto& key : p.order) {
    if (key.rfind(prefix, 0) != 0)
      continue;
    const uint64_t n = std::stoull(p.samples.at(key));
    EXPECT_GE(n, previous) << key;
    previous = n;
    ++buckets;
    const std::string le =
        key.substr(prefix.size(), key.size() - prefix.size() - 2);
    if (le == "+Inf")
      continue;
    // Exactly the observations at or under the bound.
    const double bound = std::stod(le);
    EXPECT_EQ(n, std::count_if(std::begin(latencies), std::end(latencies),
                               [&](double s) { return s <= bound; }))
        << key;
  }
  EXPECT_EQ(buckets, latency_buckets.size() + 1);
  EXPECT_EQ(previous, std::size(latencies)) << "+Inf is the count";
  EXPECT_EQ(
      p.samples.at(
          R"(playcount_http_request_duration_seconds_count{endpoint="stats"})"),
      std::to_string(std::size(latencies)));
}

TEST(metrics, without_the_registry_only_http_and_process_metrics_follow) {
  const parsed p = parse(
      metrics_text(nullptr, request_metrics{}.snapshot(), {1, 2}, "0.1.0"));
  EXPECT_EQ(p.samples.at("playcount_up"), "0");
  EXPECT_EQ(p.samples.count("playcount_read_bytes_total"), 0u);
  EXPECT_EQ(p.samples.count(R"(playcount_jobs{state="queued"})"), 0u);
  EXPECT_EQ(p.samples.count(R"(playcount_jobs_ended_total{outcome="failed"})"),
            0u);
  EXPECT_EQ(p.samples.at("playcount_upload_bytes_total"), "0");
  EXPECT_EQ(p.samples.at("process_resident_memory_bytes"), "1");
  EXPECT_EQ(p.samples.at(R"(playcount_build_info{version="0.1.0"})"), "1");
}

TEST(metrics,
     a_seconds_histogram_counts_each_value_in_the_first_bucket_over_it) {
  seconds_histogram h = histogram_with({0.1, 1, 10});
  for (double s : {0.0, 0.1, 0.10001, 1.0, 9.99, 10.0, 10.01, 1e9})
    h.observe(s);
  EXPECT_EQ(h.counts, (std::vector<uint64_t>{2, 2, 2, 2}));
  EXPECT_EQ(h.count, 8u);
  EXPECT_DOUBLE_EQ(h.sum, 0.1 + 0.10001 + 1 + 9.99 + 10 + 10.01 + 1e9);
  // A negative time (a clock set back) counts, in the first bucket, as 0.
  h.observe(-5);
  EXPECT_EQ(h.counts[0], 3u);
  EXPECT_DOUBLE_EQ(h.sum, 0.1 + 0.10001 + 1 + 9.99 + 10 + 10.01 + 1e9);
  // The job histograms' bounds go up, from under a second to an hour.
  for (const auto& bounds : {job_duration_bounds(), queue_wait_bounds()}) {
    EXPECT_TRUE(std::is_sorted(bounds.begin(), bounds.end()));
    EXPECT_LT(bounds.front(), 0.1);
    EXPECT_EQ(bounds.back(), 3600);
  }
}

TEST(metrics, responses_are_counted_by_route_template_and_exact_code) {
  const std::string id = "0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f";
  const std::vector<std::tuple<std::string, std::string, std::string>> rows = {
      {"POST", "/jobs/count/?on_bad_rows=skip", "/jobs/count/"},
      {"PUT", "/jobs/count/plays.csv", "/jobs/count/{name}"},
      {"GET", "/jobs/" + id + "/result/", "/jobs/{id}/result/"},
      {"GET", "/jobs/" + id + "/result", "/jobs/{id}/result/"},
      {"GET", "/jobs/not-an-id/result/", "/jobs/{id}/result/"},
      {"DELETE", "/jobs/" + id + "/", "/jobs/{id}/"},
      {"GET", "/jobs/", "/jobs/"},
      {"GET", "/jobs?limit=5", "/jobs/"},
      {"GET", "/admin/stats", "/admin/stats"},
      {"GET", "/healthz", "/healthz"},
      {"PUT", "/metrics", "/metrics"}, // a 405 is still the route's
      {"GET", "/", "/"},
      {"GET", "/admin/", "/admin"},
      {"GET", "/web/app.js", "/web/{file}"},
      {"GET", "/jobs/" + id + "/summary", "/jobs/{id}/summary"},
      {"GET", "/jobs/" + id + "/songs?prefix=U", "/jobs/{id}/songs"},
      {"GET", "/jobs/" + id + "/songs/AC%2FDC", "/jobs/{id}/songs/{name}"},
      {"GET", "/jobs/" + id + "/view", "/jobs/{id}/view"},
      {"GET", "/jobs/" + id + "/songs/a/b", "unmatched"},
      {"GET", "/nothing/here", "unmatched"},
      {"GET", "/web/a/b/c", "unmatched"},
      {"?", "?", "unmatched"},
  };
  for (const auto& [method, target, want] : rows)
    EXPECT_EQ(route_of(method, target).route, want) << method << " " << target;
  // Every route the table names is a path of its own route: the labels
  // are the table's, whatever routes it gains.
  std::set<std::string_view> routes;
  for (const auto& [method, target, want] : rows)
    routes.insert(route_of(method, target).route);
  for (std::string_view route : routes) {
    if (route == unmatched_route)
      continue;
    std::string path(route);
    for (const char* var : {"{id}", "{name}", "{file}"})
      if (const size_t at = path.find(var); at != std::string::npos)
        path.replace(at, std::strlen(var), "x");
    EXPECT_EQ(match_route("GET", path).pattern, route) << path;
  }
  // Bounded: however many paths and codes come, the series are the
  // routes times the codes seen.
  request_metrics http;
  for (int i = 0; i < 1000; ++i)
    http.observe(route_of("GET", "/no/such/path/" + std::to_string(i)), 404,
                 0.001);
  http.observe(route_of("GET", "/healthz"), 200, 0.001);
  http.observe(route_of("GET", "/healthz"), 999, 0.001); // not HTTP's
  const auto snapshot = http.snapshot();
  ASSERT_EQ(snapshot.responses.size(), 3u);
  EXPECT_EQ(snapshot.responses[0].first.first, "/healthz");
  EXPECT_EQ(snapshot.responses[0].first.second, 0);
  EXPECT_EQ(snapshot.responses[1].first.second, 200);
  EXPECT_EQ(snapshot.responses[2].first.first, "unmatched");
  EXPECT_EQ(snapshot.responses[2].second, 1000u);
}

TEST(metrics, requests_are_classed_by_their_route) {
  const std::string id = "0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f";
  const std::vector<std::tuple<std::string, std::string, request_class>> rows =
      {
          {"POST", "/jobs/count/?on_bad_rows=skip", request_class::upload},
          {"GET", "/jobs/" + id + "/result/", request_class::job_result},
          {"DELETE", "/jobs/" + id + "/", request_class::job},
          {"GET", "/jobs/?limit=5", request_class::jobs},
          {"GET", "/admin/stats", request_class::stats},
          {"GET", "/healthz", request_class::health},
          {"GET", "/", request_class::page},
          {"GET", "/admin", request_class::page},
          {"GET", "/web/app.js", request_class::page},
          {"GET", "/metrics", request_class::metrics},
          {"PUT", "/metrics",
           request_class::metrics}, // 405, still the endpoint's
          {"GET", "/nothing/here", request_class::other},
          {"?", "?", request_class::other},
      };
  for (const auto& [method, target, want] : rows)
    EXPECT_EQ(classify(method, target), want) << method << " " << target;
}

TEST(metrics, the_process_metrics_are_read_from_proc) {
  const process_stats before = read_process_stats();
  EXPECT_GT(before.resident_bytes, 1u << 20);
  EXPECT_GE(before.virtual_bytes, before.resident_bytes);
  EXPECT_GE(before.cpu_seconds, 0);
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(before.start_time_seconds, now + 1);
  EXPECT_GT(before.start_time_seconds, now - 3600) << "this test just began";
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(before.max_fds, limit.rlim_cur);
  EXPECT_GE(before.open_fds, 3u);
  // Two more open descriptors are two more in the count.
  const int a = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int b = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const process_stats after = read_process_stats();
  ::close(a);
  ::close(b);
  EXPECT_EQ(after.open_fds, before.open_fds + 2);
  // Busy for a while: the CPU time goes up.
  const process_stats start = read_process_stats();
  const std::clock_t cpu_until = std::clock() + CLOCKS_PER_SEC / 20;
  volatile uint64_t spin = 0;
  while (std::clock() < cpu_until)
    spin = spin + 1;
  EXPECT_GT(read_process_stats().cpu_seconds, start.cpu_seconds);
}

TEST(metrics, the_reply_is_text_version_0_0_4) {
  const registry_stats stats = sample_stats();
  const reply r = metrics_reply(&stats);
  EXPECT_EQ(r.status, http_status::ok);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("playcount_read_rows_total 9876543\n"),
            std::string::npos);
}

// -- the log lines (app/logging.cpp) -----------------------------------------

boost::json::object json_line(const std::string& line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(line, ec);
  EXPECT_FALSE(ec) << line;
  EXPECT_TRUE(v.is_object()) << line;
  return v.is_object() ? v.as_object() : boost::json::object{};
}

const auto a_time = std::chrono::system_clock::time_point(
    std::chrono::milliseconds(1'790'000'123'456)); // 2026-09-21T14:15:23.456Z

TEST(logging, a_json_line_is_one_object_with_time_level_message_and_job_id) {
  const std::string id = "0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f";
  const auto o = json_line(format_log_line(
      log_format::json, false, spdlog::level::warn, a_time,
      "job " + id + " failed after 1.5 s: line 3: \"bad\\\" \x01\xff\n",
      nullptr));
  EXPECT_EQ(o.at("time").as_string(), "2026-09-21T14:15:23.456Z");
  EXPECT_EQ(o.at("level").as_string(), "warning");
  // Every byte comes back; the one that is not UTF-8 written \xFF.
  EXPECT_EQ(o.at("message").as_string(),
            "job " + id + " failed after 1.5 s: line 3: \"bad\\\" \x01\\xFF\n");
  EXPECT_EQ(o.at("job_id").as_string(), id);
  EXPECT_EQ(o.if_contains("method"), nullptr);
  // Not a job id: no field.
  for (const char* message :
       {"job 0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2 ended", "listening on x",
        "bigjob 0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f"})
    EXPECT_EQ(
        json_line(format_log_line(log_format::json, false, spdlog::level::info,
                                  a_time, message, nullptr))
            .if_contains("job_id"),
        nullptr)
        << message;
}

TEST(logging, a_request_line_in_json_has_its_fields) {
  const log_request_fields request{"GET", "/jobs/?q=\"x\"", 404, 1.25};
  const auto o =
      json_line(format_log_line(log_format::json, false, spdlog::level::info,
                                a_time, "GET /jobs/ 404 1.2 ms", &request));
  EXPECT_EQ(o.at("level").as_string(), "info");
  EXPECT_EQ(o.at("method").as_string(), "GET");
  EXPECT_EQ(o.at("target").as_string(), "/jobs/?q=\"x\"");
  EXPECT_EQ(o.at("status").as_int64(), 404);
  EXPECT_DOUBLE_EQ(o.at("duration_ms").to_number<double>(), 1.25);
}

TEST(logging, under_journald_a_line_has_its_priority_and_no_time) {
  const std::vector<std::pair<spdlog::level::level_enum, std::string>> rows = {
      {spdlog::level::critical, "<2>"}, {spdlog::level::err, "<3>"},
      {spdlog::level::warn, "<4>"},     {spdlog::level::info, "<6>"},
      {spdlog::level::debug, "<7>"},    {spdlog::level::trace, "<7>"}};
  for (const auto& [level, prefix] : rows) {
    const std::string line = format_log_line(log_format::text, true, level,
                                             a_time, "listening", nullptr);
    const auto name = spdlog::level::to_string_view(level);
    EXPECT_EQ(line,
              prefix + std::string(name.data(), name.size()) + " listening\n");
  }
  // JSON under journald: the prefix, then the object (the journal strips
  // the prefix and keeps the rest as the message).
  const std::string line = format_log_line(
      log_format::json, true, spdlog::level::err, a_time, "disk full", nullptr);
  ASSERT_EQ(line.rfind("<3>{", 0), 0u) << line;
  EXPECT_EQ(json_line(line.substr(3)).at("message").as_string(), "disk full");
}

TEST(logging, the_formatter_takes_the_request_fields_of_the_call_in_progress) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_formatter(make_log_formatter(log_format::json, false));
  spdlog::logger logger("test", sink);
  {
    const log_request_fields fields{"DELETE", "/jobs/x/", 204, 3};
    const scoped_request_fields scope(fields);
    logger.info("DELETE /jobs/x/ 204");
  }
  logger.info("after");
  std::istringstream lines(out.str());
  std::string first;
  std::string second;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  const auto a = json_line(first + "\n");
  EXPECT_EQ(a.at("method").as_string(), "DELETE");
  EXPECT_EQ(a.at("status").as_int64(), 204);
  const auto b = json_line(second + "\n");
  EXPECT_EQ(b.at("message").as_string(), "after");
  EXPECT_EQ(b.if_contains("method"), nullptr) << "the fields ended with scope";
}

TEST(logging, stderr_is_the_journal_only_when_journal_stream_names_it) {
  const char* saved = std::getenv("JOURNAL_STREAM");
  const std::string old = saved != nullptr ? saved : "";
  struct stat st {};
  ASSERT_EQ(::fstat(2, &st), 0);
  const std::string mine =
      std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(stderr_is_journal());
  ::setenv("JOURNAL_STREAM", mine.c_str(), 1);
  EXPECT_TRUE(stderr_is_journal());
  // Inherited by a child whose stderr went elsewhere: another inode.
  const std::string other =
      std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
  ::setenv("JOURNAL_STREAM", other.c_str(), 1);
  EXPECT_FALSE(stderr_is_journal());
  for (const std::string& bad :
       {mine + "x", std::string("junk"), std::string(""), ":" + mine})
    EXPECT_FALSE(
        (::setenv("JOURNAL_STREAM", bad.c_str(), 1), stderr_is_journal()))
        << bad;
  if (saved != nullptr)
    ::setenv("JOURNAL_STREAM", old.c_str(), 1);
  else
    ::unsetenv("JOURNAL_STREAM");
}

TEST(logging, the_formats_and_levels_are_checked) {
  EXPECT_TRUE(is_log_format("text"));
  EXPECT_TRUE(is_log_format("json"));
  EXPECT_FALSE(is_log_format("JSON"));
  EXPECT_FALSE(is_log_format(""));
  EXPECT_TRUE(is_log_level("debug"));
  EXPECT_FALSE(is_log_level("loud"));
}

// -- the web pages
// --------------------------------------------------------------

TEST(web,
     the_pages_are_built_in_with_their_types_and_a_content_security_policy) {
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"index.html", "text/html; charset=utf-8"},
      {"admin.html", "text/html; charset=utf-8"},
      {"app.js", "text/javascript; charset=utf-8"},
      {"admin.js", "text/javascript; charset=utf-8"},
      {"style.css", "text/css; charset=utf-8"},
      {"favicon.svg", "image/svg+xml"},
  };
  for (const auto& [name, type] : rows) {
    const reply r = web_reply(name);
    EXPECT_EQ(r.status, http_status::ok) << name;
    EXPECT_EQ(r.content_type, type) << name;
    EXPECT_GT(r.body.size(), 100u) << name;
    bool csp = false;
    for (const auto& [header, value] : r.headers)
      csp = csp || (header == "Content-Security-Policy" &&
                    value.find("default-src 'self'") != std::string::npos);
    EXPECT_TRUE(csp) << name;
  }
  EXPECT_NE(web_reply("index.html").body.find("<progress"), std::string::npos);
  EXPECT_NE(web_reply("index.html").body.find("type=\"file\""),
            std::string::npos);
}

TEST(web, a_name_that_is_not_embedded_is_not_found) {
  for (const char* name :
       {"nope.js", "", "../CMakeLists.txt", "INDEX.HTML", "index.html/"})
    EXPECT_EQ(web_reply(name).status, http_status::not_found) << name;
}

TEST(web, every_file_a_page_names_is_embedded) {
  std::set<std::string> embedded;
  for (const auto& f : embedded_files())
    embedded.insert(f.name);
  const std::regex ref(R"re((?:src|href)="/web/([^"]+)")re");
  size_t refs = 0;
  for (const char* page : {"index.html", "admin.html"}) {
    const std::string html = web_reply(page).body;
    for (std::sregex_iterator it(html.begin(), html.end(), ref), end; it != end;
         ++it) {
      EXPECT_EQ(embedded.count((*it)[1]), 1u) << page << " names " << (*it)[1];
      ++refs;
    }
  }
  EXPECT_GE(refs, 8u);
}

} // namespace
} // namespace playcount::http
