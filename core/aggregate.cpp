#include "core/aggregate.hpp"

#include "core/hash.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

namespace playcount {

namespace {

// A run costs 4 bytes a day from the song's first day to its last; a table
// entry about 27 bytes a group (see group_table.hpp). A run that is at least
// 1/4 full costs at most 16 bytes a group and needs no hashing. Songs with
// fewer days stay in the table: most songs of a large catalogue have few
// plays, and a run each would cost them an allocation.
constexpr uint32_t run_min_days = 8;
constexpr int64_t run_max_span_per_day = 4;

// Runs `work(i)` for i in [0, n) on up to `threads` threads.
template <class Work>
void in_parallel(unsigned threads, size_t n, Work&& work) {
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(n)));
  if (threads == 1) {
    for (size_t i = 0; i < n; ++i)
      work(i);
    return;
  }
  std::atomic<size_t> next{0};
  const auto loop = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;)
      work(i);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t)
    pool.emplace_back(loop);
  loop();
  for (std::thread& t : pool)
    t.join();
}

} // namespace

partial_aggregate::partial_aggregate()
    : parts_(partitions) {
  for (partition& p : parts_) {
    p.slots.assign(16, slot{0, 0});
    p.mask = 15;
  }
}

// -- songs --------------------------------------------------------------------

partial_aggregate::song::song(const song& other)
    : first_offset(other.first_offset)
    , name_at(other.name_at)
    , name_len(other.name_len)
    , last_tag(other.last_tag)
    , present(other.present)
    , in_table(other.in_table)
    , lo(other.lo)
    , hi(other.hi)
    , run_base(other.run_base)
    , run_len(other.run_len) {
  std::memcpy(inline_name, other.inline_name, sizeof inline_name);
  if (other.run) {
    run = std::make_unique<slot_type[]>(run_len);
    std::memcpy(run.get(), other.run.get(), run_len * sizeof(slot_type));
  }
}

uint64_t partial_aggregate::hash_of(const partition& p,
                                    const song& s) noexcept {
  const std::string_view name = name_of(p, s);
  return hash_bytes(name.data(), name.size());
}

void partial_aggregate::rehash(partition& p) {
  p.slots.assign(p.slots.size() * 2, slot{0, 0});
  p.mask = p.slots.size() - 1;
  for (uint32_t i = 0; i < p.songs.size(); ++i) {
    // Hashed again from the name: the song has no room to keep its hash.
    const uint64_t hash = hash_of(p, p.songs[i]);
    size_t at = hash & p.mask;
    while (p.slots[at].index != 0)
      at = (at + 1) & p.mask;
    p.slots[at] = slot{tag_of(hash), i + 1};
  }
}

uint32_t partial_aggregate::insert_at(partition& p, std::string_view name,
                                      uint64_t hash, uint64_t offset,
                                      size_t at) {
  song s;
  s.name_len = static_cast<uint32_t>(name.size());
  if (name.size() <= inline_name_max) {
    std::memcpy(s.inline_name, name.data(), name.size());
  } else {
    s.name_at = p.names.size();
    p.names.append(name);
  }
  s.first_offset = offset;
  p.songs.push_back(std::move(s));
  const auto index = static_cast<uint32_t>(p.songs.size() - 1);
  p.slots[at] = slot{tag_of(hash), index + 1};
  if (p.songs.size() * 2 > p.slots.size())
    rehash(p);
  return index;
}

uint32_t partial_aggregate::find_or_insert(partition& p, std::string_view name,
                                           uint64_t hash, uint64_t offset) {
  for (size_t at = hash & p.mask;; at = (at + 1) & p.mask) {
    const slot sl = p.slots[at];
    if (sl.index == 0)
      return insert_at(p, name, hash, offset, at);
    const song& s = p.songs[sl.index - 1];
    if (sl.tag == tag_of(hash) && name_of(p, s) == name)
      return sl.index - 1;
  }
}

// -- days ---------------------------------------------------------------------

