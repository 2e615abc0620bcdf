#include "http/metrics.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

namespace playcount::http {

namespace {

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

  /// The _bucket, _sum and _count lines of `h`; `labels` without `le`.
  void histogram(const std::string& name, const std::string& labels,
                 const seconds_histogram& h);

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

void writer::histogram(const std::string& name, const std::string& labels,
                       const seconds_histogram& h) {
  const std::string prefix = labels.empty() ? "" : labels + ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= h.bounds.size(); ++i) {
    cumulative += i < h.counts.size() ? h.counts[i] : 0;
    const std::string le = i < h.bounds.size() ? bound(h.bounds[i]) : "+Inf";
    sample(name + "_bucket", prefix + label("le", le), cumulative);
  }
  sample(name + "_sum", labels, h.sum);
  // The count is the +Inf bucket's, whatever races a snapshot saw.
  sample(name + "_count", labels, cumulative);
}

#ifndef PLAYCOUNT_VERSION
#define PLAYCOUNT_VERSION "unknown"
#endif

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

request_route route_of(std::string_view method, std::string_view target) {
  // A request refused before its head was read is logged with target "?".
  if (target.empty() || target.front() != '/')
    return {};
  const route_match m = match_route(method, target.substr(0, target.find('?')));
  if (m.kind == route_match::no_route)
    return {};
  request_route out;
  out.route = m.pattern;
  switch (m.target) {
  case endpoint::upload:
    out.cls = request_class::upload;
    break;
  case endpoint::job_result:
    out.cls = request_class::job_result;
    break;
  case endpoint::job:
  case endpoint::job_summary: // what a job's result holds, as JSON
  case endpoint::job_songs:
  case endpoint::job_song:
    out.cls = request_class::job;
    break;
  case endpoint::jobs:
    out.cls = request_class::jobs;
    break;
  case endpoint::stats:
    out.cls = request_class::stats;
    break;
  case endpoint::health:
  case endpoint::ready: // a probe as /healthz is
    out.cls = request_class::health;
    break;
  case endpoint::version:
    out.cls = request_class::other;
    break;
  case endpoint::page:
  case endpoint::job_view:
    out.cls = request_class::page;
    break;
  case endpoint::metrics:
    out.cls = request_class::metrics;
    break;
  }
  return out;
}

request_class classify(std::string_view method, std::string_view target) {
  return route_of(method, target).cls;
}

request_metrics& request_metrics::process() {
  static request_metrics instance;
  return instance;
}

void request_metrics::observe(const request_route& r, int status,
                              double seconds) {
  histogram& h = latency_[static_cast<size_t>(r.cls)];
  size_t i = 0;
  while (i < latency_buckets.size() && seconds > latency_buckets[i])
    ++i;
  h.buckets[i].fetch_add(1, std::memory_order_relaxed);
  h.sum_us.fetch_add(static_cast<uint64_t>(seconds > 0 ? seconds * 1e6 : 0),
                     std::memory_order_relaxed);
  h.count.fetch_add(1, std::memory_order_relaxed);
  // Codes outside 100..599 are not HTTP's; 0 stands for "not answered".
  const int code = status >= 100 && status < 600 ? status : 0;
  const std::lock_guard<std::mutex> lock(responses_lock_);
  responses_[{r.route, code}] += 1;
}

request_metrics_snapshot request_metrics::snapshot() const {
  request_metrics_snapshot out;
  const std::vector<double> bounds(latency_buckets.begin(),
                                   latency_buckets.end());
  for (size_t c = 0; c < request_class_count; ++c) {
    const histogram& h = latency_[c];
    seconds_histogram& copy = out.latency[c];
    copy = histogram_with(bounds);
    // Buckets first, then the count: a scrape racing a request may see
    // the bucket without the count, never a count above its buckets' sum.
    for (size_t i = 0; i < h.buckets.size(); ++i) {
      copy.counts[i] = h.buckets[i].load(std::memory_order_relaxed);
      copy.count += copy.counts[i];
    }
    copy.sum =
        static_cast<double>(h.sum_us.load(std::memory_order_relaxed)) / 1e6;
  }
  {
    const std::lock_guard<std::mutex> lock(responses_lock_);
    out.responses.assign(responses_.begin(), responses_.end());
  }
  out.upload_bytes = upload_bytes_.load(std::memory_order_relaxed);
  return out;
}

namespace {

// The fields of /proc/self/stat after the command name (which may hold
// spaces and parentheses: it ends at the last ')'), the state first.
std::vector<std::string> proc_stat_fields() {
  std::vector<std::string> out;
  FILE* f = std::fopen("/proc/self/stat", "r");
  if (f == nullptr)
    return out;
  char buf[1024];
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const std::string_view text(buf, n);
  const size_t paren = text.rfind(')');
  if (paren == std::string_view::npos)
    return out;
  std::string_view rest = text.substr(paren + 1);
  while (!rest.empty()) {
    const size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos)
      break;
    rest.remove_prefix(start);
    const size_t end = rest.find_first_of(" \n");
    out.emplace_back(rest.substr(0, end));
    if (end == std::string_view::npos)
      break;
    rest.remove_prefix(end);
  }
  return out;
}

uint64_t number(const std::vector<std::string>& fields, size_t field) {
  // proc(5) numbers fields from 1, the state being field 3.
  const size_t i = field - 3;
  return i < fields.size() ? std::strtoull(fields[i].c_str(), nullptr, 10) : 0;
}

// When the machine booted, in seconds since the Unix epoch (/proc/stat).
uint64_t boot_time() {
  FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr)
    return 0;
  uint64_t out = 0;
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::strncmp(line, "btime ", 6) == 0) {
      out = std::strtoull(line + 6, nullptr, 10);
      break;
    }
  std::fclose(f);
  return out;
}

