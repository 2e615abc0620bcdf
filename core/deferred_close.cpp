#include "core/deferred_close.hpp"

#include <unistd.h>

namespace playcount {

deferred_close::deferred_close(size_t max_pending)
    : max_pending_(max_pending)
    , thread_([this] { run(); }) {}

deferred_close::~deferred_close() {
  {
    const std::lock_guard<std::mutex> hold(lock_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void deferred_close::close(int fd) {
  if (fd < 0)
    return;
  {
    const std::lock_guard<std::mutex> hold(lock_);
    if (pending_.size() < max_pending_) {
      pending_.push_back(fd);
      wake_.notify_one();
      return;
    }
  }
  ::close(fd);
}

void deferred_close::run() {
  std::unique_lock<std::mutex> hold(lock_);
  for (;;) {
    wake_.wait(hold, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty())
      return; // stopping, and nothing is left
    const int fd = pending_.front();
    pending_.pop_front();
    hold.unlock();
    ::close(fd);
    hold.lock();
  }
}

} // namespace playcount