namespace {

void note_day(uint32_t& present, day_number& lo, day_number& hi,
              day_number day) noexcept {
  if (present == 0) {
    lo = hi = day;
  } else {
    lo = std::min(lo, day);
    hi = std::max(hi, day);
  }
  ++present;
}

} // namespace

bool partial_aggregate::run_pays(const song& s, day_number day) noexcept {
  if (s.present + 1 < run_min_days)
    return false;
  const int64_t lo = std::min<int64_t>(s.lo, day);
  const int64_t hi = std::max<int64_t>(s.hi, day);
  return hi - lo + 1 <= run_max_span_per_day * (int64_t{s.present} + 1);
}

// Growth is rare (amortized O(1) per new day), so it may look up every day
// of the new run in the table.
partial_aggregate::slot_type*
partial_aggregate::grow_run(partition& p, uint32_t index, day_number day) {
  song& s = p.songs[index];
  const int64_t lo = s.present == 0 ? day : std::min<int64_t>(s.lo, day);
  const int64_t hi = s.present == 0 ? day : std::max<int64_t>(s.hi, day);
  const int64_t span = hi - lo + 1;
  const bool had_run = s.run != nullptr;
  const int64_t old_base = s.run_base;
  const int64_t old_size = s.run_len;
  // Room to grow towards the side that grew, so that a run of new days (a
  // daily log) costs amortized O(1) each: double while the run stays dense
  // enough, and at least a quarter more in any case (a song played every
  // other day would otherwise grow by one slot, a copy of the run, a day).
  const int64_t dense_max = run_max_span_per_day * (int64_t{s.present} + 1);
  const int64_t size =
      std::max(span + span / 4, std::min(2 * old_size, dense_max));
  const int64_t base = had_run && day < old_base ? hi - size + 1 : lo;
  auto grown = std::make_unique<slot_type[]>(static_cast<size_t>(size));
  // The old run's days all lie in [lo, hi] (slack beyond them is empty).
  for (int64_t d = std::max(lo, old_base);
       had_run && d <= hi && d < old_base + old_size; ++d)
    grown[static_cast<size_t>(d - base)] =
        s.run[static_cast<size_t>(d - old_base)];
  for (int64_t d = lo; s.in_table > 0 && d <= hi; ++d) {
    if (had_run && d >= old_base && d < old_base + old_size)
      continue; // in the old run (a wide one stays in the table)
    const auto dd = static_cast<day_number>(d);
    int64_t* total = p.table.find(index, dd);
    if (total == nullptr)
      continue;
    if (*total < int64_t{in_wide} - 1) {
      grown[static_cast<size_t>(d - base)] = static_cast<slot_type>(*total + 1);
      p.table.erase(index, dd);
      --s.in_table;
    } else {
      grown[static_cast<size_t>(d - base)] = in_wide;
    }
  }
  p.run_bytes += static_cast<uint64_t>(size - old_size) * sizeof(slot_type);
  s.run = std::move(grown);
  s.run_len = static_cast<uint32_t>(size);
  s.run_base = static_cast<day_number>(base);
  return &s.run[static_cast<size_t>(day - base)];
}

bool partial_aggregate::add_to_slot(partition& p, uint32_t index,
                                    slot_type& slot, day_number day,
                                    int64_t count) {
  song& s = p.songs[index];
  const bool fresh = slot == 0;
  if (slot != in_wide) {
    const uint64_t sum = uint64_t{slot} + static_cast<uint64_t>(count) + fresh;
    if (sum < in_wide) {
      slot = static_cast<slot_type>(sum);
    } else {
      // Too large for a slot: the total moves to the table.
      int64_t total = 0;
      if (__builtin_add_overflow(int64_t{slot} - !fresh, count, &total))
        return false;
      bool inserted = false;
      *p.table.find_or_insert(index, day, group_table::hash(index, day),
                              inserted) = total;
      slot = in_wide;
      ++s.in_table;
    }
    if (fresh) {
      note_day(s.present, s.lo, s.hi, day);
      ++p.groups;
    }
    return true;
  }
  int64_t* total = p.table.find(index, day);
  int64_t sum = 0;
  if (__builtin_add_overflow(*total, count, &sum))
    return false;
  *total = sum;
  return true;
}

