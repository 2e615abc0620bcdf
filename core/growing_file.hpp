#pragma once

// A file that one producer writes while a job already reads it: standard
// input spooled to disk, a compressed file being decoded, an upload still
// arriving. The producer says how far the bytes have landed; the planner
// (core/job_plan.hpp, plan_growing) waits for them and hands out each range
// as soon as its bytes and the first bytes after it are there, so the count
// runs alongside the writing instead of after it.
//
// Bytes written with write(2) are in the page cache at once, so a reader that
// maps [0, size()) sees them; no flush is needed between the two.

#include "core/failure.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>

namespace playcount {

class growing_file {
public:
  /// What a reader knows of the file at one moment.
  struct state {
    uint64_t size = 0;             ///< bytes [0, size) are in the file
    bool whole = false;            ///< size is final
    std::optional<failure> failed; ///< the producer gave up: never whole
    bool abandoned = false;        ///< the reader gave up (see abandon)
  };

  // The producer's side.
  /// Bytes [0, size) are written.
  void grow(uint64_t size);
  /// All bytes are written: the size is final.
  void complete();
  /// The file will never be whole (a broken pipe, a corrupt stream, an upload
  /// cut off): readers stop and report `why`.
  void fail(failure why);

  // The reader's side.
  /// The reader needs no more bytes (its job ended): a producer may stop, and
  /// waiting readers return.
  void abandon();
  [[nodiscard]] state now() const;
  /// Waits until the file is larger than `size`, whole, failed or abandoned,
  /// or `most` has passed, and says how it is then.
  [[nodiscard]] state wait_beyond(uint64_t size,
                                  std::chrono::milliseconds most) const;

private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  state state_;
};

} // namespace playcount
