#pragma once
// How far one phase of a job is: advanced by the threads doing the work,
// read by whoever shows the job's progress (the coordinator's status).

#include <atomic>
#include <cstdint>

namespace playcount {

/// `done` of `total` units of a phase (bytes, partials, pieces: the
/// phase's own). Both only grow; `total` is 0 while it is not known.
struct phase_meter {
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> total{0};

  void add(uint64_t units) noexcept {
    done.fetch_add(units, std::memory_order_relaxed);
  }
  void set_total(uint64_t units) noexcept {
    total.store(units, std::memory_order_relaxed);
  }
};

/// Adds to `meter` when there is one.
inline void advance(phase_meter* meter, uint64_t units) noexcept {
  if (meter != nullptr)
    meter->add(units);
}

} // namespace playcount
