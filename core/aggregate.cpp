#include "core/aggregate.hpp"

#include "core/hash.hpp"

#include <algorithm>
#include <numeric>

namespace playcount {

// -- day_totals ---------------------------------------------------------------

namespace {

// Dense stays at least 1/16 full (or small): memory grows with the number of
// groups, not with how far apart a song's dates are. A day in the sparse map
// costs a 48-byte node, so a dense array 1/16 full costs about as much. A
// stricter bound (1/8) kept the songs of a year of dates sparse for twice as
// many rows, and their map lookups, cache misses each, took some 8% of a job.
constexpr bool dense_fits(int64_t span, uint64_t present) noexcept {
  return span <= 64 || span <= 16 * static_cast<int64_t>(present + 1);
}

} // namespace

bool day_totals::add_wide(day_number day, int64_t count) {
  slot_type& v = *slot(day);
  int64_t total = 0;
  if (v == in_wide)
    total = wide_->at(day);
  else if (v != 0)
    total = static_cast<int64_t>(v - 1);
  if (__builtin_add_overflow(total, count, &total))
    return false;
  if (!wide_)
    wide_ = std::make_unique<std::map<day_number, int64_t>>();
  (*wide_)[day] = total;
  v = in_wide;
  return true;
}

bool day_totals::sparse_map_moves(day_number day) const noexcept {
  if (sparse_->count(day) != 0)
    return false;
  const int64_t lo = std::min<int64_t>(sparse_->begin()->first, day);
  const int64_t hi = std::max<int64_t>(sparse_->rbegin()->first, day);
  return dense_fits(hi - lo + 1, sparse_->size() + 1);
}

uint64_t day_totals::size() const noexcept {
  uint64_t n = 0;
  for_each([&n](day_number, int64_t) { ++n; });
  return n;
}

// Growth is rare (amortized O(1) per new day), so it may count what it needs.
day_totals::slot_type* day_totals::slow_slot(day_number day) {
  if (sparse_) {
    auto [it, inserted] = sparse_->try_emplace(day, 0);
    const int64_t span = int64_t{sparse_->rbegin()->first} -
                         sparse_->begin()->first + 1;
    if (!inserted || !dense_fits(span, sparse_->size()))
      return &it->second;
    // Dense enough now (days arrive in any order): back to one slot per day.
    base_ = sparse_->begin()->first;
    dense_.assign(static_cast<size_t>(span), 0);
    for (auto& [d, biased] : *sparse_)
      dense_[static_cast<size_t>(int64_t{d} - base_)] = biased;
    sparse_.reset();
    return &dense_[static_cast<size_t>(int64_t{day} - base_)];
  }
  if (dense_.empty()) {
    base_ = day;
    dense_.assign(1, 0);
    return &dense_[0];
  }
  const int64_t old_lo = base_;
  const int64_t old_hi = base_ + static_cast<int64_t>(dense_.size()) - 1;
  const int64_t lo = std::min<int64_t>(old_lo, day);
  const int64_t hi = std::max<int64_t>(old_hi, day);
  const int64_t span = hi - lo + 1;
  const uint64_t present = size();
  if (!dense_fits(span, present)) {
    sparse_ = std::make_unique<std::map<day_number, slot_type>>();
    for (size_t i = 0; i < dense_.size(); ++i)
      if (dense_[i] != 0)
        sparse_->emplace(static_cast<day_number>(base_ + int64_t(i)), dense_[i]);
    dense_ = {};
    return &sparse_->try_emplace(day, 0).first->second;
  }
  // Room to grow towards the side that grew, so a run of new days costs
  // amortized O(1) each.
  int64_t size = std::max<int64_t>(span, 2 * static_cast<int64_t>(dense_.size()));
  if (!dense_fits(size, present))
    size = span;
  const int64_t new_lo = day < old_lo ? hi - size + 1 : lo;
  std::vector<slot_type> grown(static_cast<size_t>(size), 0);
  std::copy(dense_.begin(), dense_.end(), grown.begin() + (old_lo - new_lo));
  dense_ = std::move(grown);
  base_ = static_cast<day_number>(new_lo);
  return &dense_[static_cast<size_t>(day - new_lo)];
}

// -- partial_aggregate --------------------------------------------------------

partial_aggregate::partial_aggregate() : slots_(1024, slot{0, 0}), mask_(1023) {
}

void partial_aggregate::rehash() {
  slots_.assign(slots_.size() * 2, slot{0, 0});
  mask_ = slots_.size() - 1;
  for (uint32_t i = 0; i < songs_.size(); ++i) {
    size_t at = songs_[i].hash & mask_;
    while (slots_[at].index != 0)
      at = (at + 1) & mask_;
    slots_[at] = slot{tag_of(songs_[i].hash), i + 1};
  }
}

uint32_t partial_aggregate::find_or_insert(std::string_view name,
                                           uint64_t hash, uint64_t offset,
                                           size_t start_slot) {
  for (size_t at = start_slot;; at = (at + 1) & mask_) {
    const slot sl = slots_[at];
    if (sl.index == 0) {
      songs_.push_back(
        song{std::string(name), hash, day_totals{}, offset, no_tag});
      const auto index = static_cast<uint32_t>(songs_.size() - 1);
      slots_[at] = slot{tag_of(hash), index + 1};
      if (songs_.size() * 2 > slots_.size())
        rehash();
      return index;
    }
    const song& s = songs_[sl.index - 1];
    if (sl.tag == tag_of(hash) && s.hash == hash && s.name == name)
      return sl.index - 1;
  }
}

size_t partial_aggregate::add_rows(const pending_row* rows, size_t n,
                                   uint32_t tag) {
  uint32_t index[max_batch];
  day_totals::slot_type* total[max_batch];
  // Stage 1: find a candidate song by the slot tags alone; new songs are
  // created here, in row order.
  for (size_t i = 0; i < n; ++i) {
    const pending_row& r = rows[i];
    const uint32_t want = tag_of(r.hash);
    size_t at = r.hash & mask_;
    while (slots_[at].index != 0 && slots_[at].tag != want)
      at = (at + 1) & mask_;
    if (slots_[at].index == 0) {
      index[i] = find_or_insert(r.name, r.hash, r.offset, at);
    } else {
      index[i] = slots_[at].index - 1;
      const char* e = reinterpret_cast<const char*>(&songs_[index[i]]);
      __builtin_prefetch(e);
      __builtin_prefetch(e + 64);
    }
  }
  // Stage 2: confirm the song, note its first offset, find the total.
  size_t added = 0;
  const auto add_until = [&](size_t end) {
    for (; added < end; ++added)
      if (!day_totals::add_small(*total[added], rows[added].count) &&
          !songs_[index[added]].days.add_wide(rows[added].day,
                                              rows[added].count))
        return false;
    return true;
  };
  for (size_t i = 0; i < n; ++i) {
    const pending_row& r = rows[i];
    song* s = &songs_[index[i]];
    if (s->hash != r.hash || !same_bytes(s->name, r.name)) { // rare
      index[i] = find_or_insert(r.name, r.hash, r.offset, r.hash & mask_);
      s = &songs_[index[i]];
    }
    note_offset(*s, r.offset, tag);
    total[i] = s->days.dense_slot(r.day);
    if (total[i] == nullptr) {
      if (s->days.slot_moves_others(r.day) && !add_until(i))
        return added;
      total[i] = s->days.slot(r.day);
    }
    __builtin_prefetch(total[i], 1);
  }
  // Stage 3: add.
  add_until(n);
  return added;
}

bool partial_aggregate::merge(const partial_aggregate& other) {
  for (const song& s : other.songs_) {
    song& mine = songs_[find_or_insert(s.name, s.hash, s.first_offset,
                                       s.hash & mask_)];
    mine.first_offset = std::min(mine.first_offset, s.first_offset);
    bool ok = true;
    s.days.for_each([&](day_number day, int64_t total) {
      ok = ok && mine.days.add(day, total);
    });
    if (!ok)
      return false;
  }
  return true;
}

uint64_t partial_aggregate::groups() const noexcept {
  uint64_t n = 0;
  for (const song& s : songs_)
    n += s.days.size();
  return n;
}

std::vector<uint32_t> partial_aggregate::songs_in_order() const {
  std::vector<uint32_t> order(songs_.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [this](uint32_t a, uint32_t b) {
    return songs_[a].first_offset < songs_[b].first_offset;
  });
  return order;
}

// -- byte form ----------------------------------------------------------------
// "PCA2", u64 songs; per song: u32 name length, name, u64 first offset, then
// its days. Days: i32 base, u32 n, n u32 slots as in day_totals (0: no
// record, else total + 1, in_wide: see below) for base .. base + n - 1, then
// u32 w and w pairs (i32 day, i64 total) for the wide totals and, for songs
// held sparse, every total. Dense runs copy as they are: no work per day.
// Little-endian, as the host.

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

constexpr std::string_view magic = "PCA2";

} // namespace

