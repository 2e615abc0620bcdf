// core/aggregate: day totals, partial aggregates, merge and the byte form.

#include "core/aggregate.hpp"
#include "core/group_table.hpp"

#include "core/input_error.hpp"
#include "core/result_writer.hpp"
#include "support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <sys/resource.h>
#include <vector>

namespace playcount {
namespace {

using namespace playcount::test;

constexpr day_number first_day = -719162; // 0001-01-01
constexpr day_number last_day = 2932896;  // 9999-12-31

/// Adds rows one batch at a time; expects every row to be added.
void add(partial_aggregate& into, const std::vector<pending_row>& rows,
         uint32_t tag) {
  for (size_t i = 0; i < rows.size(); i += partial_aggregate::max_batch) {
    const size_t n = std::min(partial_aggregate::max_batch, rows.size() - i);
    ASSERT_EQ(into.add_rows(rows.data() + i, n, tag), n);
  }
}

pending_row row(std::string_view name, day_number day, int64_t count,
                uint64_t offset) {
  return {name, test::song_hash(name), day, count, offset};
}

/// Every song's totals by name and day (seals `p`), checking the days come
/// in ascending order and the groups are counted right.
std::map<std::string, std::map<day_number, int64_t>>
listed(partial_aggregate& p) {
  p.seal();
  std::map<std::string, std::map<day_number, int64_t>> out;
  uint64_t groups = 0;
  for (const song_ref s : p.songs_in_order()) {
    auto& days = out[std::string(p.name(s))];
    day_number previous = INT32_MIN;
    bool first = true;
    p.for_each_day(s, [&](day_number day, int64_t total) {
      EXPECT_TRUE(first || day > previous)
          << "days not ascending: " << previous << " then " << day;
      first = false;
      previous = day;
      days[day] = total;
      ++groups;
    });
    EXPECT_EQ(p.days(s), days.size());
  }
  EXPECT_EQ(p.groups(), groups);
  return out;
}

std::string result_of(std::string_view csv) {
  const run_result r = run_sequential(csv);
  EXPECT_FALSE(r.error) << *r.error;
  return r.output;
}

partial_aggregate aggregate_of(std::string_view csv) {
  const csv_layout layout = std::get<csv_layout>(read_layout(csv));
  auto seq = read_sequentially(csv, layout, bad_row_policy::fail);
  EXPECT_FALSE(seq.outcome.error);
  return std::move(seq.totals);
}

// -- group_table
// ----------------------------------------------------------------

TEST(group_table, finds_inserts_and_erases_like_a_map_through_growth) {
  std::mt19937 rng(3);
  group_table t;
  std::map<std::pair<uint32_t, int32_t>, int64_t> model;
  for (int i = 0; i < 200000; ++i) {
    // Few keys, so erasing and re-inserting happen often, and probe runs
    // wrap around the end of the table.
    const uint32_t song = rng() % 300;
    const int32_t day = static_cast<int32_t>(rng() % 40) - 20;
    if (rng() % 3 == 0) {
      EXPECT_EQ(t.erase(song, day), model.erase({song, day}) == 1);
    } else {
      bool inserted = false;
      int64_t* total =
          t.find_or_insert(song, day, group_table::hash(song, day), inserted);
      EXPECT_EQ(inserted, model.count({song, day}) == 0);
      *total += i;
      model[{song, day}] += i;
    }
    ASSERT_EQ(t.size(), model.size());
  }
  EXPECT_LE(4 * t.size(), 3 * t.capacity());
  for (const auto& [key, total] : model) {
    const int64_t* found = t.find(key.first, key.second);
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(*found, total);
  }
  size_t seen = 0;
  t.for_each([&](uint32_t song, int32_t day, int64_t total) {
    ++seen;
    EXPECT_EQ(model.at({song, day}), total);
  });
  EXPECT_EQ(seen, model.size());
  group_table copy = t;
  EXPECT_EQ(copy.size(), t.size());
  for (const auto& [key, total] : model)
    ASSERT_EQ(*copy.find(key.first, key.second), total);
}

// A table's growth writes its new pages once. A page first read (a probe)
// maps the shared zero page, and the write after it copies it and flushes
// the TLB of every core: two faults a page and an IPI, 6 % of a count when
// the allocation was a calloc (GCC makes malloc + memset one).
TEST(group_table, grows_into_pages_it_has_written_not_zero_pages_it_copies) {
  const auto minor_faults = [] {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return u.ru_minflt;
  };
  group_table t;
  bool measured = false;
  for (uint32_t song = 0; !measured; ++song) {
    // The growth into a table of 256 KiB to 2 MiB: from malloc, not the
    // huge-page mapping of larger ones.
    const bool grows = 4 * (t.size() + 1) > 3 * t.capacity();
    const size_t next_bytes = (t.capacity() + t.capacity() / 2) * 16;
    const bool watch = grows && next_bytes >= (256u << 10);
    ASSERT_LT(next_bytes, 2u << 20) << "no growth was watched";
    const long before = minor_faults();
    bool inserted = false;
    t.find_or_insert(song, 0, group_table::hash(song, 0), inserted);
    if (!watch)
      continue;
    const long faults = minor_faults() - before;
    const long pages = static_cast<long>(t.bytes() / 4096);
    EXPECT_LE(faults, pages + pages / 4 + 8)
        << pages << " pages, " << faults << " faults";
    measured = true;
  }
}

// -- the group store against a plain reference
// ------------------------------------------

struct reference_song {
  uint64_t first_offset = UINT64_MAX;
  std::map<day_number, int64_t> days;
};

// The result a plain std::map gives: songs by first offset, days ascending.
std::string reference_result(const std::map<std::string, reference_song>& m) {
  std::vector<std::pair<uint64_t, const std::string*>> order;
  for (const auto& [name, s] : m)
    order.emplace_back(s.first_offset, &name);
  std::sort(order.begin(), order.end());
  std::string out(result_header);
  for (const auto& [offset, name] : order)
    for (const auto& [day, total] : m.at(*name).days) {
      append_csv_field(out, *name);
      out += ',' + format_date(day) + ',' + std::to_string(total) + '\n';
    }
  return out;
}

struct store_shape {
  uint32_t songs;
  int32_t spread; // days from the first to the last
  bool ascending; // days ascending through the rows, as in a daily log
};

// Rows of a shape: counts mostly small, some zero, some near the 32-bit
// slot limit (so that totals go wide on runs and in the table).
std::vector<pending_row> rows_of(const store_shape& shape, size_t n,
                                 std::mt19937_64& rng,
                                 std::vector<std::string>& names) {
  names.clear();
  for (uint32_t i = 0; i < shape.songs; ++i)
    names.push_back("Song " + std::to_string(i) +
                    (i % 7 == 0 ? ", \"x\"" : ""));
  std::vector<pending_row> rows;
  for (size_t i = 0; i < n; ++i) {
    // Skewed popularity: low song numbers far more often.
    const uint64_t r = rng() % shape.songs;
    const std::string& name = names[rng() % 2 ? r : r * (rng() % 100) / 100];
    const day_number day =
        shape.ascending
            ? static_cast<day_number>(int64_t{shape.spread} * int64_t(i) /
                                      int64_t(n))
            : static_cast<day_number>(rng() % uint64_t(shape.spread)) - 400000;
    const uint64_t kind = rng() % 100;
    const int64_t count = kind == 0 ? 0
                          : kind == 1
                              ? int64_t{UINT32_MAX} - 1 - int64_t(rng() % 3)
                              : int64_t(rng() % 1000);
    rows.push_back(row(name, day, count, i * 10));
  }
  return rows;
}

TEST(partial_aggregate, matches_a_plain_map_for_every_cardinality_and_spread) {
  std::mt19937_64 rng(11);
  std::vector<std::string> names;
  for (uint32_t songs : {1u, 40u, 5000u, 100000u})
    for (int32_t spread : {1, 10, 365, 3650, 2000000})
      for (bool ascending : {false, true}) {
        const store_shape shape{songs, spread, ascending};
        SCOPED_TRACE(testing::Message() << songs << " songs over " << spread
                                        << " days, ascending " << ascending);
        const std::vector<pending_row> rows = rows_of(shape, 30000, rng, names);
        std::map<std::string, reference_song> model;
        for (const pending_row& r : rows) {
          reference_song& s = model[std::string(r.name)];
          s.first_offset = std::min(s.first_offset, r.offset);
          s.days[r.day] += r.count;
        }
        const std::string expected = reference_result(model);
        uint64_t groups = 0;
        for (const auto& [name, s] : model)
          groups += s.days.size();
        // One partial; three partials of ranges read in any order, merged
        // (side by side and not), and each sent through its byte form.
        partial_aggregate whole;
        add(whole, rows, 0);
        EXPECT_EQ(whole.groups(), groups);
        EXPECT_EQ(whole.songs(), model.size());
        std::vector<partial_aggregate> parts(3);
        const size_t third = rows.size() / 3;
        for (uint32_t k : {2u, 0u, 1u}) {
          const auto begin = rows.begin() + static_cast<ptrdiff_t>(k * third);
          const auto end =
              k == 2 ? rows.end() : begin + static_cast<ptrdiff_t>(third);
          add(parts[k], std::vector<pending_row>(begin, end), k);
        }
        partial_aggregate decoded;
        ASSERT_TRUE(partial_aggregate::decode(parts[1].encode(), decoded));
        partial_aggregate merged = std::move(parts[0]);
        ASSERT_TRUE(merged.merge(std::move(decoded), 2));
        ASSERT_TRUE(merged.merge(parts[2]));
        EXPECT_EQ(merged.groups(), groups);
        EXPECT_EQ(format_result(merged), expected);
        EXPECT_EQ(format_result(whole), expected);
        // Sealed, it still merges and encodes the same.
        partial_aggregate again;
        ASSERT_TRUE(partial_aggregate::decode(whole.encode(), again));
        EXPECT_EQ(format_result(again), expected);
      }
}

TEST(partial_aggregate, keeps_exact_totals_across_the_32_bit_slot_limit) {
  // Dense days (a run) and spread ones (the table), totals passing 2^32 by
  // steps, one row at a time and from a merge.
  const int64_t limit = int64_t{UINT32_MAX};
  std::vector<pending_row> rows;
  std::map<day_number, int64_t> expected;
  for (int round = 0; round < 3; ++round)
    for (day_number d = 0; d < 400; ++d) {
      const day_number day = d < 200 ? d : d * 1000;
      const int64_t count = (d % 3 == 0) ? limit - 1 : d;
      rows.push_back(row("A", day, count, 0));
      expected[day] += count;
    }
  partial_aggregate p;
  add(p, rows, 0);
  EXPECT_EQ(listed(p)["A"], expected);
  partial_aggregate q;
  add(q, rows, 0);
  partial_aggregate r;
  add(r, rows, 1);
  ASSERT_TRUE(q.merge(std::move(r)));
  for (auto& [day, total] : expected)
    total *= 2;
  EXPECT_EQ(listed(q)["A"], expected);
}

TEST(partial_aggregate, adds_up_to_two_to_the_63_minus_one_and_no_further) {
  for (day_number spread : {1, 100000}) { // in a run and in the table
    partial_aggregate p;
    std::vector<pending_row> rows;
    for (day_number d = 0; d < 20; ++d)
      rows.push_back(row("A", d * spread, 1, 0));
    add(p, rows, 0);
    const std::vector<pending_row> big = {
        row("A", 0, INT64_MAX - 11, 0), row("A", 0, 10, 1), row("A", 0, 1, 2)};
    EXPECT_EQ(p.add_rows(big.data(), big.size(), 0), 2u) << spread;
    EXPECT_EQ(listed(p)["A"][0], INT64_MAX) << spread;
    partial_aggregate q;
    add(q, {row("A", 0, 1, 0)}, 0);
    EXPECT_FALSE(q.merge(p)) << spread;
  }
}

TEST(partial_aggregate, keeps_a_day_whose_total_is_zero) {
  partial_aggregate p;
  std::vector<pending_row> rows;
  for (day_number d = 0; d < 30; ++d)
    rows.push_back(row("A", d, d % 2 ? 0 : 1, 0));
  rows.push_back(row("B", 5, 0, 1));
  add(p, rows, 0);
  const auto totals = listed(p);
  EXPECT_EQ(totals.at("A").size(), 30u);
  EXPECT_EQ(totals.at("A").at(1), 0);
  EXPECT_EQ(totals.at("B"), (std::map<day_number, int64_t>{{5, 0}}));
}

TEST(partial_aggregate, memory_grows_with_the_groups_not_the_span_of_days) {
  // Songs with a few days years apart cost no more than songs with a few
  // days in a row; a song with every day of a year costs at most 16 bytes a
  // day (its run is at least 1/4 full).
  const auto bytes_per_group = [](day_number step) {
    partial_aggregate p;
    std::vector<std::string> names;
    for (int i = 0; i < 20000; ++i)
      names.push_back("Song " + std::to_string(i));
    std::vector<pending_row> rows;
    for (int i = 0; i < 20000; ++i)
      for (day_number d = 0; d < 5; ++d)
        rows.push_back(row(names[i], d * step, 1, 0));
    add(p, rows, 0);
    return double(p.bytes()) / double(p.groups());
  };
  const double near = bytes_per_group(1);
  const double far = bytes_per_group(3000);
  EXPECT_LT(far, 1.2 * near);
  EXPECT_LT(far, 64.0); // songs, names and table, per group
  partial_aggregate dense;
  std::vector<pending_row> rows;
  for (day_number d = 0; d < 365; ++d)
    rows.push_back(row("A", d, 1, 0));
  add(dense, rows, 0);
  EXPECT_LT(dense.bytes() - partial_aggregate{}.bytes(), 365u * 16);
}

// -- partial_aggregate
// -----------------------------------------------------------

TEST(partial_aggregate, adds_rows_of_one_batch_across_the_32_bit_slot_limit) {
  partial_aggregate p;
  const int64_t limit = int64_t{UINT32_MAX};
  std::vector<pending_row> rows;
  int64_t a = 0, b = 0;
  for (int i = 0; i < 60; ++i) {
    const int64_t count = i % 7 == 0 ? limit - 3 : i;
    rows.push_back(row(i % 2 ? "A" : "B", 42, count, static_cast<uint64_t>(i)));
    (i % 2 ? a : b) += count;
  }
  add(p, rows, 0);
  EXPECT_EQ(format_result(p), std::string(result_header) + "B,1970-02-12," +
                                  std::to_string(b) + "\nA,1970-02-12," +
                                  std::to_string(a) + "\n");
  // And an overflow in the middle of a batch with wide totals.
  partial_aggregate q;
  const std::vector<pending_row> over = {
      row("A", 1, limit, 0), row("A", 1, INT64_MAX - limit - 1, 1),
      row("A", 1, 1, 2), row("A", 1, 1, 3), row("B", 1, 1, 4)};
  EXPECT_EQ(q.add_rows(over.data(), over.size(), 0), 3u);
}

TEST(partial_aggregate, merges_large_totals_exactly) {
  const int64_t limit = int64_t{UINT32_MAX};
  partial_aggregate a, b, a2, b2;
  for (partial_aggregate* p : {&a, &a2})
    add(*p,
        {row("A", 1, limit + 5, 0), row("A", 2, limit - 2, 1),
         row("A", 3, 1, 2)},
        0);
  for (partial_aggregate* p : {&b, &b2})
    add(*p,
        {row("A", 1, limit - 2, 5), row("A", 2, limit + 9, 6),
         row("A", 3, limit - 2, 7)},
        0);
  const std::string expected =
      std::string(result_header) + "A,1970-01-02," +
      std::to_string(2 * limit + 3) + "\nA,1970-01-03," +
      std::to_string(2 * limit + 7) + "\nA,1970-01-04," +
      std::to_string(limit - 1) + "\n";
  ASSERT_TRUE(a.merge(b));
  EXPECT_EQ(format_result(a), expected);
  ASSERT_TRUE(b2.merge(a2));
  EXPECT_EQ(format_result(b2), expected);
  partial_aggregate decoded;
  ASSERT_TRUE(partial_aggregate::decode(a.encode(), decoded));
  EXPECT_EQ(format_result(decoded), expected);
}

TEST(partial_aggregate, adds_rows_before_the_first_that_would_overflow) {
  partial_aggregate p;
  const std::vector<pending_row> rows = {
      row("A", 1, INT64_MAX - 5, 10),
      row("B", 1, 3, 20),
      row("A", 1, 5, 30),
      row("A", 1, 1, 40), // overflows
      row("C", 1, 1, 50),
  };
  EXPECT_EQ(p.add_rows(rows.data(), rows.size(), 0), 3u);
}

TEST(partial_aggregate,
     keeps_the_smallest_first_offset_over_ranges_read_in_any_order) {
  partial_aggregate p;
  add(p, {row("late", 1, 1, 500), row("x", 1, 1, 510), row("late", 1, 1, 520)},
      5);
  add(p, {row("x", 1, 1, 300), row("late", 1, 1, 310)}, 3);
  add(p, {row("early", 1, 1, 100), row("x", 1, 1, 120)}, 1);
  p.seal();
  std::vector<std::string> order;
  for (const song_ref s : p.songs_in_order()) {
    order.push_back(std::string(p.name(s)));
    if (p.name(s) == "late") {
      EXPECT_EQ(p.first_offset(s), 310u);
    }
  }
  EXPECT_EQ(order, (std::vector<std::string>{"early", "x", "late"}));
}

TEST(partial_aggregate, merge_keeps_the_minimum_first_offset_and_adds_totals) {
  partial_aggregate a, a2, b;
  for (partial_aggregate* p : {&a, &a2})
    add(*p, {row("A", 10, 1, 100), row("B", 10, 2, 200), row("A", 11, 0, 300)},
        1);
  add(b, {row("B", 10, 5, 50), row("C", 12, 7, 60), row("A", 10, 4, 400)}, 0);
  ASSERT_TRUE(a.merge(b));
  const std::string expected = std::string(result_header) + "B,1970-01-11,7\n"
                                                            "C,1970-01-13,7\n"
                                                            "A,1970-01-11,5\n"
                                                            "A,1970-01-12,0\n";
  EXPECT_EQ(format_result(a), expected);
  ASSERT_TRUE(b.merge(a2));
  EXPECT_EQ(format_result(b), expected);
  uint64_t b_offset = 0;
  for (const song_ref s : a.songs_in_order())
    if (a.name(s) == "B")
      b_offset = a.first_offset(s);
  EXPECT_EQ(b_offset, 50u);
  EXPECT_EQ(a.groups(), 4u);
}

TEST(partial_aggregate, merges_into_an_empty_aggregate_and_from_one) {
  partial_aggregate empty, a;
  add(a, {row("A", 10, 1, 100), row("B", 10, 2, 200)}, 0);
  const std::string expected = format_result(a);
  ASSERT_TRUE(a.merge(empty));
  EXPECT_EQ(format_result(a), expected);
  ASSERT_TRUE(empty.merge(a));
  EXPECT_EQ(format_result(empty), expected);
}

// Two names whose hashes share the high half (the slot tag, and so the
// partition) and whose home slots lie in one run of the partition's song
// index, so the tag alone would mix them up.
TEST(partial_aggregate, keeps_songs_apart_whose_hashes_share_a_tag) {
  const auto hash = [](const std::string& s) { return test::song_hash(s); };
  constexpr uint64_t slots = 16; // a new partition's song index
  std::vector<std::pair<uint64_t, uint32_t>> by_tag;
  const uint32_t n = 1u << 20;
  by_tag.reserve(n);
  for (uint32_t i = 0; i < n; ++i)
    by_tag.emplace_back(hash("song " + std::to_string(i)) >> 32, i);
  std::sort(by_tag.begin(), by_tag.end());
  // Among equal tags, the pair with the shortest forward distance from the
  // second's home slot to the first's.
  std::string first, second;
  uint64_t best = slots;
  for (size_t i = 0; i + 1 < by_tag.size(); ++i) {
    if (by_tag[i].first != by_tag[i + 1].first)
      continue;
    const std::string a = "song " + std::to_string(by_tag[i].second);
    const std::string b = "song " + std::to_string(by_tag[i + 1].second);
    for (const auto& [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
      const uint64_t d =
          ((hash(x) & (slots - 1)) - (hash(y) & (slots - 1))) & (slots - 1);
      if (d < best && d < 7) { // at most 8 songs: the index does not grow
        best = d;
        first = x;
        second = y;
      }
    }
  }
  if (first.empty())
    GTEST_SKIP() << "no tag collision found among " << n << " names";
  // Fill the slots from the second's home up to the first's with other songs.
  std::vector<std::string> names;
  const uint64_t home = hash(second) & (slots - 1);
  for (uint64_t k = 0; k < best; ++k) {
    for (uint32_t j = 0;; ++j) {
      const std::string f =
          "filler " + std::to_string(k) + " " + std::to_string(j);
      if ((hash(f) & (slots - 1)) == ((home + k) & (slots - 1)) &&
          partial_aggregate::partition_of(hash(f)) ==
              partial_aggregate::partition_of(hash(first)) &&
          (hash(f) >> 32) != (hash(first) >> 32)) {
        names.push_back(f);
        break;
      }
    }
  }
  names.push_back(first);
  partial_aggregate p;
  std::vector<pending_row> rows;
  uint64_t offset = 0;
  for (const auto& name : names)
    rows.push_back(row(name, 1, 1, offset++));
  add(p, rows, 0);
  // Now the second, in batches with the first, alone, and again.
  add(p, {row(second, 1, 10, offset++), row(first, 1, 100, offset++)}, 0);
  add(p, {row(second, 2, 20, offset++)}, 0);
  add(p, {row(first, 1, 1000, offset++), row(second, 1, 30, offset++)}, 1);
  EXPECT_EQ(p.songs(), names.size() + 1);
  auto totals = listed(p);
  EXPECT_EQ(totals[first], (std::map<day_number, int64_t>{{1, 1101}}));
  EXPECT_EQ(totals[second], (std::map<day_number, int64_t>{{1, 40}, {2, 20}}));
  // A merge into an aggregate holding the first only keeps them apart too.
  partial_aggregate q;
  add(q, {row(first, 1, 1, 0)}, 0);
  ASSERT_TRUE(q.merge(p));
  EXPECT_EQ(q.songs(), names.size() + 1);
}

// -- hash_bytes
// ------------------------------------------------------------------

// Equal hashes are correct but slow (every row of such a song takes the
// aggregate's slow path), so names alike but for a byte must not share one.
TEST(hash_bytes, gives_names_that_differ_in_a_few_bytes_different_hashes) {
  std::set<uint64_t> seen;
  size_t names = 0;
  const auto add = [&](const std::string& name) {
    ++names;
    EXPECT_TRUE(seen.insert(test::song_hash(name)).second)
        << "a second name with the hash of " << quote_value(name);
  };
  for (int i = 0; i < 100000; ++i) { // 1 to 26 bytes, most of 8 to 16
    add("Song " + std::to_string(i));
    add("Song " + std::to_string(i) + ", \"Live\"");
    char digits[16];
    std::snprintf(digits, sizeof digits, "%08d", i);
    add(digits);
    std::snprintf(digits, sizeof digits, "%012d", i * 7);
    add(digits);
  }
  EXPECT_EQ(seen.size(), names);
}

// Each length takes its own way of comparing: a difference at any byte must
// be seen, and equal bytes at other addresses must compare equal.
TEST(same_bytes, sees_a_difference_at_every_byte_of_names_up_to_40_bytes) {
  for (size_t n = 0; n <= 40; ++n) {
    std::string a, b;
    for (size_t i = 0; i < n; ++i)
      a += static_cast<char>('a' + i % 26);
    b = " " + a; // another address, other alignment
    const std::string_view bv = std::string_view(b).substr(1);
    EXPECT_TRUE(same_bytes(a, bv)) << n;
    if (n > 0) { // the same length, shifted by a byte
      EXPECT_FALSE(same_bytes(a, std::string_view(b).substr(0, n))) << n;
    }
    for (size_t i = 0; i < n; ++i) {
      std::string c = " " + a;
      c[1 + i] = static_cast<char>(c[1 + i] ^ 0x20);
      EXPECT_FALSE(same_bytes(a, std::string_view(c).substr(1)))
          << n << " bytes, differing at " << i;
    }
  }
}

// -- byte form
// -------------------------------------------------------------------

TEST(partial_aggregate,
     round_trips_through_its_byte_form_with_the_same_result) {
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    const std::string csv = random_doc(rng).assemble();
    partial_aggregate a = aggregate_of(csv);
    const std::string bytes = a.encode();
    partial_aggregate b;
    ASSERT_TRUE(partial_aggregate::decode(bytes, b));
    EXPECT_EQ(format_result(b), format_result(a));
    EXPECT_EQ(format_result(b), result_of(csv));
    EXPECT_EQ(b.groups(), a.groups());
    EXPECT_EQ(b.encode(), bytes);
  }
}

TEST(partial_aggregate, round_trips_zero_totals_far_days_and_odd_names) {
  partial_aggregate a;
  const std::string nul("n\0l", 3);
  add(a,
      {row("A", first_day, 0, 5), row(nul, last_day, INT64_MAX, 1),
       row("A", last_day, 3, 9), row("", 0, 1, 7), row("q\"\n,", 1, 2, 3)},
      0);
  partial_aggregate b;
  ASSERT_TRUE(partial_aggregate::decode(a.encode(), b));
  EXPECT_EQ(format_result(b), format_result(a));
  EXPECT_EQ(format_result(b), std::string(result_header) + nul +
                                  ",9999-12-31,9223372036854775807\n"
                                  "\"q\"\"\n,\",1970-01-02,2\n"
                                  "A,0001-01-01,0\n"
                                  "A,9999-12-31,3\n"
                                  ",1970-01-01,1\n");
  partial_aggregate empty, c;
  ASSERT_TRUE(partial_aggregate::decode(empty.encode(), c));
  EXPECT_EQ(format_result(c), result_header);
}

TEST(partial_aggregate, byte_form_holds_the_days_span_not_the_room_to_grow) {
  // Days from the middle outwards: each growth doubles the slots, so a song
  // holds more slots than days; only the span from the first to the last
  // day goes into the byte form (it crosses the network).
  partial_aggregate a;
  std::vector<pending_row> rows;
  for (int d = 0; d < 300; ++d)
    rows.push_back(row("A", 20000 + (d % 2 == 0 ? d / 2 : -(d + 1) / 2), 1, 0));
  add(a, rows, 0);
  const std::string one_day = [] {
    partial_aggregate b;
    add(b, {row("A", 20000, 1, 0)}, 0);
    return b.encode();
  }();
  // magic, songs, name length, "A", offset, base, slots, 300 slots, pairs
  EXPECT_EQ(a.encode().size(), 4u + 8 + 4 + 1 + 8 + 4 + 4 + 300 * 4 + 4);
  EXPECT_LT(one_day.size(), 4u + 8 + 4 + 1 + 8 + 4 + 4 + 4 + 12 + 1);
  partial_aggregate b;
  ASSERT_TRUE(partial_aggregate::decode(a.encode(), b));
  EXPECT_EQ(format_result(b), format_result(a));
  EXPECT_EQ(b.groups(), 300u);
}

TEST(partial_aggregate, decode_replaces_what_the_target_held) {
  partial_aggregate a, target;
  add(a, {row("A", 1, 1, 0)}, 0);
  add(target, {row("old", 1, 1, 0)}, 0);
  ASSERT_TRUE(partial_aggregate::decode(a.encode(), target));
  EXPECT_EQ(format_result(target), format_result(a));
}

TEST(partial_aggregate, decode_rejects_every_truncation_of_a_valid_form) {
  std::mt19937 rng(5);
  doc_shape shape;
  shape.records = 40;
  partial_aggregate a = aggregate_of(random_doc(rng, shape).assemble());
  const std::string bytes = a.encode();
  ASSERT_GT(bytes.size(), 100u);
  for (size_t n = 0; n < bytes.size(); ++n) {
    partial_aggregate out;
    EXPECT_FALSE(
        partial_aggregate::decode(std::string_view(bytes).substr(0, n), out))
        << "a prefix of " << n << " of " << bytes.size() << " bytes decoded";
  }
  partial_aggregate out;
  EXPECT_FALSE(partial_aggregate::decode(bytes + '\0', out))
      << "trailing byte accepted";
  EXPECT_TRUE(partial_aggregate::decode(bytes, out));
}

TEST(partial_aggregate, decode_rejects_garbage) {
  partial_aggregate out;
  EXPECT_FALSE(partial_aggregate::decode("", out));
  EXPECT_FALSE(partial_aggregate::decode("PCA", out));
  EXPECT_FALSE(partial_aggregate::decode("not an aggregate at all", out));
  partial_aggregate a;
  add(a, {row("A", 1, 5, 0)}, 0);
  std::string bytes = a.encode();
  std::string wrong_magic = bytes;
  wrong_magic[0] = 'X';
  EXPECT_FALSE(partial_aggregate::decode(wrong_magic, out));
  // The total is the last 8 bytes: a negative one is not a total.
  std::string negative = bytes;
  negative[negative.size() - 1] = '\x80';
  EXPECT_FALSE(partial_aggregate::decode(negative, out));
  // More days than the bytes could hold.
  std::string many_days = bytes;
  const size_t days_at = 4 + 8 + 4 + 1 + 8;
  many_days[days_at + 4] = '\x7f';
  EXPECT_FALSE(partial_aggregate::decode(many_days, out));
  // A name longer than what is left.
  std::string long_name = bytes;
  long_name[4 + 8 + 2] = '\x7f';
  EXPECT_FALSE(partial_aggregate::decode(long_name, out));
  std::mt19937 rng(17);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 64, '\0');
    for (char& c : junk)
      c = static_cast<char>(rng());
    if (i % 2)
      junk = "PCA1" + junk;
    EXPECT_FALSE(partial_aggregate::decode(junk, out))
        << testing::PrintToString(junk);
  }
  // Flipped bytes inside a valid form never crash, whatever they decode to.
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
    (void)partial_aggregate::decode(flipped, out);
  }
}

