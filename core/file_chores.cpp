#include "core/file_chores.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace playcount {

file_chores::file_chores(size_t max_pending)
    : max_pending_(max_pending)
    , thread_([this] { run(); }) {}

file_chores::~file_chores() {
  {
    const std::lock_guard<std::mutex> hold(lock_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void file_chores::close(int fd) {
  if (fd < 0)
    return;
  {
    const std::lock_guard<std::mutex> hold(lock_);
    if (pending_.size() < max_pending_) {
      pending_.push_back({fd, kind::close});
      wake_.notify_one();
      return;
    }
  }
  ::close(fd);
}

void file_chores::write_back(int fd, uint64_t offset, uint64_t size) {
  add(fd, kind::write_back, offset, size);
}

void file_chores::drop_cached(int fd, uint64_t offset, uint64_t size) {
  add(fd, kind::drop_cached, offset, size);
}

void file_chores::add(int fd, kind what, uint64_t offset, uint64_t size) {
  if (fd < 0 || size == 0)
    return;
  const std::lock_guard<std::mutex> hold(lock_);
  if (pending_.size() >= max_pending_)
    return;
  const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0)
    return;
  pending_.push_back({own, what, offset, size});
  wake_.notify_one();
}

void file_chores::run() {
  std::unique_lock<std::mutex> hold(lock_);
  for (;;) {
    wake_.wait(hold, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty())
      return; // stopping, and nothing is left
    const chore c = pending_.front();
    pending_.pop_front();
    hold.unlock();
    const auto offset = static_cast<off64_t>(c.offset);
    const auto size = static_cast<off64_t>(c.size);
    if (c.what == kind::write_back)
      (void)::sync_file_range(c.fd, offset, size, SYNC_FILE_RANGE_WRITE);
    // Dirty pages are not dropped: they are written and waited for first.
    if (c.what == kind::drop_cached &&
        ::sync_file_range(c.fd, offset, size,
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                              SYNC_FILE_RANGE_WAIT_AFTER) == 0)
      (void)::posix_fadvise(c.fd, offset, size, POSIX_FADV_DONTNEED);
    ::close(c.fd);
    hold.lock();
  }
}

} // namespace playcount
