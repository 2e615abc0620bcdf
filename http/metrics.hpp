#pragma once

// GET /metrics: the service's counters in the Prometheus text format
// (version 0.0.4), for a scraper.
//
// What the HTTP layer counts itself (request latencies, responses, upload
// bytes) lives in one process-wide `request_metrics`, as a Prometheus client
// library's default registry would: the server records into it from any
// Pistache thread (relaxed atomics; a short lock for the responses by route
// and code), and a scrape reads a snapshot. The process_* metrics are read
// from /proc at each scrape. The rest (jobs, ends, bytes and rows read,
// ranges, nodes, workers) comes from the job registry's stats, the same
// answer GET /admin/stats shows.

#include "actors/messages.hpp"
#include "http/api.hpp"
#include "http/routes.hpp"

#include "core/histogram.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace playcount::http {

/// Request classes with a latency histogram each: the endpoints, web pages,
/// and anything that matched no route.
enum class request_class : uint8_t {
  upload,
  job_result,
  job,
  jobs,
  stats,
  health,
  page,
  metrics,
  other,
};
inline constexpr size_t request_class_count = 9;

[[nodiscard]] const char* to_string(request_class c) noexcept;

/// The class of a request by its method and target (the query is ignored).
[[nodiscard]] request_class classify(std::string_view method,
                                     std::string_view target);

/// The route label of a path that matched no route (and of a request refused
/// before its head was read).
inline constexpr std::string_view unmatched_route = "unmatched";

/// A request's class and its route as the routing table writes it
/// ("/jobs/{id}/result/"), or unmatched_route: a bounded label value.
struct request_route {
  request_class cls = request_class::other;
  std::string_view route = unmatched_route;
};
[[nodiscard]] request_route route_of(std::string_view method,
                                     std::string_view target);

/// Upper bounds of the latency buckets, in seconds (+Inf is implied).
inline constexpr std::array<double, 14> latency_buckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60};

/// A copy of the counters at one moment.
struct request_metrics_snapshot {
  std::array<seconds_histogram, request_class_count> latency{};
  /// Responses by route and exact status code (0: the client went away
  /// before the answer), in that order.
  std::vector<std::pair<std::pair<std::string_view, int>, uint64_t>> responses;
  uint64_t upload_bytes = 0; ///< bodies of POST /jobs/count/, as received
};

class request_metrics {
public:
  /// The one the server records into.
  [[nodiscard]] static request_metrics& process();

  /// One request answered with `status` (0: not answered) after `seconds`.
  void observe(const request_route& r, int status, double seconds);
  void add_upload_bytes(uint64_t n) noexcept {
    upload_bytes_.fetch_add(n, std::memory_order_relaxed);
  }
  [[nodiscard]] request_metrics_snapshot snapshot() const;

private:
  struct histogram {
    std::array<std::atomic<uint64_t>, latency_buckets.size() + 1> buckets{};
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_us{0};
  };
  std::array<histogram, request_class_count> latency_{};
  mutable std::mutex responses_lock_;
  /// Routes are the routing table's literals and codes 0..599: bounded.
  std::map<std::pair<std::string_view, int>, uint64_t> responses_;
  std::atomic<uint64_t> upload_bytes_{0};
};

/// This process as Prometheus's process collector shows one (/proc/self/stat,
/// /proc/self/fd, the descriptor limit); zeros where unreadable.
struct process_stats {
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  double cpu_seconds = 0;        ///< user and system
  double start_time_seconds = 0; ///< since the Unix epoch
  uint64_t open_fds = 0;
  uint64_t max_fds = 0; ///< the soft limit
};
[[nodiscard]] process_stats read_process_stats();

/// The exposition text. `stats` is null when the registry did not answer:
/// then playcount_up is 0 and only the HTTP, build and process metrics
/// follow. `version` is playcount_build_info's.
[[nodiscard]] std::string metrics_text(const registry_stats* stats,
                                       const request_metrics_snapshot& http,
                                       const process_stats& process,
                                       std::string_view version);

/// GET /metrics: 200, text/plain; version=0.0.4, from the process's
/// request_metrics and /proc.
[[nodiscard]] reply metrics_reply(const registry_stats* stats);

} // namespace playcount::http
