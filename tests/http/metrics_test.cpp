// GET /metrics (the Prometheus text format, version 0.0.4) and the web
// pages built into the binary, without sockets.

#include "http/metrics.hpp"
#include "http/web.hpp"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

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
  node_stats n1 = local;
  n1.id = "node-1";
  n1.local = false;
  node_stats n2 = n1;
  n2.id = "node-2";
  n2.up = false;
  c.nodes = {local, n1, n2};
  worker_stats busy;
  busy.busy = true;
  worker_stats idle;
  c.workers = {busy, idle, idle};
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
  const std::regex help(R"(# HELP (playcount_[a-z_]+) \S.*)");
  const std::regex type(
      R"(# TYPE (playcount_[a-z_]+) (counter|gauge|histogram))");
  const std::regex sample(
      R"re((playcount_[a-z_]+)(\{[a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*\})? (-?[0-9.e+]+|\+Inf))re");
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
  http.observe(request_class::upload, 202, 0.0004);
  http.observe(request_class::upload, 202, 0.003);
  http.observe(request_class::upload, 413, 7.5);
  http.observe(request_class::job, 200, 100.0);
  http.add_upload_bytes(1000);
  http.add_upload_bytes(24);
  const parsed p = parse(metrics_text(&stats, http.snapshot(), {4096, 8192}));

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
      {R"(playcount_http_responses_total{endpoint="upload",code="2xx"})", "2"},
      {R"(playcount_http_responses_total{endpoint="upload",code="4xx"})", "1"},
      {R"(playcount_http_responses_total{endpoint="job",code="2xx"})", "1"},
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
  // Classes nobody asked for have no series.
  for (const auto& [key, value] : p.samples)
    EXPECT_EQ(key.find(R"(endpoint="health")"), std::string::npos) << key;
}

TEST(metrics, histogram_buckets_are_cumulative_and_end_with_the_count) {
  request_metrics http;
  const double latencies[] = {0,   0.0009, 0.001, 0.0011, 0.02, 0.3,
                              0.3, 2,      59,    61,     1e9};
  for (double s : latencies)
    http.observe(request_class::stats, 200, s);
  const parsed p = parse(metrics_text(nullptr, http.snapshot(), {}));
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
  const parsed p =
      parse(metrics_text(nullptr, request_metrics{}.snapshot(), {1, 2}));
  EXPECT_EQ(p.samples.at("playcount_up"), "0");
  EXPECT_EQ(p.samples.count("playcount_read_bytes_total"), 0u);
  EXPECT_EQ(p.samples.count(R"(playcount_jobs{state="queued"})"), 0u);
  EXPECT_EQ(p.samples.at("playcount_upload_bytes_total"), "0");
  EXPECT_EQ(p.samples.at("playcount_process_resident_memory_bytes"), "1");
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

TEST(metrics, the_process_memory_is_read_from_proc) {
  const process_memory m = read_process_memory();
  EXPECT_GT(m.resident_bytes, 0u);
  EXPECT_GE(m.virtual_bytes, m.resident_bytes);
}

TEST(metrics, the_reply_is_text_version_0_0_4) {
  const registry_stats stats = sample_stats();
  const reply r = metrics_reply(&stats);
  EXPECT_EQ(r.status, http_status::ok);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("playcount_read_rows_total 9876543\n"),
            std::string::npos);
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