bool partial_aggregate::add_to_table(partition& p, uint32_t index,
                                     day_number day, int64_t count,
                                     uint64_t h) {
  bool inserted = false;
  int64_t* total = p.table.find_or_insert(index, day, h, inserted);
  int64_t sum = 0;
  if (__builtin_add_overflow(*total, count, &sum)) {
    if (inserted)
      p.table.erase(index, day);
    return false;
  }
  *total = sum;
  if (inserted) {
    song& s = p.songs[index];
    ++s.in_table;
    note_day(s.present, s.lo, s.hi, day);
    ++p.groups;
  }
  return true;
}

bool partial_aggregate::add_one(partition& p, uint32_t index, day_number day,
                                int64_t count) {
  const song& s = p.songs[index];
  if (slot_type* slot = run_slot(s, day))
    return add_to_slot(p, index, *slot, day, count);
  if (run_pays(s, day))
    return add_to_slot(p, index, *grow_run(p, index, day), day, count);
  return add_to_table(p, index, day, count, group_table::hash(index, day));
}

size_t partial_aggregate::add_rows(const pending_row* rows, size_t n,
                                   uint32_t tag) {
  if (sealed_) [[unlikely]]
    unseal();
  partition* part[max_batch];
  uint32_t index[max_batch];
  slot_type* total[max_batch]; // nullptr: the row goes to the table
  uint64_t table_hash[max_batch];
  // Stage 1: find a candidate song by the slot tags alone; new songs are
  // created here, in row order.
  for (size_t i = 0; i < n; ++i) {
    const pending_row& r = rows[i];
    partition& p = parts_[partition_of(r.hash)];
    part[i] = &p;
    const uint32_t want = tag_of(r.hash);
    size_t at = r.hash & p.mask;
    while (p.slots[at].index != 0 && p.slots[at].tag != want)
      at = (at + 1) & p.mask;
    if (p.slots[at].index == 0) {
      index[i] = insert_at(p, r.name, r.hash, r.offset, at);
    } else {
      index[i] = p.slots[at].index - 1;
      const char* e = reinterpret_cast<const char*>(&p.songs[index[i]]);
      __builtin_prefetch(e);
      __builtin_prefetch(e + 63);
    }
  }
  // Long names live apart from their song: fetch them before comparing.
  for (size_t i = 0; i < n; ++i) {
    const song& s = part[i]->songs[index[i]];
    if (s.name_len > inline_name_max)
      __builtin_prefetch(part[i]->names.data() + s.name_at);
  }
  // Stage 2: confirm the song, note its first offset, find where its day's
  // total is: a run slot, or the table.
  size_t added = 0;
  const auto add_until = [&](size_t end) {
    for (; added < end; ++added) {
      const pending_row& r = rows[added];
      slot_type* slot = total[added];
      if (slot != nullptr) {
        // The common case inline: a day seen before, a small total.
        const uint64_t sum = uint64_t{*slot} + static_cast<uint64_t>(r.count);
        if (*slot != 0 && sum < in_wide) {
          *slot = static_cast<slot_type>(sum);
          continue;
        }
        if (!add_to_slot(*part[added], index[added], *slot, r.day, r.count))
          return false;
      } else if (!add_to_table(*part[added], index[added], r.day, r.count,
                               table_hash[added])) {
        return false;
      }
    }
    return true;
  };
  for (size_t i = 0; i < n; ++i) {
    const pending_row& r = rows[i];
    partition& p = *part[i];
    song* s = &p.songs[index[i]];
    if (!same_bytes(name_of(p, *s), r.name)) { // rare: the tag was equal
      index[i] = find_or_insert(p, r.name, r.hash, r.offset);
      s = &p.songs[index[i]];
    }
    note_offset(*s, r.offset, tag);
    total[i] = run_slot(*s, r.day);
    if (total[i] == nullptr && run_pays(*s, r.day)) {
      // Growing moves the run and its days in the table: the rows before
      // go in first.
      if (!add_until(i))
        return added;
      total[i] = grow_run(p, index[i], r.day);
    }
    if (total[i] != nullptr) {
      __builtin_prefetch(total[i], 1);
    } else {
      table_hash[i] = group_table::hash(index[i], r.day);
      p.table.prefetch(table_hash[i]);
    }
  }
  // Stage 3: add.
  add_until(n);
  return added;
}

