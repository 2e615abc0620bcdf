// core/aggregate: day totals, partial aggregates, merge and the byte form.

#include "core/aggregate.hpp"

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

std::map<day_number, int64_t> listed(const day_totals& t) {
  std::map<day_number, int64_t> out;
  day_number previous = INT32_MIN;
  bool first = true;
  t.for_each([&](day_number day, int64_t total) {
    EXPECT_TRUE(first || day > previous)
        << "days not ascending: " << previous << " then " << day;
    first = false;
    previous = day;
    out[day] = total;
  });
  EXPECT_EQ(t.size(), out.size());
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

// -- day_totals
// ----------------------------------------------------------------

TEST(day_totals, lists_days_far_apart_in_ascending_order) {
  day_totals t;
  EXPECT_TRUE(t.add(last_day, 5));
  EXPECT_TRUE(t.add(first_day, 7));
  EXPECT_TRUE(t.add(0, 0));
  EXPECT_TRUE(t.add(last_day, 1));
  EXPECT_EQ(listed(t), (std::map<day_number, int64_t>{
                           {first_day, 7}, {0, 0}, {last_day, 6}}));
}

TEST(day_totals, keeps_the_right_totals_for_thousands_of_scattered_days) {
  std::mt19937 rng(99);
  day_totals t;
  std::map<day_number, int64_t> expected;
  for (int i = 0; i < 20000; ++i) {
    day_number day;
    switch (rng() % 4) {
    case 0: // anywhere in years 1..9999
      day = first_day +
            static_cast<day_number>(rng() % (last_day - first_day + 1));
      break;
    case 1: // a busy month
      day = 18000 + static_cast<day_number>(rng() % 31);
      break;
    case 2: // the two ends
      day = rng() % 2 ? first_day : last_day;
      break;
    default: // near a day seen before
      day = expected.empty()
                ? 0
                : std::next(expected.begin(),
                            static_cast<long>(rng() % expected.size()))
                          ->first +
                      static_cast<day_number>(rng() % 5);
      day = std::clamp(day, first_day, last_day);
      break;
    }
    const int64_t count =
        rng() % 3 == 0 ? 0 : static_cast<int64_t>(rng() % 1000);
    ASSERT_TRUE(t.add(day, count));
    expected[day] += count;
    if (i % 4000 == 0) {
      ASSERT_EQ(listed(t), expected) << "after " << i << " additions";
    }
  }
  EXPECT_EQ(listed(t), expected);
}

TEST(day_totals,
     goes_from_spread_out_days_back_to_dense_ones_without_losing_totals) {
  day_totals t;
  std::map<day_number, int64_t> expected;
  const auto put = [&](day_number day, int64_t count) {
    ASSERT_TRUE(t.add(day, count));
    expected[day] += count;
  };
  put(100, 1);
  put(100000, 2); // far: spread out
  for (day_number d = 100; d <= 400; ++d)
    put(d, d % 7); // many close days after it
  for (day_number d = 99990; d >= 99000; d -= 3)
    put(d, 1); // growing downwards
  put(-500000, 3);
  for (day_number d = -500000; d < -499000; d += 2)
    put(d, 2);
  EXPECT_EQ(listed(t), expected);
}

// Two days far apart, then the days between them filled from the top down:
// the totals become dense enough to go back to one slot per day.
TEST(day_totals, goes_back_to_one_slot_per_day_when_spread_days_fill_in) {
  for (int direction : {-1, 1}) {
    SCOPED_TRACE(direction);
    day_totals t;
    std::map<day_number, int64_t> expected;
    const auto put = [&](day_number day, int64_t count) {
      ASSERT_TRUE(t.add(day, count));
      expected[day] += count;
    };
    put(0, 1);
    put(1000, 2);
    for (int k = 1; k < 1000; ++k) {
      const day_number day = direction < 0 ? 1000 - k : k;
      put(day, k % 5);
      if (k % 50 == 0)
        put(day, 1); // an existing day again
      if (k % 97 == 0) {
        ASSERT_EQ(listed(t), expected) << "after " << k << " days";
      }
    }
    EXPECT_EQ(listed(t), expected);
    put(-3000, 9); // and spread out again
    put(5000, 9);
    EXPECT_EQ(listed(t), expected);
  }
}

TEST(day_totals, adds_up_to_two_to_the_63_minus_one_and_no_further) {
  day_totals t;
  EXPECT_EQ(*t.slot(10), 0u);
  EXPECT_TRUE(t.add(10, 4000000000)); // past 32 bits: the total moves wide
  EXPECT_TRUE(t.add(10, INT64_MAX - 4000000001));
  EXPECT_TRUE(t.add(10, 1));
  EXPECT_FALSE(t.add(10, 1));
  EXPECT_EQ(listed(t), (std::map<day_number, int64_t>{{10, INT64_MAX}}));
  day_totals u;
  EXPECT_TRUE(u.add(1, INT64_MAX));
  EXPECT_FALSE(u.add(1, 1));
  EXPECT_FALSE(u.add(1, INT64_MAX));
  EXPECT_TRUE(u.add(1, 0));
  EXPECT_EQ(listed(u), (std::map<day_number, int64_t>{{1, INT64_MAX}}));
}

TEST(day_totals, keeps_a_day_whose_total_is_zero_and_not_an_untouched_slot) {
  day_totals t;
  EXPECT_TRUE(t.add(5, 0));
  (void)t.slot(6); // a slot handed out but never added to
  EXPECT_EQ(listed(t), (std::map<day_number, int64_t>{{5, 0}}));
}

// Totals past what a small slot holds (a slot keeps total + 1 in 32 bits,
// larger totals move elsewhere): the sums must not notice.
TEST(day_totals, keeps_exact_totals_across_the_32_bit_slot_limit) {
  const int64_t limit = int64_t{UINT32_MAX};
  for (int64_t first : {limit - 3, limit - 2, limit - 1, limit, limit + 1}) {
    SCOPED_TRACE(first);
    day_totals t;
    int64_t expected = 0;
    for (int64_t count : {first, int64_t{0}, int64_t{1}, int64_t{1}, int64_t{1},
                          limit, int64_t{7}}) {
      ASSERT_TRUE(t.add(3, count));
      expected += count;
      ASSERT_EQ(listed(t), (std::map<day_number, int64_t>{{3, expected}}));
    }
  }
  // Small counts that add up past the limit one by one.
  day_totals u;
  ASSERT_TRUE(u.add(-5, limit - 4));
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(u.add(-5, 1));
  EXPECT_EQ(listed(u), (std::map<day_number, int64_t>{{-5, limit + 2}}));
}

TEST(day_totals, keeps_exact_large_totals_on_dense_and_spread_days) {
  std::mt19937 rng(8);
  const int64_t counts[] = {
      0,          1,          2,          4294967293,    4294967294,
      4294967295, 4294967296, 2147483648, 1000000000000, 1000000000000000};
  day_totals t;
  std::map<day_number, int64_t> expected;
  for (int i = 0; i < 5000; ++i) {
    const day_number day =
        i < 2500 ? 18000 + static_cast<day_number>(rng() % 300)
                 : first_day +
                       static_cast<day_number>(rng() % (last_day - first_day));
    const int64_t count = counts[rng() % 10];
    ASSERT_TRUE(t.add(day, count));
    expected[day] += count;
    if (i % 500 == 0) {
      ASSERT_EQ(listed(t), expected) << "after " << i;
    }
  }
  EXPECT_EQ(listed(t), expected);
  // Wide totals survive the way back to one slot per day too.
  day_totals v;
  std::map<day_number, int64_t> v_expected;
  for (day_number d : {0, 1000})
    for (int k = 0; k < 2; ++k) {
      ASSERT_TRUE(v.add(d, 4294967295));
      v_expected[d] += 4294967295;
    }
  for (day_number d = 999; d > 0; --d) {
    ASSERT_TRUE(v.add(d, d % 3 ? 5 : 4294967296));
    v_expected[d] += d % 3 ? 5 : 4294967296;
  }
  EXPECT_EQ(listed(v), v_expected);
}

TEST(day_totals,
     refuses_a_large_total_past_two_to_the_63_minus_one_and_keeps_it) {
  day_totals t;
  ASSERT_TRUE(t.add(1, INT64_MAX - 10));
  EXPECT_TRUE(t.add(1, 10));
  EXPECT_FALSE(t.add(1, 1));
  EXPECT_FALSE(t.add(1, INT64_MAX));
  EXPECT_EQ(listed(t), (std::map<day_number, int64_t>{{1, INT64_MAX}}));
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
  std::vector<std::string> order;
  for (uint32_t i : p.songs_in_order())
    order.push_back(p.songs()[i].name);
  EXPECT_EQ(order, (std::vector<std::string>{"early", "x", "late"}));
  for (const auto& s : p.songs()) {
    if (s.name == "late") {
      EXPECT_EQ(s.first_offset, 310u);
    }
  }
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
  for (const auto& s : a.songs())
    if (s.name == "B")
      b_offset = s.first_offset;
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

// Two names whose hashes share the high half (the slot tag) and whose home
// slots lie in one run of the table, so the tag alone would mix them up.
TEST(partial_aggregate, keeps_songs_apart_whose_hashes_share_a_tag) {
  const auto hash = [](const std::string& s) { return test::song_hash(s); };
  constexpr uint64_t slots = 1024; // a new aggregate's table
  std::vector<std::pair<uint64_t, uint32_t>> by_tag;
  const uint32_t n = 1u << 18;
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
      if (d < best && d < 300) {
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
  EXPECT_EQ(p.songs().size(), names.size() + 1);
  std::map<std::string, std::map<day_number, int64_t>> totals;
  for (const auto& s : p.songs())
    totals[s.name] = listed(s.days);
  EXPECT_EQ(totals[first], (std::map<day_number, int64_t>{{1, 1101}}));
  EXPECT_EQ(totals[second], (std::map<day_number, int64_t>{{1, 40}, {2, 20}}));
  // A merge into an aggregate holding the first only keeps them apart too.
  partial_aggregate q;
  add(q, {row(first, 1, 1, 0)}, 0);
  ASSERT_TRUE(q.merge(p));
  EXPECT_EQ(q.songs().size(), names.size() + 1);
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
    const partial_aggregate a = aggregate_of(csv);
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
  EXPECT_EQ(a.encode().size(), one_day.size() + 299 * 4);
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
  const partial_aggregate a = aggregate_of(random_doc(rng, shape).assemble());
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
      one_song_form(0, {day_totals::in_wide, 3}, {{1000, 7}}), out));
  EXPECT_FALSE(
      partial_aggregate::decode(one_song_form(5, {day_totals::in_wide}, {}), out));
  // With its total the same form is fine.
  ASSERT_TRUE(partial_aggregate::decode(
      one_song_form(0, {day_totals::in_wide, 3}, {{0, INT64_MAX}, {1000, 7}}),
      out));
  EXPECT_EQ(format_result(out), std::string(result_header) +
                                    "A,1970-01-01,9223372036854775807\n"
                                    "A,1970-01-02,2\n"
                                    "A,1972-09-27,7\n");
}

// Days past the int32 range overflowed the slot index (undefined behaviour)
// and days outside 0001-01-01 .. 9999-12-31 reached the date writer.
TEST(partial_aggregate, decode_rejects_days_outside_the_calendar) {
  partial_aggregate out;
  EXPECT_FALSE(
      partial_aggregate::decode(one_song_form(INT32_MAX - 1, {1, 1, 1}, {}), out));
  EXPECT_FALSE(
      partial_aggregate::decode(one_song_form(last_day, {1, 1}, {}), out));
  EXPECT_FALSE(
      partial_aggregate::decode(one_song_form(first_day - 1, {1}, {}), out));
  EXPECT_FALSE(
      partial_aggregate::decode(one_song_form(0, {}, {{last_day + 1, 1}}), out));
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
