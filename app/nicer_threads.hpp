#pragma once

// The actor system's threads run a little nicer than the rest of the
// process, so that what the count waits for gets the processor first:
// - `count` with a spooled input: the decoder thread, or the `zstd -dc` of a
//   pipe (sharing 2 cores with two workers it got two thirds of one; 5 nicer,
//   a weight of 335 to its 1024: zstd pipe on 2 cores 3.78 s to 3.35 s,
//   medians of 6);
// - `serve`: the HTTP threads receiving an upload that is counted as it
//   arrives (3 nicer, a weight of 526: a 1 GB `curl -F` upload on 2 cores
//   went from 542 to 649 MB/s, the result still 0.6 s after curl's answer).
// Raised for good: an unprivileged process cannot lower it again.

#include <caf/thread_hook.hpp>

#include <algorithm>
#include <sys/resource.h>
#include <unistd.h>

namespace playcount {

class nicer_threads : public caf::thread_hook {
public:
  /// Made on main's thread: `by` more than the process's niceness then.
  explicit nicer_threads(int by)
      : niceness_(std::min(::getpriority(PRIO_PROCESS, 0) + by, 19)) {}
  void init(caf::actor_system& /*system*/) override {}
  void thread_started() override {
    // From the process's niceness, not the thread's: a thread started by
    // one of these would otherwise add `by` again.
    (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), niceness_);
  }
  void thread_terminates() override {}

private:
  const int niceness_;
};

} // namespace playcount
