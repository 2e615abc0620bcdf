#include "core/growing_file.hpp"

#include <algorithm>
#include <utility>

namespace playcount {

void growing_file::grow(uint64_t size) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (size <= state_.size)
      return;
    state_.size = size;
    // Only a reader whose bytes are there now is woken: a planner waiting
    // for a whole chunk would otherwise run, and preempt a worker, for each
    // piece of it that lands (from a pipe, about 12 a chunk).
    wake = readers_waiting_ > 1 ||
           (readers_waiting_ == 1 && size > waiting_beyond_);
  }
  if (wake)
    changed_.notify_all();
}

void growing_file::grow(uint64_t size, uint64_t quotes) {
  {
    std::lock_guard lock(mutex_);
    if (size > state_.size && marks_.size() < max_marks &&
        (marks_.empty() || size >= marks_.back().offset + mark_spacing_))
      marks_.push_back({size, quotes});
  }
  grow(size);
}

std::optional<growing_file::quote_mark>
growing_file::quote_mark_before(uint64_t offset) const {
  std::lock_guard lock(mutex_);
  while (marks_.size() > 1 && marks_[1].offset <= offset)
    marks_.pop_front();
  if (marks_.empty() || marks_.front().offset > offset)
    return std::nullopt;
  return marks_.front();
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

void growing_file::frees_what_is_read() {
  std::lock_guard lock(mutex_);
  state_.frees = true;
}

void growing_file::freeing(uint64_t offset) {
  std::lock_guard lock(mutex_);
  state_.freed = std::max(state_.freed, offset);
}

bool growing_file::wait_for_reader(uint64_t ahead,
                                   std::chrono::milliseconds most) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, most, [&] {
    return state_.size <= state_.done + ahead || starving() || state_.abandoned;
  });
}

void growing_file::done_below(uint64_t offset) {
  {
    std::lock_guard lock(mutex_);
    state_.done = std::max(state_.done, offset);
  }
  changed_.notify_all();
}

bool growing_file::starving() const {
  // A reader woken but not yet run has its bytes: it does not starve.
  return readers_waiting_ > 0 && state_.size <= waiting_beyond_ &&
         state_.done >= planned_;
}

growing_file::state growing_file::now() const {
  std::lock_guard lock(mutex_);
  return state_;
}

growing_file::state
growing_file::wait_beyond(uint64_t size, uint64_t planned,
                          std::chrono::milliseconds most) const {
  std::unique_lock lock(mutex_);
  const auto there = [&] {
    return state_.size > size || state_.whole || state_.failed ||
           state_.abandoned;
  };
  if (!there()) {
    // A producer that keeps pace (wait_for_reader) must go on now.
    ++readers_waiting_;
    waiting_beyond_ = size;
    planned_ = std::max(planned_, planned);
    changed_.notify_all();
    changed_.wait_for(lock, most, there);
    --readers_waiting_;
  }
  return state_;
}

} // namespace playcount
