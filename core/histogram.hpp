#pragma once

// A histogram of durations in seconds, as Prometheus keeps one: counts per
// bucket (upper bounds, +Inf implied), their sum and count. One type for
// every histogram the service shows (http/metrics.hpp writes them).

#include <cstdint>
#include <utility>
#include <vector>

namespace playcount {

struct seconds_histogram {
  std::vector<double> bounds;   ///< upper bounds, ascending; +Inf implied
  std::vector<uint64_t> counts; ///< not cumulative: [i] counts the values in
                                ///< (bounds[i-1], bounds[i]]; the last one
                                ///< those over the last bound
  double sum = 0;
  uint64_t count = 0;

  // An aggregate, so that the message tests can walk its fields; made by
  // histogram_with.
  void observe(double seconds) {
    size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i])
      ++i;
    counts.resize(bounds.size() + 1, 0);
    counts[i] += 1;
    sum += seconds > 0 ? seconds : 0;
    count += 1;
  }
};

/// An empty histogram with these upper bounds.
inline seconds_histogram histogram_with(std::vector<double> bounds) {
  seconds_histogram h;
  h.counts.assign(bounds.size() + 1, 0);
  h.bounds = std::move(bounds);
  return h;
}

/// A job's time from start to end: from a small file's tenth of a second to
/// a big one's hour.
inline std::vector<double> job_duration_bounds() {
  return {0.05, 0.1, 0.25, 0.5, 1,   2.5,  5,    10,
          30,   60,  120,  300, 600, 1200, 1800, 3600};
}

/// A job's time in the queue, from its submission to its start.
inline std::vector<double> queue_wait_bounds() {
  return {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600};
}

} // namespace playcount
