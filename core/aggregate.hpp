#pragma once

// The partial aggregate: per song, its first appearance and its totals per
// day. One per worker and job; partials merge into the job's result.
//
// Invariants: a total is never negative;
// `first_offset` is the smallest absolute byte offset of a record naming the
// song among the ranges added so far.

#include "core/fields.hpp"

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace playcount {

/// Totals per day for one song: a dense array while the days are close
/// together (the common case: one slot per day, no hashing), an ordered map
/// once they are too spread out for that to stay small.
///
/// A slot is 32 bits, so that the totals of many songs stay in cache: it
/// holds total + 1 (0 means "no record on that day": a day with only zero
/// counts still has a row). A total that does not fit moves to `wide_`, and
/// its slot says so with `in_wide`.
class day_totals {
public:
  using slot_type = uint32_t;
  static constexpr slot_type in_wide = UINT32_MAX;

  /// The slot of `day`, created empty (0) if new. It stays valid until the
  /// next call of `slot` for a day outside the dense array.
  slot_type* slot(day_number day) {
    if (slot_type* s = dense_slot(day))
      return s;
    return slow_slot(day);
  }

  /// The slot of `day` if the dense array holds it (then `slot(day)` would
  /// move nothing), else nullptr.
  slot_type* dense_slot(day_number day) noexcept {
    const auto i = static_cast<uint64_t>(int64_t{day} - base_);
    return i < dense_.size() ? &dense_[i] : nullptr; // empty while sparse
  }

  /// Whether `slot(day)` may move the slots handed out before (when the
  /// dense array grows, or the map turns into one).
  [[nodiscard]] bool slot_moves_others(day_number day) const noexcept {
    if (!sparse_)
      return static_cast<uint64_t>(int64_t{day} - base_) >= dense_.size();
    return sparse_map_moves(day);
  }

  /// Adds `count` (>= 0) into a slot when the total stays small; false when
  /// it needs add_wide instead.
  [[nodiscard]] static bool add_small(slot_type& slot, int64_t count) noexcept {
    const uint64_t sum = uint64_t{slot} + static_cast<uint64_t>(count) +
                         (slot == 0);
    if (sum >= in_wide)
      return false;
    slot = static_cast<slot_type>(sum);
    return true;
  }

  /// Adds `count` to `day` whatever the size of the total; false if it
  /// would exceed 2^63-1.
  [[nodiscard]] bool add_wide(day_number day, int64_t count);

  [[nodiscard]] bool add(day_number day, int64_t count) {
    return add_small(*slot(day), count) || add_wide(day, count);
  }

  /// The number of days with a total.
  [[nodiscard]] uint64_t size() const noexcept;

  /// Calls f(day, total) in ascending day order.
  template <class F>
  void for_each(F&& f) const {
    const auto emit = [&](day_number day, slot_type v) {
      if (v == in_wide)
        f(day, wide_->at(day));
      else if (v != 0)
        f(day, static_cast<int64_t>(v - 1));
    };
    if (sparse_) {
      for (auto& [day, v] : *sparse_)
        emit(day, v);
      return;
    }
    for (size_t i = 0; i < dense_.size(); ++i)
      emit(static_cast<day_number>(base_ + static_cast<int64_t>(i)), dense_[i]);
  }

  /// Appends the byte form of these totals (see aggregate.cpp).
  void append_to(std::string& out) const;
  /// Adds totals in byte form from the front of `in`, consuming them; false
  /// when the bytes are not such a form or a total overflows.
  [[nodiscard]] bool add_from(std::string_view& in);

private:
  slot_type* slow_slot(day_number day);
  bool sparse_map_moves(day_number day) const noexcept;

  day_number base_ = 0;
  std::vector<slot_type> dense_; // empty while sparse_ is set
  std::unique_ptr<std::map<day_number, slot_type>> sparse_;
  std::unique_ptr<std::map<day_number, int64_t>> wide_;
};

/// One record's contribution, waiting in a batch of `add_rows`.
struct pending_row {
  std::string_view name; ///< must stay valid until add_rows returns
  uint64_t hash;         ///< hash_bytes(name), see hash.hpp
  day_number day;
  int64_t count;
  uint64_t offset; ///< the record's absolute byte offset
};

class partial_aggregate {
public:
  struct song {
    std::string name;
    uint64_t hash;
    day_totals days;
    uint64_t first_offset;
    uint32_t last_tag; ///< the last range that named this song
  };

  /// The `last_tag` of a song no range has named yet; not a valid tag.
  static constexpr uint32_t no_tag = UINT32_MAX;

  /// Rows per call of add_rows at most.
  static constexpr size_t max_batch = 64;

  partial_aggregate();

  /// Adds rows in order. `tag` names the range being read (the first record
  /// of a song in a range is its first in that range, so only then is its
  /// first offset compared). Returns how many rows were added: all, or those
  /// before the first whose total would exceed 2^63-1.
  ///
  /// Works in stages over the whole batch, prefetching what the next stage
  /// needs: songs and totals do not fit in cache, and one row at a time
  /// would wait for several memory loads per row.
  [[nodiscard]] size_t add_rows(const pending_row* rows, size_t n,
                                uint32_t tag);

  /// Hints that a row with this hash will be added soon.
  void prefetch(uint64_t hash) const noexcept {
    __builtin_prefetch(&slots_[hash & mask_]);
  }

  /// Adds every total of `other` into this one; false if a total overflowed
  /// (this partial is then incomplete).
  [[nodiscard]] bool merge(const partial_aggregate& other);

  [[nodiscard]] const std::vector<song>& songs() const noexcept {
    return songs_;
  }
  [[nodiscard]] uint64_t groups() const noexcept;

  /// Song indexes in order of first appearance.
  [[nodiscard]] std::vector<uint32_t> songs_in_order() const;

  /// A compact byte form, for sending a partial to another process.
  [[nodiscard]] std::string encode() const;
  /// Reads what encode wrote; false if the bytes are not such a form.
  [[nodiscard]] static bool decode(std::string_view bytes,
                                   partial_aggregate& out);

private:
  // An open-addressing slot: the high half of the song's hash, so most
  // probes need not look at the song itself, and its index + 1 (0: empty).
  struct slot {
    uint32_t tag;
    uint32_t index;
  };

  static uint32_t tag_of(uint64_t hash) noexcept {
    return static_cast<uint32_t>(hash >> 32);
  }
  /// The song named `name`, created (with first offset `offset`) if new.
  uint32_t find_or_insert(std::string_view name, uint64_t hash,
                          uint64_t offset, size_t start_slot);
  void note_offset(song& s, uint64_t offset, uint32_t tag) noexcept {
    if (s.last_tag != tag) {
      s.last_tag = tag;
      if (offset < s.first_offset)
        s.first_offset = offset;
    }
  }
  void rehash();

  std::vector<song> songs_;
  std::vector<slot> slots_;
  size_t mask_;
};

} // namespace playcount
