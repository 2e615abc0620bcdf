// core/split: nominal chunks, quote-parity scans and the range plan. Ranges
// must start on record boundaries and cover [data_begin, size) exactly,
// whatever the range size and wherever quoted line breaks fall.

#include "core/split.hpp"

#include "core/csv_layout.hpp"
#include "core/range_reader.hpp"
#include "support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>

namespace playcount {
namespace {

/// Record starts found by walking the bytes: data_begin, and every position
/// after an LF that has an even number of quotes between data_begin and it.
std::vector<uint64_t> record_starts(std::string_view file,
                                    uint64_t data_begin) {
  std::vector<uint64_t> out;
  if (data_begin < file.size())
    out.push_back(data_begin);
  bool in_quotes = false;
  for (uint64_t i = data_begin; i < file.size(); ++i) {
    if (file[i] == '"')
      in_quotes = !in_quotes;
    else if (file[i] == '\n' && !in_quotes && i + 1 < file.size())
      out.push_back(i + 1);
  }
  return out;
}

/// The documented plan: the first range starts at data_begin; every other
/// nominal chunk holding a record start begins a range at its first one.
std::vector<byte_range> expected_plan(const std::vector<byte_range>& chunks,
                                      const std::vector<uint64_t>& starts,
                                      uint64_t size) {
  std::vector<uint64_t> begins;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i == 0) {
      begins.push_back(chunks[0].begin);
      continue;
    }
    const auto it =
        std::lower_bound(starts.begin(), starts.end(), chunks[i].begin);
    if (it != starts.end() && *it<chunks[i].end&& * it> begins.back())
      begins.push_back(*it);
  }
  std::vector<byte_range> out;
  for (size_t i = 0; i < begins.size(); ++i)
    out.push_back({begins[i], i + 1 < begins.size() ? begins[i + 1] : size});
  return out;
}

std::vector<byte_range> plan(std::string_view file, uint64_t data_begin,
                             uint64_t range_size) {
  return test::plan_in_memory(file, data_begin, range_size);
}

std::string show(const std::vector<byte_range>& ranges) {
  std::string s;
  for (const auto& r : ranges)
    s += "[" + std::to_string(r.begin) + "," + std::to_string(r.end) + ") ";
  return s;
}

/// Checks the plan of `file` for one range size against the walk above.
void check_plan(std::string_view file, uint64_t data_begin, uint64_t range_size,
                const std::vector<uint64_t>& starts) {
  const auto chunks = nominal_chunks(data_begin, file.size(), range_size);
  const auto ranges = plan(file, data_begin, range_size);
  const std::set<uint64_t> start_set(starts.begin(), starts.end());
  if (data_begin >= file.size()) {
    EXPECT_TRUE(ranges.empty()) << show(ranges);
    return;
  }
  ASSERT_FALSE(ranges.empty());
  EXPECT_EQ(ranges.front().begin, data_begin);
  EXPECT_EQ(ranges.back().end, file.size());
  for (size_t i = 0; i < ranges.size(); ++i) {
    EXPECT_LT(ranges[i].begin, ranges[i].end) << "empty range " << i;
    EXPECT_TRUE(start_set.count(ranges[i].begin))
        << "range " << i << " starts at " << ranges[i].begin
        << ", not a record start";
    if (i + 1 < ranges.size()) {
      EXPECT_EQ(ranges[i].end, ranges[i + 1].begin)
          << "gap or overlap at " << i;
    }
  }
  EXPECT_EQ(show(ranges), show(expected_plan(chunks, starts, file.size())))
      << "range size " << range_size;
}

TEST(nominal_chunks, cover_the_data_in_pieces_of_the_range_size) {
  const auto c = nominal_chunks(10, 35, 10);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0], (byte_range{10, 20}));
  EXPECT_EQ(c[1], (byte_range{20, 30}));
  EXPECT_EQ(c[2], (byte_range{30, 35}));
  EXPECT_EQ(nominal_chunks(10, 30, 10).size(), 2u);
  EXPECT_EQ(nominal_chunks(0, 5, 100).size(), 1u);
  EXPECT_EQ(nominal_chunks(0, 5, 100)[0], (byte_range{0, 5}));
  EXPECT_TRUE(nominal_chunks(7, 7, 10).empty());
  EXPECT_EQ(nominal_chunks(0, 4, 1).size(), 4u);
}

