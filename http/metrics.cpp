#include "http/metrics.hpp"

#include <cinttypes>
#include <cstdio>
#include <unistd.h>

namespace playcount::http {

namespace {

size_t status_class(int status) noexcept {
  return status >= 100 && status < 600 ? static_cast<size_t>(status / 100 - 1)
                                       : status_class_count - 1;
}

const char* status_class_name(size_t i) noexcept {
  static const char* names[status_class_count] = {"1xx", "2xx", "3xx",
                                                  "4xx", "5xx", "none"};
  return names[i];
}

// Appends the lines of one metric family.
class writer {
public:
  explicit writer(std::string& out)
      : out_(out) {}

  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(std::string_view name, std::string_view labels, uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%" PRIu64, v);
    line(name, labels, buf);
  }

  void sample(std::string_view name, std::string_view labels, double v) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    line(name, labels, buf);
  }

private:
  void line(std::string_view name, std::string_view labels,
            std::string_view value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }

  std::string& out_;
};

std::string label(const char* name, std::string_view value) {
  // Our label values are fixed words; escape anyway, as the format says.
  std::string out = name;
  out += "=\"";
  for (char c : value) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

std::string bound(double le) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", le);
  return buf;
}

} // namespace

const char* to_string(request_class c) noexcept {
  switch (c) {
  case request_class::upload:
    return "upload";
  case request_class::job_result:
    return "job_result";
  case request_class::job:
    return "job";
  case request_class::jobs:
    return "jobs";
  case request_class::stats:
    return "stats";
  case request_class::health:
    return "health";
  case request_class::page:
    return "page";
  case request_class::metrics:
    return "metrics";
  case request_class::other:
    return "other";
  }
  return "other";
}

request_class classify(std::string_view method, std::string_view target) {
  // A request refused before its head was read is logged with target "?".
  if (target.empty() || target.front() != '/')
    return request_class::other;
  const route_match m = match_route(method, target.substr(0, target.find('?')));
  if (m.kind == route_match::no_route)
    return request_class::other;
  switch (m.target) {
  case endpoint::upload:
    return request_class::upload;
  case endpoint::job_result:
    return request_class::job_result;
  case endpoint::job:
    return request_class::job;
  case endpoint::jobs:
    return request_class::jobs;
  case endpoint::stats:
    return request_class::stats;
  case endpoint::health:
  case endpoint::ready: // a probe as /healthz is
    return request_class::health;
  case endpoint::version:
    return request_class::other;
  case endpoint::page:
    return request_class::page;
  case endpoint::metrics:
    return request_class::metrics;
  }
  return request_class::other;
}

request_metrics& request_metrics::process() {
  static request_metrics instance;
  return instance;
}

void request_metrics::observe(request_class c, int status,
                              double seconds) noexcept {
  histogram& h = latency_[static_cast<size_t>(c)];
  size_t i = 0;
  while (i < latency_buckets.size() && seconds > latency_buckets[i])
    ++i;
  h.buckets[i].fetch_add(1, std::memory_order_relaxed);
  h.sum_us.fetch_add(static_cast<uint64_t>(seconds > 0 ? seconds * 1e6 : 0),
                     std::memory_order_relaxed);
  h.count.fetch_add(1, std::memory_order_relaxed);
  responses_[static_cast<size_t>(c)][status_class(status)].fetch_add(
      1, std::memory_order_relaxed);
}

request_metrics_snapshot request_metrics::snapshot() const noexcept {
  request_metrics_snapshot out;
  for (size_t c = 0; c < request_class_count; ++c) {
    const histogram& h = latency_[c];
    // Buckets first, then the count: a scrape racing a request may see
    // the bucket without the count, never a count above its buckets' sum.
    uint64_t in_buckets = 0;
    for (size_t i = 0; i < h.buckets.size(); ++i) {
      out.latency[c].buckets[i] = h.buckets[i].load(std::memory_order_relaxed);
      in_buckets += out.latency[c].buckets[i];
    }
    out.latency[c].count = in_buckets;
    out.latency[c].sum_seconds =
        static_cast<double>(h.sum_us.load(std::memory_order_relaxed)) / 1e6;
    for (size_t s = 0; s < status_class_count; ++s)
      out.responses[c][s] = responses_[c][s].load(std::memory_order_relaxed);
  }
  out.upload_bytes = upload_bytes_.load(std::memory_order_relaxed);
  return out;
}

process_memory read_process_memory() {
  process_memory out;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr)
    return out;
  unsigned long long size = 0;
  unsigned long long resident = 0;
  // The kernel writes these two numbers; a line that is not two of them is
  // refused by the == 2, so fscanf's silence on conversion errors is fine.
  // NOLINTNEXTLINE(cert-err34-c): see the line above
  if (std::fscanf(f, "%llu %llu", &size, &resident) == 2) {
    const long page = ::sysconf(_SC_PAGESIZE);
    const uint64_t page_size = page > 0 ? static_cast<uint64_t>(page) : 4096;
    out.virtual_bytes = size * page_size;
    out.resident_bytes = resident * page_size;
  }
  std::fclose(f);
  return out;
}

