#pragma once

// The partial aggregate: per song, its first appearance and its totals per
// day. One per worker and job; partials merge into the job's result.
//
// Songs are split into `partitions` by their hash (radix partitioning): a
// partition holds its songs, their names and all their groups, so partials
// merge partition by partition, on every core, each partition on its own.
// Inside a partition:
// - a song's days go to a flat table of (song, day) -> total (group_table)
//   while they are few or spread out: memory per group, whatever the span;
// - once a song's days are dense (at least 1/4 of the days from its first to
//   its last), they move to a dense run: one 32-bit slot per day, no hashing
//   (the common case of popular songs: a slot in cache, not a table probe).
//
// Invariants: a total is never negative; a (song, day) is in the run or in
// the table, never both, except a run slot marked in_wide whose total is in
// the table; `first_offset` is the smallest absolute byte offset of a record
// naming the song among the ranges added so far.

#include "core/fields.hpp"
#include "core/group_table.hpp"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace playcount {

/// One record's contribution, waiting in a batch of `add_rows`.
struct pending_row {
  std::string_view name; ///< must stay valid until add_rows returns
  uint64_t hash;         ///< hash_bytes(name), see hash.hpp
  day_number day;
  int64_t count;
  uint64_t offset; ///< the record's absolute byte offset
};

/// A song of a partial: its partition and its index there.
struct song_ref {
  uint32_t partition;
  uint32_t index;
};

class partial_aggregate {
public:
  static constexpr uint32_t partition_bits = 4;
  static constexpr uint32_t partitions = 1u << partition_bits;

  /// The `last_tag` of a song no range has named yet; not a valid tag.
  static constexpr uint32_t no_tag = UINT32_MAX;

  /// Rows per call of add_rows at most.
  static constexpr size_t max_batch = 64;

  static uint32_t partition_of(uint64_t hash) noexcept {
    return static_cast<uint32_t>(hash >> (64 - partition_bits));
  }

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
    const partition& p = parts_[partition_of(hash)];
    __builtin_prefetch(&p.slots[hash & p.mask]);
  }

  /// Adds every total of `other` into this one, emptying `other`; false if a
  /// total overflowed (this partial is then incomplete). `threads` merge
  /// partitions side by side.
  [[nodiscard]] bool merge(partial_aggregate&& other, unsigned threads = 1);
  [[nodiscard]] bool merge(const partial_aggregate& other);

  /// The number of (song, day) groups.
  [[nodiscard]] uint64_t groups() const noexcept;
  [[nodiscard]] uint64_t songs() const noexcept;
  /// Bytes held (tables, runs, names, songs): what a memory budget counts.
  [[nodiscard]] uint64_t bytes() const noexcept;

  // -- reading the totals ----------------------------------------------------
  // After seal(), which orders each partition's table by song and day, and
  // before anything is added again.

  /// Orders the groups for reading (`threads` partitions side by side);
  /// once only: nothing may be added or merged into a sealed partial.
  void seal(unsigned threads = 1);

  /// Songs in order of first appearance.
  [[nodiscard]] std::vector<song_ref> songs_in_order() const;

  [[nodiscard]] std::string_view name(song_ref s) const noexcept {
    const partition& p = parts_[s.partition];
    return name_of(p, p.songs[s.index]);
  }

  [[nodiscard]] uint64_t first_offset(song_ref s) const noexcept {
    return parts_[s.partition].songs[s.index].first_offset;
  }

  /// The number of days with a total.
  [[nodiscard]] uint32_t days(song_ref s) const noexcept {
    return parts_[s.partition].songs[s.index].present;
  }

  /// Calls f(day, total) for the song's days in ascending order (sealed).
  template <class F>
  void for_each_day(song_ref ref, F&& f) const;

  /// A partial holding only partition `p` of this one, moved out of it.
  [[nodiscard]] partial_aggregate take_partition(uint32_t p);

  /// The byte form (see encode) of partition `p` alone; seals first.
  [[nodiscard]] std::string encode_partition(uint32_t p);

  /// A compact byte form, for sending a partial to another process.
  [[nodiscard]] std::string encode(); // seals first
  /// Reads what encode wrote; false if the bytes are not such a form.
  [[nodiscard]] static bool decode(std::string_view bytes,
                                   partial_aggregate& out);

  /// Reads what encode wrote without building a partial (to merge many by
  /// sorting, spill.cpp): calls `on_song(name, first_offset)` for each song,
  /// then `on_day(day, total)` for each of its days, in no order. False if
  /// the bytes are not such a form (with the checks of decode, but for a
  /// run slot marked wide whose day has no pair: only their counts are
  /// compared).
  template <class OnSong, class OnDay>
  [[nodiscard]] static bool read_encoded(std::string_view in, OnSong&& on_song,
                                         OnDay&& on_day);

  /// The calendar's bounds (0001-01-01, 9999-12-31): a day outside them in
  /// a byte form is refused.
  static constexpr int64_t first_day = -719162;
  static constexpr int64_t last_day = 2932896;
  /// The first bytes of the byte form.
  static constexpr std::string_view encoded_magic = "PCA2";