TEST(nominal_chunks, treat_a_range_size_of_zero_as_one_byte) {
  const auto c = nominal_chunks(2, 5, 0);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[2], (byte_range{4, 5}));
}

TEST(record_end, finds_the_first_line_feed_outside_quotes) {
  EXPECT_EQ(record_end("a,b\nc\n", 0), 3u);
  EXPECT_EQ(record_end("a,b\nc\n", 4), 5u);
  EXPECT_EQ(record_end("\"a\nb\",c\nd", 0), 7u);
  EXPECT_EQ(record_end("\"a\"\"\nb\"\n", 0), 7u);
  EXPECT_EQ(record_end("no line end", 0), 11u);
  EXPECT_EQ(record_end("\"open\nquote\n", 0), 12u);
  EXPECT_EQ(record_end("a\r\nb", 0), 2u);
}

TEST(scan_chunk, counts_quotes_and_finds_the_first_boundary_for_either_parity) {
  const std::string file = "ab\n\"c\nd\"\ne\n";
  // Whole file: LF at 2 is outside quotes, LF at 5 inside; the LF at 10 is
  // the chunk's last byte and would start a record outside it.
  chunk_scan s = scan_chunk(file, {0, 11});
  EXPECT_EQ(s.quotes, 2u);
  EXPECT_EQ(s.first_boundary[0], 3u);
  EXPECT_EQ(s.first_boundary[1], 6u);
  s = scan_chunk(file, {4, 11});
  EXPECT_EQ(s.quotes, 1u);
  EXPECT_EQ(s.first_boundary[0], 6u);
  EXPECT_EQ(s.first_boundary[1], 9u);
  // A chunk right after an LF starts on a boundary at even parity.
  s = scan_chunk(file, {3, 11});
  EXPECT_EQ(s.first_boundary[0], 3u);
  EXPECT_EQ(s.first_boundary[1], 6u);
  s = scan_chunk(file, {9, 11});
  EXPECT_EQ(s.quotes, 0u);
  EXPECT_EQ(s.first_boundary[0], 9u);
  EXPECT_EQ(s.first_boundary[1], no_boundary);
  s = scan_chunk(file, {0, 2});
  EXPECT_EQ(s.first_boundary[0], no_boundary);
  EXPECT_EQ(s.first_boundary[1], no_boundary);
}

TEST(scan_chunk, sees_boundaries_and_quotes_across_64_byte_blocks) {
  // Quotes and LFs on both sides of every block edge of a long chunk.
  std::string file;
  for (int i = 0; i < 300; ++i)
    file += i % 7 == 0 ? '"' : i % 5 == 0 ? '\n' : 'x';
  for (uint64_t b = 0; b < 200; b += 13)
    for (uint64_t e : {b + 1, b + 63, b + 64, b + 65, b + 100, uint64_t{300}}) {
      if (e > file.size())
        continue;
      uint64_t quotes = 0;
      uint64_t first[2] = {no_boundary, no_boundary};
      bool odd = false;
      if (b > 0 && file[b - 1] == '\n')
        first[0] = b;
      for (uint64_t i = b; i < e; ++i) {
        if (file[i] == '"') {
          ++quotes;
          odd = !odd;
        } else if (file[i] == '\n' && i + 1 < e && first[odd] == no_boundary) {
          first[odd] = i + 1;
        }
      }
      const chunk_scan s = scan_chunk(file, {b, e});
      EXPECT_EQ(s.quotes, quotes) << b << ".." << e;
      EXPECT_EQ(s.first_boundary[0], first[0]) << b << ".." << e;
      EXPECT_EQ(s.first_boundary[1], first[1]) << b << ".." << e;
      // first_boundary, which reads only up to it, finds the same.
      for (unsigned parity : {0u, 1u})
        EXPECT_EQ(first_boundary(file_window{file, 0}, {b, e}, parity),
                  first[parity])
            << b << ".." << e << ", parity " << parity;
    }
}

TEST(plan_ranges, gives_nothing_for_no_chunks) {
  EXPECT_TRUE(plan_ranges({}, {}).empty());
}