// -- merging ------------------------------------------------------------------

template <class F>
void partial_aggregate::for_each_unsealed(const partition& p, uint32_t index,
                                          F&& f) {
  const song& s = p.songs[index];
  for (size_t i = 0; i < s.run_len; ++i)
    if (s.run[i] != 0 && s.run[i] != in_wide)
      f(static_cast<day_number>(s.run_base + int64_t(i)),
        static_cast<int64_t>(s.run[i] - 1));
}

bool partial_aggregate::merge_partition(partition& into, partition& from) {
  if (into.songs.empty()) {
    std::swap(into, from);
    return true;
  }
  std::vector<uint32_t> to(from.songs.size());
  bool ok = true;
  for (uint32_t i = 0; i < from.songs.size(); ++i) {
    const song& s = from.songs[i];
    const uint32_t mine = find_or_insert(into, name_of(from, s),
                                         hash_of(from, s), s.first_offset);
    into.songs[mine].first_offset =
        std::min(into.songs[mine].first_offset, s.first_offset);
    to[i] = mine;
    for_each_unsealed(from, i, [&](day_number day, int64_t total) {
      ok = ok && add_one(into, mine, day, total);
    });
  }
  from.table.for_each([&](uint32_t song, day_number day, int64_t total) {
    ok = ok && add_one(into, to[song], day, total);
  });
  from = partition{};
  return ok;
}

bool partial_aggregate::merge(partial_aggregate&& other, unsigned threads) {
  unseal();
  other.unseal();
  std::atomic<bool> ok{true};
  in_parallel(threads, partitions, [&](size_t i) {
    if (!merge_partition(parts_[i], other.parts_[i]))
      ok = false;
  });
  other = partial_aggregate{};
  return ok;
}

bool partial_aggregate::merge(const partial_aggregate& other) {
  partial_aggregate copy = other;
  return merge(std::move(copy));
}

uint64_t partial_aggregate::groups() const noexcept {
  uint64_t n = 0;
  for (const partition& p : parts_)
    n += p.groups;
  return n;
}

uint64_t partial_aggregate::songs() const noexcept {
  uint64_t n = 0;
  for (const partition& p : parts_)
    n += p.songs.size();
  return n;
}

uint64_t partial_aggregate::bytes() const noexcept {
  uint64_t n = 0;
  for (const partition& p : parts_) {
    n += p.songs.capacity() * sizeof(song) + p.slots.capacity() * sizeof(slot) +
         p.names.capacity() + p.table.bytes() + p.run_bytes +
         p.sealed.capacity() * sizeof(sealed_day) +
         p.sealed_begin.capacity() * sizeof(uint64_t);
  }
  return n;
}

// -- reading ------------------------------------------------------------------