uint64_t open_descriptors() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr)
    return 0;
  uint64_t n = 0;
  while (const dirent* e = ::readdir(dir))
    n += e->d_name[0] != '.';
  ::closedir(dir);
  return n > 0 ? n - 1 : 0; // not the one reading the directory
}

} // namespace

process_stats read_process_stats() {
  process_stats out;
  const long page = ::sysconf(_SC_PAGESIZE);
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const std::vector<std::string> stat = proc_stat_fields();
  if (!stat.empty() && ticks > 0) {
    const auto hz = static_cast<double>(ticks);
    out.cpu_seconds =
        static_cast<double>(number(stat, 14) + number(stat, 15)) / hz;
    out.start_time_seconds = static_cast<double>(boot_time()) +
                             static_cast<double>(number(stat, 22)) / hz;
    out.virtual_bytes = number(stat, 23);
    out.resident_bytes =
        number(stat, 24) * static_cast<uint64_t>(page > 0 ? page : 4096);
  }
  out.open_fds = open_descriptors();
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0)
    out.max_fds = limit.rlim_cur;
  return out;
}

std::string metrics_text(const registry_stats* stats,
                         const request_metrics_snapshot& http,
                         const process_stats& process,
                         std::string_view version) {
  std::string out;
  out.reserve(16384);
  writer w(out);
  w.family("playcount_up", "gauge",
           "1 when the job registry answered this scrape, 0 when it did not "
           "(then only HTTP, build and process metrics follow).");
  w.sample("playcount_up", "", uint64_t{stats != nullptr});
  w.family("playcount_build_info", "gauge",
           "Always 1; the labels say which playcount this is.");
  w.sample("playcount_build_info", label("version", version), uint64_t{1});
  if (stats != nullptr) {
    const coordinator_stats& c = stats->coordinator;
    w.family("playcount_uptime_seconds", "gauge",
             "Seconds since the server started.");
    w.sample("playcount_uptime_seconds", "",
             static_cast<double>(stats->uptime_ms) / 1000.0);
    w.family("playcount_jobs", "gauge",
             "Jobs the server keeps, by state (ended ones until their time to "
             "live runs out; playcount_jobs_ended_total counts ends).");
    const std::pair<const char*, uint64_t> states[] = {
        {"queued", stats->queued},
        {"started", stats->started},
        {"finished", stats->finished},
        {"failed", stats->failed},
        {"canceled", stats->canceled}};
    for (const auto& [name, n] : states)
      w.sample("playcount_jobs", label("state", name), n);
    const job_end_stats& ends = stats->ends;
    w.family("playcount_jobs_ended_total", "counter",
             "Jobs that ended since the server started, by outcome (a job run "
             "again after it failed counts again).");
    struct outcome {
      const char* name;
      uint64_t ended;
      const seconds_histogram& seconds;
    };
    const outcome outcomes[] = {
        {"finished", ends.finished, ends.finished_seconds},
        {"failed", ends.failed, ends.failed_seconds},
        {"canceled", ends.canceled, ends.canceled_seconds}};
    for (const outcome& o : outcomes)
      w.sample("playcount_jobs_ended_total", label("outcome", o.name), o.ended);
    w.family("playcount_job_duration_seconds", "histogram",
             "Time from a job's start to its end, by outcome (jobs that "
             "ended before they started are not in it).");
    for (const outcome& o : outcomes)
      w.histogram("playcount_job_duration_seconds", label("outcome", o.name),
                  o.seconds);
    w.family("playcount_job_queue_wait_seconds", "histogram",
             "Time from a job's submission to its start.");
    w.histogram("playcount_job_queue_wait_seconds", "", ends.queue_wait);
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
    // Per node, by the id the admin page shows ("local", "node-3"): a node
    // that joins again is a new id; those down are kept a while, then go.
    w.family("playcount_node_up", "gauge",
             "1 while a node is up, 0 once it is down (kept a while).");
    for (const node_stats& n : c.nodes)
      w.sample("playcount_node_up", label("node", n.id), uint64_t{n.up});
    w.family("playcount_node_workers", "gauge", "Worker actors of a node.");
    for (const node_stats& n : c.nodes)
      w.sample("playcount_node_workers", label("node", n.id), n.workers);
    w.family("playcount_node_read_bytes_total", "counter",
             "Bytes of the ranges a node's workers read since it joined.");
    for (const node_stats& n : c.nodes)
      w.sample("playcount_node_read_bytes_total", label("node", n.id),
               n.bytes_done);
    w.family("playcount_node_ranges_total", "counter",
             "Ranges a node's workers read since it joined.");
    for (const node_stats& n : c.nodes)
      w.sample("playcount_node_ranges_total", label("node", n.id),
               n.ranges_done);
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

  // Only what was answered (series appear when first seen).
  w.family("playcount_http_responses_total", "counter",
           "HTTP responses by route (as the routing table writes it; "
           "unmatched: no route) and status code (none: the client went "
           "away first).");
  for (const auto& [key, n] : http.responses)
    w.sample("playcount_http_responses_total",
             label("route", key.first) + "," +
                 label("code", key.second == 0 ? std::string("none")
                                               : std::to_string(key.second)),
             n);
  w.family("playcount_http_request_duration_seconds", "histogram",
           "Time from a request's head to its answer, by request class (an "
           "upload's includes its body).");
  for (size_t c = 0; c < request_class_count; ++c)
    if (http.latency[c].count > 0)
      w.histogram("playcount_http_request_duration_seconds",
                  label("endpoint", to_string(static_cast<request_class>(c))),
                  http.latency[c]);

  // Prometheus's process collector, by its names.
  w.family("process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.");
  w.sample("process_cpu_seconds_total", "", process.cpu_seconds);
  w.family("process_resident_memory_bytes", "gauge",
           "Resident memory size in bytes.");
  w.sample("process_resident_memory_bytes", "", process.resident_bytes);
  w.family("process_virtual_memory_bytes", "gauge",
           "Virtual memory size in bytes.");
  w.sample("process_virtual_memory_bytes", "", process.virtual_bytes);
  w.family("process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
  w.sample("process_start_time_seconds", "", process.start_time_seconds);
  w.family("process_open_fds", "gauge", "Number of open file descriptors.");
  w.sample("process_open_fds", "", process.open_fds);
  w.family("process_max_fds", "gauge",
           "Maximum number of open file descriptors.");
  w.sample("process_max_fds", "", process.max_fds);
  // The names before the standard ones, for one release (docs/operations.md).
  w.family("playcount_process_resident_memory_bytes", "gauge",
           "Deprecated: process_resident_memory_bytes; goes in the next "
           "release.");
  w.sample("playcount_process_resident_memory_bytes", "",
           process.resident_bytes);
  w.family("playcount_process_virtual_memory_bytes", "gauge",
           "Deprecated: process_virtual_memory_bytes; goes in the next "
           "release.");
  w.sample("playcount_process_virtual_memory_bytes", "", process.virtual_bytes);
  return out;
}

reply metrics_reply(const registry_stats* stats) {
  reply r;
  r.status = http_status::ok;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = metrics_text(stats, request_metrics::process().snapshot(),
                        read_process_stats(), PLAYCOUNT_VERSION);
  return r;
}

} // namespace playcount::http