TEST(plan_ranges, skips_chunks_that_lie_wholly_inside_a_quoted_field) {
  const std::string head = "Song,Date,Number of Plays\n";
  std::string song = "\"";
  for (int i = 0; i < 40; ++i)
    song += "line " + std::to_string(i) + ", \"\"quoted\"\"\n";
  song += "\"";
  const std::string file = head + song + ",2021-01-01,1\nB,2021-01-01,2\n";
  const uint64_t second = file.find("B,");
  for (uint64_t range_size : {1, 7, 64, 100, 200}) {
    SCOPED_TRACE(range_size);
    const auto ranges = plan(file, head.size(), range_size);
    // The long record starts in the first chunk; no chunk inside it starts
    // a range; the next record starts one.
    ASSERT_GE(ranges.size(), 2u) << show(ranges);
    EXPECT_EQ(ranges[0], (byte_range{head.size(), second})) << show(ranges);
    EXPECT_EQ(ranges[1].begin, second);
    check_plan(file, head.size(), range_size, record_starts(file, head.size()));
  }
}

TEST(plan_ranges,
     moves_a_chunk_start_inside_a_quoted_line_break_to_the_next_record) {
  const std::string head = "Song,Date,Number of Plays\n";
  const std::string file =
      head +
      "\"a\nb\nc\",2021-01-01,1\n\"d\ne\",2021-01-01,2\nf,2021-01-01,3\n";
  const auto starts = record_starts(file, head.size());
  ASSERT_EQ(starts.size(), 3u);
  for (uint64_t range_size = 1; range_size <= file.size(); ++range_size) {
    SCOPED_TRACE(range_size);
    check_plan(file, head.size(), range_size, starts);
  }
  // A chunk starting just after the quoted LF in "a\nb" must not start there.
  const auto ranges = plan(file, head.size(), 3);
  for (const auto& r : ranges)
    EXPECT_TRUE(r.begin == starts[0] || r.begin == starts[1] ||
                r.begin == starts[2])
        << show(ranges);
}

TEST(plan_ranges, starts_ranges_on_record_boundaries_for_every_range_size) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    test::doc_shape shape;
    shape.records = 25;
    const std::string bytes = test::random_doc(rng, shape).assemble();
    const test::guarded_bytes guarded(bytes);
    const std::string_view file = guarded.view();
    auto parsed = read_layout(file);
    ASSERT_TRUE(std::holds_alternative<csv_layout>(parsed));
    const uint64_t data_begin = std::get<csv_layout>(parsed).data_begin;
    const auto starts = record_starts(file, data_begin);
    for (uint64_t range_size = 1; range_size <= file.size() + 1; ++range_size)
      check_plan(file, data_begin, range_size, starts);
  }
}

TEST(plan_ranges, gives_ranges_whose_records_add_up_to_the_whole_file) {
  std::mt19937 rng(77);
  const std::string bytes = test::random_doc(rng).assemble();
  const test::guarded_bytes guarded(bytes);
  const std::string_view file = guarded.view();
  const csv_layout layout = std::get<csv_layout>(read_layout(file));
  partial_aggregate whole;
  const range_report all = read_range(file, {layout.data_begin, file.size()},
                                      layout, bad_row_policy::fail, whole, 0);
  ASSERT_FALSE(all.error) << all.error->what;
  for (uint64_t range_size : {1, 2, 3, 7, 64, 100, 1000, 4096}) {
    SCOPED_TRACE(range_size);
    const auto ranges = plan(file, layout.data_begin, range_size);
    uint64_t rows = 0, lines = 0;
    partial_aggregate into;
    for (uint32_t r = 0; r < ranges.size(); ++r) {
      const range_report rep =
          read_range(file, ranges[r], layout, bad_row_policy::fail, into, r);
      ASSERT_FALSE(rep.error) << rep.error->what;
      rows += rep.rows;
      lines += rep.lines;
    }
    EXPECT_EQ(rows, all.rows);
    EXPECT_EQ(lines, all.lines);
    EXPECT_EQ(lines, static_cast<uint64_t>(std::count(
                         file.begin() + static_cast<long>(layout.data_begin),
                         file.end(), '\n')));
  }
}

} // namespace
} // namespace playcount