std::string metrics_text(const registry_stats* stats,
                         const request_metrics_snapshot& http,
                         const process_memory& memory) {
  std::string out;
  out.reserve(8192);
  writer w(out);
  w.family("playcount_up", "gauge",
           "1 when the job registry answered this scrape, 0 when it did not "
           "(then only HTTP and process metrics follow).");
  w.sample("playcount_up", "", uint64_t{stats != nullptr});
  if (stats != nullptr) {
    const coordinator_stats& c = stats->coordinator;
    w.family("playcount_uptime_seconds", "gauge",
             "Seconds since the server started.");
    w.sample("playcount_uptime_seconds", "",
             static_cast<double>(stats->uptime_ms) / 1000.0);
    w.family("playcount_jobs", "gauge",
             "Jobs the server keeps, by state (ended ones until their time to "
             "live runs out).");
    const std::pair<const char*, uint64_t> states[] = {
        {"queued", stats->queued},
        {"started", stats->started},
        {"finished", stats->finished},
        {"failed", stats->failed},
        {"canceled", stats->canceled}};
    for (const auto& [name, n] : states)
      w.sample("playcount_jobs", label("state", name), n);
    w.family("playcount_jobs_running", "gauge",
             "Jobs the coordinator is working on.");
    w.sample("playcount_jobs_running", "", c.jobs_running);
    w.family("playcount_read_bytes_total", "counter",
             "Bytes of CSV read by worker actors since the start (a range "
             "read again after a worker was lost counts again).");
    w.sample("playcount_read_bytes_total", "", c.bytes_read);
    w.family("playcount_read_rows_total", "counter",
             "Rows read by worker actors since the start.");
    w.sample("playcount_read_rows_total", "", c.rows_read);
    w.family("playcount_spilled_bytes_total", "counter",
             "Bytes of partial totals written to disk under a memory limit.");
    w.sample("playcount_spilled_bytes_total", "", c.spilled_bytes);
    w.family("playcount_ranges_dispatched_total", "counter",
             "Ranges handed to worker actors since the start.");
    w.sample("playcount_ranges_dispatched_total", "", c.ranges_dispatched);
    w.family("playcount_ranges_redispatched_total", "counter",
             "Ranges handed out again after their worker was lost.");
    w.sample("playcount_ranges_redispatched_total", "", c.ranges_redispatched);
    w.family("playcount_ranges_queued", "gauge",
             "Ranges waiting for a worker, over all jobs.");
    w.sample("playcount_ranges_queued", "", c.ranges_queued);
    uint64_t up = 0;
    uint64_t down = 0;
    uint64_t remote_up = 0;
    for (const node_stats& n : c.nodes) {
      (n.up ? up : down) += 1;
      remote_up += n.up && !n.local;
    }
    w.family("playcount_nodes", "gauge",
             "Nodes by state; the server's own workers count as one node.");
    w.sample("playcount_nodes", label("state", "up"), up);
    w.sample("playcount_nodes", label("state", "down"), down);
    w.family("playcount_worker_nodes_up", "gauge",
             "Worker nodes (other processes) joined and up.");
    w.sample("playcount_worker_nodes_up", "", remote_up);
    uint64_t busy = 0;
    for (const worker_stats& ws : c.workers)
      busy += ws.busy;
    w.family("playcount_workers", "gauge",
             "Worker actors alive on every node, by state.");
    w.sample("playcount_workers", label("state", "busy"), busy);
    w.sample("playcount_workers", label("state", "idle"),
             static_cast<uint64_t>(c.workers.size()) - busy);
  }
  w.family("playcount_upload_bytes_total", "counter",
           "Bytes of upload bodies (POST /jobs/count/) received.");
  w.sample("playcount_upload_bytes_total", "", http.upload_bytes);

  // Only the classes that were asked for (series appear when first seen).
  w.family("playcount_http_responses_total", "counter",
           "HTTP responses by request class and status class (none: the "
           "client went away first).");
  for (size_t c = 0; c < request_class_count; ++c)
    for (size_t s = 0; s < status_class_count; ++s)
      if (http.responses[c][s] > 0)
        w.sample("playcount_http_responses_total",
                 label("endpoint", to_string(static_cast<request_class>(c))) +
                     "," + label("code", status_class_name(s)),
                 http.responses[c][s]);
  w.family("playcount_http_request_duration_seconds", "histogram",
           "Time from a request's head to its answer, by request class (an "
           "upload's includes its body).");
  for (size_t c = 0; c < request_class_count; ++c) {
    const auto& h = http.latency[c];
    if (h.count == 0)
      continue;
    const std::string endpoint =
        label("endpoint", to_string(static_cast<request_class>(c)));
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.buckets.size(); ++i) {
      cumulative += h.buckets[i];
      const std::string le =
          i < latency_buckets.size() ? bound(latency_buckets[i]) : "+Inf";
      w.sample("playcount_http_request_duration_seconds_bucket",
               endpoint + "," + label("le", le), cumulative);
    }
    w.sample("playcount_http_request_duration_seconds_sum", endpoint,
             h.sum_seconds);
    w.sample("playcount_http_request_duration_seconds_count", endpoint,
             h.count);
  }

  w.family("playcount_process_resident_memory_bytes", "gauge",
           "Resident memory of the server process (/proc/self/statm).");
  w.sample("playcount_process_resident_memory_bytes", "",
           memory.resident_bytes);
  w.family("playcount_process_virtual_memory_bytes", "gauge",
           "Virtual memory of the server process (/proc/self/statm).");
  w.sample("playcount_process_virtual_memory_bytes", "", memory.virtual_bytes);
  return out;
}

reply metrics_reply(const registry_stats* stats) {
  reply r;
  r.status = http_status::ok;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = metrics_text(stats, request_metrics::process().snapshot(),
                        read_process_memory());
  return r;
}

} // namespace playcount::http
