#pragma once

// File system work that can take long, done on a thread of its own so that
// whoever must answer others meanwhile does not wait for it:
// - Closing: a big file unlinked while a descriptor of it is open loses
//   only its name at once; its blocks are freed when the last descriptor
//   closes, and that can take long: 0.87 s for 1 GB just written and
//   flushed (ext4, `rm`). The job registry unlinks, then closes here.
// - Starting writeback: sync_file_range(SYNC_FILE_RANGE_WRITE) is meant not
//   to wait, yet it does when the disk's queue is full: up to 176 ms a call,
//   0.64 s of a 2.65 s upload of 1 GB. An upload's sink starts it here.
// - Dropping from the page cache what the count has read (once it is on
//   disk): the page cache of an upload then takes pages freed moments ago.
//   On a virtual machine whose host takes back free memory (free page
//   reporting), a fresh page costs several times a reused one: 1 GiB
//   first touched took 1.2 s here, against 0.4 s reused.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

namespace playcount {

class file_chores {
public:
  /// At most `max_pending` chores wait; beyond that close() closes at once
  /// and write_back() skips (bounded memory and descriptors, only slower).
  explicit file_chores(size_t max_pending = 16);
  file_chores(const file_chores&) = delete;
  file_chores& operator=(const file_chores&) = delete;
  /// Does what is pending, then stops its thread.
  ~file_chores();

  /// Takes `fd` (a negative one is ignored) and closes it soon.
  void close(int fd);

  /// Starts writing `size` bytes at `offset` of `fd` to disk soon, through
  /// a duplicate of `fd` (the caller may close its own meanwhile). Only
  /// a head start for a later fsync: skipped when too much is pending.
  void write_back(int fd, uint64_t offset, uint64_t size);

  /// Soon writes `size` bytes at `offset` of `fd` to disk, waits for them,
  /// and drops their pages from the page cache (a later read finds them on
  /// disk), through a duplicate of `fd`. Skipped when too much is pending.
  void drop_cached(int fd, uint64_t offset, uint64_t size);

private:
  enum class kind : uint8_t { close, write_back, drop_cached };
  struct chore {
    int fd;
    kind what = kind::close;
    uint64_t offset = 0, size = 0;
  };
  void add(int fd, kind what, uint64_t offset, uint64_t size);
  void run();

  const size_t max_pending_;
  std::mutex lock_;
  std::condition_variable wake_;
  std::deque<chore> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace playcount
