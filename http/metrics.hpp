#pragma once

// GET /metrics: the service's counters in the Prometheus text format
// (version 0.0.4), for a scraper.
//
// What the HTTP layer counts itself (request latencies, responses, upload
// bytes) lives in one process-wide `request_metrics`, as a Prometheus client
// library's default registry would: the server records into it from any
// Pistache thread with relaxed atomics, and a scrape reads a snapshot. The
// rest (jobs, bytes and rows read, ranges, nodes, workers) comes from the
// job registry's stats, the same answer GET /admin/stats shows.

#include "actors/messages.hpp"
#include "http/api.hpp"
#include "http/routes.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

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

/// Upper bounds of the latency buckets, in seconds (+Inf is implied).
inline constexpr std::array<double, 14> latency_buckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60};

/// Responses by status class: 1xx..5xx, and "none" for a request the client
/// gave up on before it was answered.
inline constexpr size_t status_class_count = 6;

/// A copy of the counters at one moment.
struct request_metrics_snapshot {
  struct histogram {
    /// Non-cumulative: [i] counts requests in (bucket i-1, bucket i]; the
    /// last one those over the last bound.
    std::array<uint64_t, latency_buckets.size() + 1> buckets{};
    uint64_t count = 0;
    double sum_seconds = 0;
  };
  std::array<histogram, request_class_count> latency{};
  /// [class][status class]
  std::array<std::array<uint64_t, status_class_count>, request_class_count>
      responses{};
  uint64_t upload_bytes = 0; ///< bodies of POST /jobs/count/, as received
};

class request_metrics {
public:
  /// The one the server records into.
  [[nodiscard]] static request_metrics& process();

  /// One request answered with `status` (0: not answered) after `seconds`.
  void observe(request_class c, int status, double seconds) noexcept;
  void add_upload_bytes(uint64_t n) noexcept {
    upload_bytes_.fetch_add(n, std::memory_order_relaxed);
  }
  [[nodiscard]] request_metrics_snapshot snapshot() const noexcept;

private:
  struct histogram {
    std::array<std::atomic<uint64_t>, latency_buckets.size() + 1> buckets{};
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_us{0};
  };
  std::array<histogram, request_class_count> latency_{};
  std::array<std::array<std::atomic<uint64_t>, status_class_count>,
             request_class_count>
      responses_{};
  std::atomic<uint64_t> upload_bytes_{0};
};

/// This process's memory from /proc/self/statm; zeros when unreadable.
struct process_memory {
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
};
[[nodiscard]] process_memory read_process_memory();

/// The exposition text. `stats` is null when the registry did not answer:
/// then playcount_up is 0 and only the HTTP and process metrics follow.
[[nodiscard]] std::string metrics_text(const registry_stats* stats,
                                       const request_metrics_snapshot& http,
                                       const process_memory& memory);

/// GET /metrics: 200, text/plain; version=0.0.4, from the process's
/// request_metrics and memory.
[[nodiscard]] reply metrics_reply(const registry_stats* stats);

} // namespace playcount::http