// The table's groups, ordered by song then day (a counting sort by song,
// then each song's few days sorted), replace the table.
void partial_aggregate::seal_partition(partition& p) {
  const size_t n = p.songs.size();
  p.sealed_begin.assign(n + 1, 0);
  p.table.for_each(
      [&](uint32_t song, day_number, int64_t) { ++p.sealed_begin[song + 1]; });
  for (size_t i = 0; i < n; ++i)
    p.sealed_begin[i + 1] += p.sealed_begin[i];
  p.sealed.resize(p.table.size());
  std::vector<uint64_t> at(p.sealed_begin.begin(), p.sealed_begin.end() - 1);
  p.table.for_each([&](uint32_t song, day_number day, int64_t total) {
    p.sealed[at[song]++] = sealed_day{day, total};
  });
  p.table.clear();
  for (size_t i = 0; i < n; ++i)
    std::sort(
        p.sealed.begin() + static_cast<ptrdiff_t>(p.sealed_begin[i]),
        p.sealed.begin() + static_cast<ptrdiff_t>(p.sealed_begin[i + 1]),
        [](const sealed_day& a, const sealed_day& b) { return a.day < b.day; });
}

void partial_aggregate::seal(unsigned threads) {
  if (sealed_)
    return;
  sealed_ = true;
  in_parallel(threads, partitions,
              [&](size_t i) { seal_partition(parts_[i]); });
}

void partial_aggregate::unseal_partition(partition& p) {
  for (uint32_t i = 0; i + 1 < p.sealed_begin.size(); ++i)
    for (uint64_t k = p.sealed_begin[i]; k < p.sealed_begin[i + 1]; ++k) {
      bool inserted = false;
      *p.table.find_or_insert(i, p.sealed[k].day,
                              group_table::hash(i, p.sealed[k].day), inserted) =
          p.sealed[k].total;
    }
  p.sealed = {};
  p.sealed_begin = {};
}

void partial_aggregate::unseal() {
  if (!sealed_)
    return;
  sealed_ = false;
  for (partition& p : parts_)
    unseal_partition(p);
}

std::vector<song_ref> partial_aggregate::songs_in_order() const {
  struct keyed {
    uint64_t first_offset;
    song_ref ref;
  };
  std::vector<keyed> all;
  all.reserve(songs());
  for (uint32_t p = 0; p < partitions; ++p)
    for (uint32_t i = 0; i < parts_[p].songs.size(); ++i)
      all.push_back({parts_[p].songs[i].first_offset, song_ref{p, i}});
  std::sort(all.begin(), all.end(), [](const keyed& a, const keyed& b) {
    return a.first_offset != b.first_offset ? a.first_offset < b.first_offset
           : a.ref.partition != b.ref.partition
               ? a.ref.partition < b.ref.partition
               : a.ref.index < b.ref.index;
  });
  std::vector<song_ref> order(all.size());
  for (size_t i = 0; i < all.size(); ++i)
    order[i] = all[i].ref;
  return order;
}

// -- byte form ----------------------------------------------------------------
// "PCA2", u64 songs; per song: u32 name length, name, u64 first offset, then
// its days: i32 base, u32 n, n u32 run slots (0: no record, else total + 1,
// in_wide: see below) for base .. base + n - 1, then u32 w and w pairs
// (i32 day, i64 total) for the days in the table (the wide totals of run
// slots among them). Runs copy as they are: no work per day. Little-endian,
// as the host.

namespace {

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <class T>
bool get(std::string_view& in, T& v) {
  if (in.size() < sizeof v)
    return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}

constexpr std::string_view magic = partial_aggregate::encoded_magic;

} // namespace

void partial_aggregate::append_songs(const partition& p, std::string& out) {
  for (uint32_t i = 0; i < p.songs.size(); ++i) {
    const song& s = p.songs[i];
    put<uint32_t>(out, s.name_len);
    out += name_of(p, s);
    put<uint64_t>(out, s.first_offset);
    // Only the slots from the first day to the last: growth leaves room.
    size_t lo = 0;
    size_t hi = s.run_len;
    while (lo < hi && s.run[lo] == 0)
      ++lo;
    while (hi > lo && s.run[hi - 1] == 0)
      --hi;
    put<int32_t>(
        out, hi > lo ? static_cast<day_number>(s.run_base + int64_t(lo)) : 0);
    put<uint32_t>(out, static_cast<uint32_t>(hi - lo));
    if (hi > lo)
      out.append(reinterpret_cast<const char*>(s.run.get() + lo),
                 (hi - lo) * sizeof(slot_type));
    const uint64_t b = p.sealed_begin[i];
    const uint64_t e = p.sealed_begin[i + 1];
    put<uint32_t>(out, static_cast<uint32_t>(e - b));
    for (uint64_t k = b; k < e; ++k) {
      put<int32_t>(out, p.sealed[k].day);
      put<int64_t>(out, p.sealed[k].total);
    }
  }
}

