#pragma once
// Closes descriptors on a thread of its own. A big file unlinked while a
// descriptor of it is open loses only its name at once; its blocks are
// freed when the last descriptor closes, and that can take long: 0.87 s
// for 1 GB just written and flushed (ext4, `rm`). Whoever must answer
// others meanwhile (the job registry) unlinks, then closes here.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>

namespace playcount {

class deferred_close {
public:
  /// At most `max_pending` descriptors wait; beyond that close() closes at
  /// once (bounded memory and descriptors, only slower).
  explicit deferred_close(size_t max_pending = 16);
  deferred_close(const deferred_close&) = delete;
  deferred_close& operator=(const deferred_close&) = delete;
  /// Closes what is pending, then stops its thread.
  ~deferred_close();

  /// Takes `fd` (a negative one is ignored) and closes it soon.
  void close(int fd);

private:
  void run();

  const size_t max_pending_;
  std::mutex lock_;
  std::condition_variable wake_;
  std::deque<int> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace playcount