private:
  using slot_type = uint32_t;
  /// A run slot holds total + 1 (0: no record that day, so a day with only
  /// zero counts still has a row); in_wide: the total is in the table.
  static constexpr slot_type in_wide = UINT32_MAX;

  // One cache line: names up to 16 bytes (most) are held inline, and the
  // run's slots are one pointer away, so that adding a row to a known song
  // costs no second memory load.
  struct alignas(64) song {
    uint64_t first_offset = 0;
    /// One slot per day from run_base, run_len of them; nullptr: no run.
    std::unique_ptr<slot_type[]> run;
    union {
      char inline_name[16];
      uint64_t name_at; ///< in the partition's names, for longer names
    };
    uint32_t name_len = 0;
    uint32_t last_tag = no_tag; ///< the last range that named this song
    uint32_t present = 0;       ///< days with a total
    uint32_t in_table = 0;      ///< of which in the table
    day_number lo = 0, hi = 0;  ///< the first and last of them (when present)
    day_number run_base = 0;
    uint32_t run_len = 0;

    song()
        : name_at(0) {}
    song(song&&) noexcept = default;
    song& operator=(song&&) noexcept = default;
    song(const song& other);
    song& operator=(const song& other) {
      song copy(other);
      return *this = std::move(copy);
    }
  };
  static constexpr uint32_t inline_name_max = 16;

  // An open-addressing slot of the song index: bits of the song's hash, so
  // most probes need not look at the song itself, and its index + 1 (0:
  // empty).
  struct slot {
    uint32_t tag;
    uint32_t index;
  };

  struct sealed_day {
    day_number day;
    int64_t total;
  };

  struct partition {
    std::vector<song> songs;
    std::vector<slot> slots; // a power of two, at most half full
    size_t mask = 0;
    std::string names;
    group_table table;
    uint64_t run_bytes = 0; // of the songs' runs
    uint64_t groups = 0;
    // After seal: the table's groups by song index, days ascending.
    std::vector<uint64_t> sealed_begin; // songs + 1 entries
    std::vector<sealed_day> sealed;
  };

  // The high half: the slot index comes from the low bits, the partition
  // from the top ones (so songs with the same tag share a partition).
  static uint32_t tag_of(uint64_t hash) noexcept {
    return static_cast<uint32_t>(hash >> 32);
  }
  static uint64_t hash_of(const partition& p, const song& s) noexcept;
  static std::string_view name_of(const partition& p, const song& s) noexcept {
    return {s.name_len <= inline_name_max ? s.inline_name
                                          : p.names.data() + s.name_at,
            s.name_len};
  }
  static uint32_t find_or_insert(partition& p, std::string_view name,
                                 uint64_t hash, uint64_t offset);
  static uint32_t insert_at(partition& p, std::string_view name, uint64_t hash,
                            uint64_t offset, size_t at);
  static void rehash(partition& p);
  void note_offset(song& s, uint64_t offset, uint32_t tag) noexcept {
    if (s.last_tag != tag) {
      s.last_tag = tag;
      if (offset < s.first_offset)
        s.first_offset = offset;
    }
  }

  /// The run slot of `day` if the song's run holds it, else nullptr.
  static slot_type* run_slot(const song& s, day_number day) noexcept {
    const auto i = static_cast<uint64_t>(int64_t{day} - s.run_base);
    return i < s.run_len ? &s.run[i] : nullptr; // run_len 0 without a run
  }
  /// Whether a new `day` of the song should go to a (grown) run.
  static bool run_pays(const song& s, day_number day) noexcept;
  /// Makes or grows the song's run to hold `day`, moving its table days in.
  static slot_type* grow_run(partition& p, uint32_t index, day_number day);

  /// Adds to one slot (new day: counted); false on overflow.
  static bool add_to_slot(partition& p, uint32_t index, slot_type& slot,
                          day_number day, int64_t count);
  /// Adds to the table's total of (song, day); false on overflow.
  static bool add_to_table(partition& p, uint32_t index, day_number day,
                           int64_t count, uint64_t h);
  /// Adds a total of any size, wherever the day goes.
  static bool add_one(partition& p, uint32_t index, day_number day,
                      int64_t count);
  static bool merge_partition(partition& into, partition& from);
  static void seal_partition(partition& p);
  static void unseal_partition(partition& p);
  static void append_songs(const partition& p, std::string& out);
  /// Puts sealed groups back into the tables, so that more can be added.
  void unseal();

  template <class F>
  static void for_each_unsealed(const partition& p, uint32_t index, F&& f);

  std::vector<partition> parts_;
  bool sealed_ = false;
};