std::string partial_aggregate::encode() {
  seal();
  std::string out;
  out.reserve(16 + songs() * 32 + groups() * 8);
  out += magic;
  put<uint64_t>(out, songs());
  for (const partition& p : parts_)
    append_songs(p, out);
  return out;
}

std::string partial_aggregate::encode_partition(uint32_t p) {
  seal();
  std::string out;
  out.reserve(16 + parts_[p].songs.size() * 32 + parts_[p].groups * 8);
  out += magic;
  put<uint64_t>(out, parts_[p].songs.size());
  append_songs(parts_[p], out);
  return out;
}

partial_aggregate partial_aggregate::take_partition(uint32_t p) {
  partial_aggregate out;
  std::swap(out.parts_[p], parts_[p]);
  out.sealed_ = sealed_;
  return out;
}

bool partial_aggregate::decode(std::string_view bytes, partial_aggregate& out) {
  out = partial_aggregate{};
  if (bytes.substr(0, magic.size()) != magic)
    return false;
  std::string_view in = bytes.substr(magic.size());
  uint64_t songs = 0;
  if (!get(in, songs))
    return false;
  // The bytes come from another node: a day outside the calendar (or whose
  // slot index overflows), or a slot that says "wide" with no total for it,
  // is refused rather than trusted.
  std::vector<day_number> wide_days;
  std::vector<day_number> pair_days;
  for (uint64_t i = 0; i < songs; ++i) {
    uint32_t len = 0;
    uint64_t offset = 0;
    if (!get(in, len) || in.size() < len)
      return false;
    const auto name = in.substr(0, len);
    in.remove_prefix(len);
    if (!get(in, offset))
      return false;
    const uint64_t hash = hash_bytes(name.data(), name.size());
    partition& p = out.parts_[partition_of(hash)];
    const uint32_t index = find_or_insert(p, name, hash, offset);
    p.songs[index].first_offset = std::min(p.songs[index].first_offset, offset);
    int32_t base = 0;
    uint32_t n = 0;
    if (!get(in, base) || !get(in, n) || in.size() / sizeof(slot_type) < n)
      return false;
    if (n > 0 && (base < first_day || int64_t{base} + n - 1 > last_day))
      return false;
    wide_days.clear();
    for (uint32_t k = 0; k < n; ++k) {
      slot_type v;
      std::memcpy(&v, in.data() + size_t{k} * sizeof v, sizeof v);
      const auto day = static_cast<day_number>(base + int64_t{k});
      if (v == in_wide)
        wide_days.push_back(day);
      else if (v != 0 && !add_one(p, index, day, v - 1))
        return false;
    }
    in.remove_prefix(size_t{n} * sizeof(slot_type));
    uint32_t pairs = 0;
    if (!get(in, pairs) || in.size() / 12 < pairs)
      return false;
    pair_days.clear();
    for (uint32_t k = 0; k < pairs; ++k) {
      int32_t day = 0;
      int64_t total = 0;
      (void)get(in, day);
      (void)get(in, total);
      if (total < 0 || day < first_day || day > last_day)
        return false;
      if (!wide_days.empty())
        pair_days.push_back(day);
      if (!add_one(p, index, day, total))
        return false;
    }
    // Every slot that said "wide" must have had its total.
    std::sort(pair_days.begin(), pair_days.end());
    for (day_number day : wide_days)
      if (!std::binary_search(pair_days.begin(), pair_days.end(), day))
        return false;
  }
  return in.empty();
}

} // namespace playcount