// The byte form of one song "A" at offset 0 with a dense run of `slots` from
// day `base` and the wide `pairs` after it (aggregate.cpp, "byte form").
std::string one_song_form(int32_t base, std::vector<uint32_t> slots,
                          std::vector<std::pair<int32_t, int64_t>> pairs) {
  std::string out = "PCA2";
  const auto put = [&out](auto v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  };
  put(uint64_t{1});
  put(uint32_t{1});
  out += 'A';
  put(uint64_t{0});
  put(base);
  put(static_cast<uint32_t>(slots.size()));
  for (uint32_t v : slots)
    put(v);
  put(static_cast<uint32_t>(pairs.size()));
  for (auto [day, total] : pairs) {
    put(day);
    put(total);
  }
  return out;
}

// Found by the fuzz target partial_bytes: a slot saying "wide" with no wide
// total, then a day outside the dense run, dereferenced a null map.
TEST(partial_aggregate, decode_rejects_a_wide_slot_without_its_wide_total) {
  partial_aggregate out;
  EXPECT_FALSE(partial_aggregate::decode(
      one_song_form(0, {UINT32_MAX, 3}, {{1000, 7}}), out));
  EXPECT_FALSE(
      partial_aggregate::decode(one_song_form(5, {UINT32_MAX}, {}), out));
  // With its total the same form is fine.
  ASSERT_TRUE(partial_aggregate::decode(
      one_song_form(0, {UINT32_MAX, 3}, {{0, INT64_MAX}, {1000, 7}}), out));
  EXPECT_EQ(format_result(out), std::string(result_header) +
                                    "A,1970-01-01,9223372036854775807\n"
                                    "A,1970-01-02,2\n"
                                    "A,1972-09-27,7\n");
}