template <class F>
void partial_aggregate::for_each_day(song_ref ref, F&& f) const {
  const partition& p = parts_[ref.partition];
  const song& s = p.songs[ref.index];
  const sealed_day* t = p.sealed.data() + p.sealed_begin[ref.index];
  const sealed_day* t_end = p.sealed.data() + p.sealed_begin[ref.index + 1];
  {
    for (size_t i = 0; i < s.run_len; ++i) {
      const slot_type v = s.run[i];
      if (v == 0 || v == in_wide) // a wide total comes from the table
        continue;
      const auto day = static_cast<day_number>(s.run_base + int64_t(i));
      for (; t != t_end && t->day < day; ++t)
        f(t->day, t->total);
      f(day, static_cast<int64_t>(v - 1));
    }
  }
  for (; t != t_end; ++t)
    f(t->day, t->total);
}

template <class OnSong, class OnDay>
bool partial_aggregate::read_encoded(std::string_view in, OnSong&& on_song,
                                     OnDay&& on_day) {
  // The layout: see "byte form" in aggregate.cpp.
  const auto get = [&in](auto& v) {
    if (in.size() < sizeof v)
      return false;
    std::memcpy(&v, in.data(), sizeof v);
    in.remove_prefix(sizeof v);
    return true;
  };
  if (in.substr(0, encoded_magic.size()) != encoded_magic)
    return false;
  in.remove_prefix(encoded_magic.size());
  uint64_t songs = 0;
  if (!get(songs))
    return false;
  for (uint64_t i = 0; i < songs; ++i) {
    uint32_t len = 0;
    uint64_t offset = 0;
    if (!get(len) || in.size() < len)
      return false;
    const std::string_view name = in.substr(0, len);
    in.remove_prefix(len);
    int32_t base = 0;
    uint32_t n = 0;
    if (!get(offset) || !get(base) || !get(n) ||
        in.size() / sizeof(slot_type) < n)
      return false;
    if (n > 0 && (base < first_day || int64_t{base} + n - 1 > last_day))
      return false;
    on_song(name, offset);
    uint32_t wide = 0;
    for (uint32_t k = 0; k < n; ++k) {
      slot_type v;
      std::memcpy(&v, in.data() + size_t{k} * sizeof v, sizeof v);
      if (v == in_wide)
        ++wide;
      else if (v != 0)
        on_day(static_cast<day_number>(base + int64_t{k}), int64_t{v} - 1);
    }
    in.remove_prefix(size_t{n} * sizeof(slot_type));
    uint32_t pairs = 0;
    if (!get(pairs) || in.size() / 12 < pairs || wide > pairs)
      return false;
    for (uint32_t k = 0; k < pairs; ++k) {
      int32_t day = 0;
      int64_t total = 0;
      std::memcpy(&day, in.data(), 4);
      std::memcpy(&total, in.data() + 4, 8);
      in.remove_prefix(12);
      if (total < 0 || day < first_day || day > last_day)
        return false;
      on_day(static_cast<day_number>(day), total);
    }
  }
  return in.empty();
}

} // namespace playcount