void day_totals::append_to(std::string& out) const {
  const bool dense = !sparse_;
  // Only the slots from the first day to the last: growth leaves room on
  // either side (often more than the days themselves).
  size_t lo = 0;
  size_t hi = dense ? dense_.size() : 0;
  while (lo < hi && dense_[lo] == 0)
    ++lo;
  while (hi > lo && dense_[hi - 1] == 0)
    --hi;
  put<int32_t>(out, hi > lo ? static_cast<day_number>(base_ + int64_t(lo)) : 0);
  put<uint32_t>(out, static_cast<uint32_t>(hi - lo));
  if (hi > lo)
    out.append(reinterpret_cast<const char*>(dense_.data() + lo),
               (hi - lo) * sizeof(slot_type));
  uint32_t pairs = 0;
  const size_t count_at = out.size();
  put<uint32_t>(out, 0);
  const auto pair = [&](day_number day, int64_t total) {
    put<int32_t>(out, day);
    put<int64_t>(out, total);
    ++pairs;
  };
  if (dense) {
    if (wide_)
      for (auto& [day, total] : *wide_)
        pair(day, total);
  } else {
    for_each(pair);
  }
  std::memcpy(out.data() + count_at, &pairs, sizeof pairs);
}

bool day_totals::add_from(std::string_view& in) {
  // The bytes come from another node: a day outside the calendar (or whose
  // slot index overflows), or a slot that says "wide" with no total for it,
  // is refused rather than trusted.
  constexpr int64_t first_day = -719162; // 0001-01-01
  constexpr int64_t last_day = 2932896;  // 9999-12-31
  int32_t base = 0;
  uint32_t n = 0;
  if (!get(in, base) || !get(in, n) || in.size() / sizeof(slot_type) < n)
    return false;
  if (n > 0 && (base < first_day || int64_t{base} + n - 1 > last_day))
    return false;
  const char* slots = in.data();
  in.remove_prefix(size_t{n} * sizeof(slot_type));
  // Days whose slot says "wide": their totals follow as pairs. Until then
  // the slot holds 0, so that no slot says "wide" without a wide total.
  std::vector<day_number> wide_days;
  if (n > 0 && sparse_ == nullptr && dense_.empty() && !wide_) {
    base_ = base; // a fresh song: take the run as it is
    dense_.resize(n);
    std::memcpy(dense_.data(), slots, size_t{n} * sizeof(slot_type));
    for (uint32_t i = 0; i < n; ++i)
      if (dense_[i] == in_wide) {
        dense_[i] = 0;
        wide_days.push_back(static_cast<day_number>(base + int64_t{i}));
      }
  } else {
    for (uint32_t i = 0; i < n; ++i) {
      slot_type v;
      std::memcpy(&v, slots + size_t{i} * sizeof v, sizeof v);
      const auto day = static_cast<day_number>(base + int64_t{i});
      if (v == in_wide)
        wide_days.push_back(day);
      else if (v != 0 && !add(day, v - 1))
        return false;
    }
  }
  uint32_t pairs = 0;
  if (!get(in, pairs) || in.size() / 12 < pairs)
    return false;
  std::vector<day_number> pair_days;
  for (uint32_t i = 0; i < pairs; ++i) {
    int32_t day = 0;
    int64_t total = 0;
    (void)get(in, day);
    (void)get(in, total);
    if (total < 0 || day < first_day || day > last_day)
      return false;
    if (!wide_days.empty())
      pair_days.push_back(day);
    if (!add(day, total))
      return false;
  }
  // Every slot that said "wide" must have had its total.
  std::sort(pair_days.begin(), pair_days.end());
  for (day_number day : wide_days)
    if (!std::binary_search(pair_days.begin(), pair_days.end(), day))
      return false;
  return true;
}

std::string partial_aggregate::encode() const {
  std::string out;
  out.reserve(16 + songs_.size() * 48 + groups() * 4);
  out += magic;
  put<uint64_t>(out, songs_.size());
  for (const song& s : songs_) {
    put<uint32_t>(out, static_cast<uint32_t>(s.name.size()));
    out += s.name;
    put<uint64_t>(out, s.first_offset);
    s.days.append_to(out);
  }
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
    song& s = out.songs_[out.find_or_insert(name, hash, offset,
                                            hash & out.mask_)];
    s.first_offset = std::min(s.first_offset, offset);
    if (!s.days.add_from(in))
      return false;
  }
  return in.empty();
}

} // namespace playcount
