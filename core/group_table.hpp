#pragma once

// The totals of (song, day) groups that do not sit in a song's dense run of
// days (see aggregate.hpp): one flat open-addressing table per partition, 16
// bytes an entry, no node per group. Linear probing from a home computed by
// multiply-shift (any capacity, not only powers of two), so the table grows
// by half at 3/4 full: it is between 1/2 and 3/4 full, 21 to 32 bytes a group.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>

namespace playcount {

class group_table {
public:
  struct entry {
    uint32_t song; ///< the song's index in its partition + 1; 0: empty
    int32_t day;
    int64_t total;
  };

  group_table() = default;
  group_table(const group_table& other);
  group_table& operator=(const group_table& other) {
    group_table copy(other);
    return *this = std::move(copy);
  }
  group_table(group_table&&) noexcept = default;
  group_table& operator=(group_table&&) noexcept = default;

  static uint64_t hash(uint32_t song, int32_t day) noexcept {
    uint64_t x = uint64_t{song} << 32 | static_cast<uint32_t>(day);
    x ^= x >> 31;
    x *= UINT64_C(0x9E3779B97F4A7C15);
    x ^= x >> 29;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    return x ^ (x >> 32);
  }

  [[nodiscard]] size_t size() const noexcept { return size_; }
  [[nodiscard]] size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] size_t bytes() const noexcept {
    return capacity_ * sizeof(entry);
  }

  void prefetch(uint64_t h) const noexcept {
    if (capacity_ != 0)
      __builtin_prefetch(&entries_[home(h)]);
  }

  /// The total of (song, day), or nullptr.
  [[nodiscard]] int64_t* find(uint32_t song, int32_t day) noexcept {
    if (size_ == 0)
      return nullptr;
    for (size_t at = home(hash(song, day));; at = next(at)) {
      entry& e = entries_[at];
      if (e.song == song + 1 && e.day == day)
        return &e.total;
      if (e.song == 0)
        return nullptr;
    }
  }

  /// The total of (song, day), created at 0 if new (`inserted` says so);
  /// `h` is hash(song, day). Valid until the next insertion.
  int64_t* find_or_insert(uint32_t song, int32_t day, uint64_t h,
                          bool& inserted) {
    if (4 * (size_ + 1) > 3 * capacity_)
      grow();
    for (size_t at = home(h);; at = next(at)) {
      entry& e = entries_[at];
      if (e.song == song + 1 && e.day == day) {
        inserted = false;
        return &e.total;
      }
      if (e.song == 0) {
        e = entry{song + 1, day, 0};
        ++size_;
        inserted = true;
        return &e.total;
      }
    }
  }

  /// Removes (song, day) if present; false if it was not.
  bool erase(uint32_t song, int32_t day) noexcept;

  /// Calls f(song index, day, total) for every entry, in no order.
  template <class F>
  void for_each(F&& f) const {
    for (size_t i = 0; i < capacity_; ++i)
      if (entries_[i].song != 0)
        f(entries_[i].song - 1, entries_[i].day, entries_[i].total);
  }

  /// Frees the memory.
  void clear() noexcept {
    entries_.reset();
    size_ = capacity_ = 0;
  }

private:
  size_t home(uint64_t h) const noexcept {
    return static_cast<size_t>(
        (static_cast<unsigned __int128>(h) * capacity_) >> 64);
  }
  size_t next(size_t at) const noexcept {
    return at + 1 == capacity_ ? 0 : at + 1;
  }
  void grow();

  // Zeroed entries, written when allocated (see allocate). A large table is
  // mapped on its own in huge pages where the system gives them
  // (transparent_hugepage "madvise", Debian's default): its probes go anywhere,
  // and with 4 KiB pages nearly every row would miss the TLB (dearly in a
  // virtual machine).
  struct release {
    size_t mapped; // bytes mapped from `shift` before the entries; 0: malloc
    size_t shift;  // (no initializers: default-constructible in this class)
    void operator()(entry* p) const noexcept;
  };
  using entries = std::unique_ptr<entry[], release>;
  static entries allocate(size_t capacity);
  entries entries_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

} // namespace playcount
