#pragma once

// The gzip variant of a finished result (result.csv.gz beside result.csv),
// for clients that send `Accept-Encoding: gzip`. Made once, on the first
// request that asks, and kept until the job goes (its directory is removed
// whole): a result is immutable once finished, so one compression serves
// every later download, ranges and resumes included.
//
// Why on demand, not when the result is written: most results are fetched
// plain (or never), and a job's time is the user's wait; compressing
// beside it would cost every job (about a second per 850 MB result) for
// the few downloads that ask.
//
// What holds:
// - The file appears under its final name only whole and flushed (a
//   temporary name, fsync, rename): a crash never leaves a half .gz that
//   looks whole. A leftover temporary file goes with the job.
// - The compression runs on a detached CAF actor (a thread of its own),
//   never on an HTTP or a CAF scheduler thread; at most `max_at_once`
//   results are compressed at a time, and one result at most once: a second
//   request for it while it is being made waits for the same one. Beyond
//   `max_at_once` the plain file is served (always an acceptable answer).

#include "core/failure.hpp"

#include <caf/fwd.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace playcount::http {

/// Compresses `source` into `target` (gzip, ISA-L level 1): written to
/// `target + ".tmp"`, flushed, renamed. Bytes of input per second are
/// logged at debug level.
result<void> gzip_file(const std::string& source, const std::string& target);

class result_gzips : public std::enable_shared_from_this<result_gzips> {
public:
  explicit result_gzips(size_t max_at_once)
      : max_at_once_(max_at_once) {}

  /// Calls `done(true)` once `target` is made from `source` (on the
  /// compressing thread), or `done(false)` when it cannot be made now (too
  /// many being made, or it failed: logged). The caller checked that
  /// `target` does not exist yet.
  void make(caf::actor_system& system, const std::string& source,
            const std::string& target, std::function<void(bool)> done);

private:
  size_t max_at_once_;
  std::mutex mutex_;
  // Being made: the target, and who waits for it.
  std::map<std::string, std::vector<std::function<void(bool)>>> making_;
};

} // namespace playcount::http
