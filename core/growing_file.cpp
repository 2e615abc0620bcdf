#include "core/growing_file.hpp"

#include <utility>

namespace playcount {

void growing_file::grow(uint64_t size) {
  {
    std::lock_guard lock(mutex_);
    if (size <= state_.size)
      return;
    state_.size = size;
  }
  changed_.notify_all();
}

void growing_file::complete() {
  {
    std::lock_guard lock(mutex_);
    state_.whole = true;
  }
  changed_.notify_all();
}

void growing_file::fail(failure why) {
  {
    std::lock_guard lock(mutex_);
    if (!state_.failed)
      state_.failed = std::move(why);
  }
  changed_.notify_all();
}

void growing_file::abandon() {
  {
    std::lock_guard lock(mutex_);
    state_.abandoned = true;
  }
  changed_.notify_all();
}

growing_file::state growing_file::now() const {
  std::lock_guard lock(mutex_);
  return state_;
}

growing_file::state
growing_file::wait_beyond(uint64_t size, std::chrono::milliseconds most) const {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, most, [&] {
    return state_.size > size || state_.whole || state_.failed ||
           state_.abandoned;
  });
  return state_;
}

} // namespace playcount