// Days past the int32 range overflowed the slot index (undefined behaviour)
// and days outside 0001-01-01 .. 9999-12-31 reached the date writer.
TEST(partial_aggregate, decode_rejects_days_outside_the_calendar) {
  partial_aggregate out;
  EXPECT_FALSE(partial_aggregate::decode(
      one_song_form(INT32_MAX - 1, {1, 1, 1}, {}), out));
  EXPECT_FALSE(
      partial_aggregate::decode(one_song_form(last_day, {1, 1}, {}), out));
  EXPECT_FALSE(
      partial_aggregate::decode(one_song_form(first_day - 1, {1}, {}), out));
  EXPECT_FALSE(partial_aggregate::decode(
      one_song_form(0, {}, {{last_day + 1, 1}}), out));
  EXPECT_FALSE(
      partial_aggregate::decode(one_song_form(0, {}, {{INT32_MIN, 1}}), out));
  EXPECT_TRUE(partial_aggregate::decode(
      one_song_form(last_day - 1, {1, 2}, {{first_day, 5}}), out));
  EXPECT_EQ(format_result(out), std::string(result_header) +
                                    "A,0001-01-01,5\n"
                                    "A,9999-12-30,0\n"
                                    "A,9999-12-31,1\n");
}

} // namespace
} // namespace playcount
