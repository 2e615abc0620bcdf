// core/result_summary and core/song_index (issue 15): the summary and the
// index written with a result, checked against totals computed again from
// the result file alone (libcsv), on both write paths.

#include "core/result_summary.hpp"

#include "core/hash.hpp"
#include "core/result_writer.hpp"
#include "core/song_index.hpp"
#include "core/spill.hpp"
#include "support.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <sys/stat.h>

namespace playcount {
namespace summary_test {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void put_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Large texts compared without a diff of them all.
testing::AssertionResult same_bytes(const std::string& a,
                                    const std::string& b) {
  if (a == b)
    return testing::AssertionSuccess();
  size_t at = 0;
  while (at < a.size() && at < b.size() && a[at] == b[at])
    ++at;
  return testing::AssertionFailure()
         << a.size() << " and " << b.size() << " bytes, first differ at " << at
         << ": " << testing::PrintToString(a.substr(at, 40)) << " vs "
         << testing::PrintToString(b.substr(at, 40));
}

// What the result file says, read with libcsv: per song its rows, and the
// whole summary computed the plain way.
struct reference {
  std::map<std::string, std::vector<std::pair<day_number, int64_t>>> songs;
  std::map<day_number, int64_t> by_day;
  int64_t plays = 0;
  uint64_t groups = 0;
};

reference reference_of(const std::string& result_bytes) {
  reference ref;
  const auto records = libcsv_records(result_bytes);
  EXPECT_TRUE(records.has_value());
  if (!records)
    return ref;
  for (size_t i = 1; i < records->size(); ++i) {
    const std::vector<std::string>& r = (*records)[i];
    EXPECT_EQ(r.size(), 3u);
    const parsed_date d = parse_date(r[1]);
    const int64_t total = std::stoll(r[2]);
    ref.songs[r[0]].emplace_back(d.day, total);
    ref.by_day[d.day] += total;
    ref.plays += total;
    ++ref.groups;
  }
  return ref;
}

// The rows of one song as the result writes them (quoted when needed).
std::string rows_text(const std::string& song,
                      const std::vector<std::pair<day_number, int64_t>>& rows) {
  std::string field = song;
  if (song.find_first_of(",\"\r\n") != std::string::npos) {
    field = "\"";
    for (const char c : song) {
      field += c;
      if (c == '"')
        field += '"';
    }
    field += '"';
  }
  std::string out;
  for (const auto& [day, total] : rows)
    out += field + "," + format_date(day) + "," + std::to_string(total) + "\n";
  return out;
}

// Checks summary and index of `dir`/result.csv against the file itself.
void check_against_result(const test::temp_dir& dir, const result_summary& s) {
  const std::string csv = dir.file("result.csv");
  const std::string bytes = slurp(csv);
  const reference ref = reference_of(bytes);
  EXPECT_EQ(s.plays, ref.plays);
  EXPECT_EQ(s.groups, ref.groups);
  EXPECT_EQ(s.songs, ref.songs.size());
  ASSERT_EQ(s.empty(), ref.by_day.empty());
  if (!s.empty()) {
    EXPECT_EQ(s.first, ref.by_day.begin()->first);
    EXPECT_EQ(s.last, ref.by_day.rbegin()->first);
  }
  // The series by day (when it is by day): the dates with plays.
  if (s.series_unit == result_summary::unit::day) {
    std::vector<std::pair<day_number, int64_t>> expected;
    for (const auto& [day, plays] : ref.by_day)
      if (plays != 0)
        expected.emplace_back(day, plays);
    EXPECT_EQ(s.series, expected);
  }
  // The top songs: plays descending, ties by name.
  std::vector<song_summary> all;
  for (const auto& [song, rows] : ref.songs) {
    song_summary t{song, 0, rows.front().first, rows.back().first};
    for (const auto& r : rows)
      t.plays += r.second;
    all.push_back(t);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.plays != b.plays ? a.plays > b.plays : a.song < b.song;
  });
  all.resize(std::min<size_t>(all.size(), 100));
  ASSERT_EQ(s.top_songs.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(s.top_songs[i].song, all[i].song) << i;
    EXPECT_EQ(s.top_songs[i].plays, all[i].plays) << i;
    EXPECT_EQ(s.top_songs[i].first, all[i].first) << i;
    EXPECT_EQ(s.top_songs[i].last, all[i].last) << i;
  }
  // The summary file reads back as the summary.
  auto read = read_summary(dir.file("summary.json"));
  ASSERT_TRUE(read) << read.error().text();
  EXPECT_EQ(summary_json(*read), summary_json(s));
  // The index finds every song, at the bytes of its rows.
  auto index = song_index::open(dir.file("songs.idx"));
  ASSERT_TRUE(index) << index.error().text();
  EXPECT_EQ(index->size(), ref.songs.size());
  EXPECT_EQ(index->result_bytes(), bytes.size());
  uint64_t covered = result_header.size();
  uint64_t i = 0;
  for (const auto& [song, rows] : ref.songs) {
    const auto e = index->find(song);
    ASSERT_TRUE(e.has_value()) << song;
    EXPECT_EQ(index->at(i++).song, song); // in byte order
    EXPECT_EQ(e->dates, rows.size());
    EXPECT_EQ(e->first, rows.front().first);
    EXPECT_EQ(e->last, rows.back().first);
    ASSERT_LE(e->offset + e->length, bytes.size());
    EXPECT_EQ(bytes.substr(e->offset, e->length), rows_text(song, rows));
    covered += e->length;
    if (ref.songs.size() > 1000 && i % 97 != 0)
      continue; // a sample of many
    const auto read_rows = read_song_rows(csv, *e);
    ASSERT_TRUE(read_rows) << read_rows.error().text();
    EXPECT_EQ(*read_rows, rows);
  }
  EXPECT_EQ(covered, bytes.size()); // every row belongs to one song
  EXPECT_FALSE(index->find(std::string("no such song\x01")).has_value());
}

struct generated {
  std::vector<std::string> names;
  std::vector<pending_row> rows;
};

// Rows over `songs` names (quoted ones among them: commas, quotes, line
// ends, bytes >= 0x80) and `days` days.
generated rows_of(uint32_t songs, uint32_t days, size_t n, uint64_t seed) {
  generated g;
  std::mt19937_64 rng(seed);
  static const char* const odd[] = {
      "A, comma",    "\"quoted\"",      "two\nlines", "cr\r\nlf",
      "caf\xC3\xA9", "\xFF\xFE raw",    "",           " spaced ",
      "Umbrella",    "Umbrella (remix)"};
  for (uint32_t i = 0; i < songs; ++i)
    g.names.push_back(i < std::size(odd) ? odd[i]
                                         : "Song " + std::to_string(i * 7919));
  for (size_t i = 0; i < n; ++i) {
    const std::string& name = g.names[rng() % songs];
    g.rows.push_back(pending_row{name, hash_bytes(name.data(), name.size()),
                                 static_cast<day_number>(19000 + rng() % days),
                                 static_cast<int64_t>(rng() % 50), i * 11});
  }
  return g;
}

void add(partial_aggregate& into, const std::vector<pending_row>& rows,
         size_t from, size_t to, uint32_t tag) {
  for (size_t i = from; i < to; i += partial_aggregate::max_batch) {
    const size_t k = std::min(partial_aggregate::max_batch, to - i);
    ASSERT_EQ(into.add_rows(rows.data() + i, k, tag), k);
  }
}

summary_files files_in(const test::temp_dir& dir) {
  return summary_files{
      dir.file("summary.json"), dir.file("songs.idx"), std::nullopt, {}};
}

// Writes `g` the usual way with `threads`; checks it; returns the summary.
result_summary written_in_memory(const test::temp_dir& dir, const generated& g,
                                 unsigned threads) {
  partial_aggregate totals;
  add(totals, g.rows, 0, g.rows.size(), 0);
  summary_files files = files_in(dir);
  const auto wrote = write_result(totals, dir.file("result.csv"), false,
                                  threads, nullptr, &files);
  EXPECT_TRUE(wrote) << wrote.error().text();
  check_against_result(dir, files.made);
  return files.made;
}

TEST(result_summary, matches_the_result_file_for_quoted_names_and_any_threads) {
  for (const unsigned threads : {1u, 3u}) {
    SCOPED_TRACE(threads);
    test::temp_dir dir;
    const generated g = rows_of(300, 60, 5000, threads);
    const result_summary s = written_in_memory(dir, g, threads);
    EXPECT_EQ(s.songs, 300u);
    EXPECT_EQ(s.top_songs.size(), 100u);
    EXPECT_FALSE(s.skipped_rows.has_value());
    // Rebuilt from the result alone: the same files.
    const std::string json = slurp(dir.file("summary.json"));
    const std::string idx = slurp(dir.file("songs.idx"));
    const auto rebuilt =
        summarize_result_file(dir.file("result.csv"), dir.file("again.json"),
                              dir.file("again.idx"), std::nullopt);
    ASSERT_TRUE(rebuilt) << rebuilt.error().text();
    EXPECT_EQ(slurp(dir.file("again.json")), json);
    EXPECT_EQ(slurp(dir.file("again.idx")), idx);
  }
}

TEST(result_summary, one_song_one_day_and_an_empty_result) {
  {
    test::temp_dir dir;
    const result_summary s = written_in_memory(dir, rows_of(1, 1, 30, 1), 2);
    EXPECT_EQ(s.songs, 1u);
    EXPECT_EQ(s.groups, 1u);
    EXPECT_EQ(s.first, s.last);
    ASSERT_EQ(s.series.size(), 1u);
    ASSERT_EQ(s.top_songs.size(), 1u);
  }
  {
    test::temp_dir dir;
    const result_summary s = written_in_memory(dir, rows_of(50, 1, 500, 2), 1);
    EXPECT_EQ(s.first, s.last);
    EXPECT_EQ(s.groups, 50u);
  }
  {
    test::temp_dir dir;
    const result_summary s = written_in_memory(dir, generated{}, 2);
    EXPECT_TRUE(s.empty());
    EXPECT_EQ(slurp(dir.file("summary.json")),
              "{\"plays\":0,\"songs\":0,\"groups\":0,\"firstDate\":null,"
              "\"lastDate\":null,\"playsByDate\":{\"unit\":\"day\","
              "\"points\":[]},\"topSongs\":[]}\n");
    const auto index = song_index::open(dir.file("songs.idx"));
    ASSERT_TRUE(index) << index.error().text();
    bool more = true;
    EXPECT_TRUE(index->with_prefix("", 10, more).empty());
    EXPECT_FALSE(more);
    const auto rebuilt =
        summarize_result_file(dir.file("result.csv"), dir.file("again.json"),
                              dir.file("again.idx"), uint64_t{4});
    ASSERT_TRUE(rebuilt) << rebuilt.error().text();
    EXPECT_EQ(rebuilt->skipped_rows, uint64_t{4});
    EXPECT_NE(slurp(dir.file("again.json")).find("\"skippedRows\":4"),
              std::string::npos);
  }
}

// Many songs: several pieces of the result formatted side by side (their
// offsets rebased), and the spilled path giving the same files.
TEST(result_summary, many_songs_in_memory_and_spilled_give_the_same_files) {
  const generated g = rows_of(200000, 30, 300000, 7);
  test::temp_dir memory;
  const result_summary s = written_in_memory(memory, g, 2);
  EXPECT_GT(slurp(memory.file("result.csv")).size(), size_t{8} << 20);
  test::temp_dir spilled;
  const std::string spills = spilled.file("spill");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  std::vector<partial_aggregate> parts(2);
  const size_t third = g.rows.size() / 3;
  add(parts[0], g.rows, 0, third, 0);
  ASSERT_TRUE(spill(parts[0], spills, "w0"));
  add(parts[0], g.rows, third, 2 * third, 1);
  ASSERT_TRUE(spill(parts[0], spills, "w1"));
  add(parts[1], g.rows, 2 * third, g.rows.size(), 2);
  summary_files files = files_in(spilled);
  files.skipped_rows = 0; // said as given
  const auto wrote = write_spilled_result(
      parts, spills, {"w"}, spilled.file("result.csv"), false, nullptr, &files);
  ASSERT_TRUE(wrote) << wrote.error().text();
  EXPECT_TRUE(same_bytes(slurp(spilled.file("result.csv")),
                         slurp(memory.file("result.csv"))));
  files.made.skipped_rows.reset();
  EXPECT_TRUE(same_bytes(summary_json(files.made), summary_json(s)));
  EXPECT_TRUE(same_bytes(slurp(spilled.file("songs.idx")),
                         slurp(memory.file("songs.idx"))));
  // The runs and places are gone with the spills.
  remove_spills(spills);
  EXPECT_FALSE(test::exists(spills));
}

TEST(song_index, finds_by_prefix_in_byte_order) {
  test::temp_dir dir;
  std::vector<std::string> names = {
      "a",           "ab",           "abc",  "abd",      "b",
      "caf\xC3\xA9", "caf\xC3\xA9s", "\xFF", "\xFF\x01", "Zz"};
  generated g;
  g.names = names;
  for (size_t i = 0; i < g.names.size(); ++i)
    g.rows.push_back(pending_row{
        g.names[i], hash_bytes(g.names[i].data(), g.names[i].size()), 19000,
        static_cast<int64_t>(i + 1), i * 10});
  (void)written_in_memory(dir, g, 1);
  const auto index = song_index::open(dir.file("songs.idx"));
  ASSERT_TRUE(index) << index.error().text();
  const auto names_of = [](const std::vector<song_entry>& es) {
    std::vector<std::string> out;
    for (const auto& e : es)
      out.push_back(e.song);
    return out;
  };
  bool more = false;
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names_of(index->with_prefix("", 100, more)), names);
  EXPECT_FALSE(more);
  EXPECT_EQ(names_of(index->with_prefix("", 3, more)),
            (std::vector<std::string>{"Zz", "a", "ab"}));
  EXPECT_TRUE(more);
  EXPECT_EQ(names_of(index->with_prefix("ab", 10, more)),
            (std::vector<std::string>{"ab", "abc", "abd"}));
  EXPECT_FALSE(more);
  EXPECT_EQ(names_of(index->with_prefix("ab", 3, more)),
            (std::vector<std::string>{"ab", "abc", "abd"}));
  EXPECT_FALSE(more); // exactly the limit: nothing further
  EXPECT_EQ(names_of(index->with_prefix("abc", 10, more)),
            (std::vector<std::string>{"abc"}));
  EXPECT_TRUE(index->with_prefix("abe", 10, more).empty());
  EXPECT_TRUE(index->with_prefix("zzz", 10, more).empty());
  EXPECT_FALSE(more);
  EXPECT_EQ(names_of(index->with_prefix("caf\xC3", 10, more)),
            (std::vector<std::string>{"caf\xC3\xA9", "caf\xC3\xA9s"}));
  EXPECT_EQ(names_of(index->with_prefix("\xFF", 10, more)),
            (std::vector<std::string>{"\xFF", "\xFF\x01"}));
  const auto e = index->find("abd");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->plays, 4);
  EXPECT_FALSE(index->find("abcd").has_value());
  EXPECT_FALSE(index->find("").has_value());
}

// Damage of every kind fails open() with a reason, never a crash; random
// byte flips either fail or leave an index whose lookups stay in bounds.
TEST(song_index, a_damaged_or_truncated_index_fails_cleanly) {
  test::temp_dir dir;
  (void)written_in_memory(dir, rows_of(40, 5, 400, 3), 1);
  const std::string good = slurp(dir.file("songs.idx"));
  const std::string path = dir.file("bad.idx");
  const auto fails = [&](const std::string& bytes, const std::string& says) {
    put_file(path, bytes);
    const auto opened = song_index::open(path);
    ASSERT_FALSE(opened);
    EXPECT_NE(opened.error().text().find(says), std::string::npos)
        << opened.error().text();
  };
  fails("", "shorter than its header");
  fails(good.substr(0, 63), "shorter than its header");
  fails(good.substr(0, good.size() - 1), "damaged");
  fails(good.substr(0, 64 + 56 * 3), "do not fit");
  fails(good + "x", "names area");
  std::string bad = good;
  bad[0] = 'X';
  fails(bad, "not a song index");
  bad = good;
  bad[8] = 2;
  fails(bad, "version 2");
  // Two records swapped: names out of order (or out of place).
  bad = good;
  std::swap_ranges(bad.begin() + 64, bad.begin() + 64 + 56,
                   bad.begin() + 64 + 56);
  fails(bad, "record ");
  // A row offset past the result.
  bad = good;
  bad[64 + 32 + 7] = 0x7f;
  fails(bad, "outside the result");
  std::mt19937_64 rng(5);
  for (int round = 0; round < 150; ++round) {
    bad = good;
    for (int k = 0; k < 1 + round % 4; ++k)
      bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    if (round % 7 == 0)
      bad.resize(rng() % bad.size());
    put_file(path, bad);
    const auto opened = song_index::open(path);
    if (!opened)
      continue;
    bool more = false;
    for (const auto& e : opened->with_prefix("", 1000, more))
      EXPECT_TRUE(opened->find(e.song).has_value() || true);
    (void)read_song_rows(dir.file("result.csv"), opened->at(0));
  }
}

TEST(song_index, rows_of_an_index_that_does_not_match_the_result_fail) {
  test::temp_dir dir;
  (void)written_in_memory(dir, rows_of(40, 5, 400, 3), 1);
  const auto index = song_index::open(dir.file("songs.idx"));
  ASSERT_TRUE(index);
  song_entry e = *index->find("Umbrella");
  song_entry other = index->at(0);
  e.offset = other.offset; // another song's rows
  e.length = other.length;
  const auto rows = read_song_rows(dir.file("result.csv"), e);
  ASSERT_FALSE(rows);
  EXPECT_NE(rows.error().text().find("another song"), std::string::npos)
      << rows.error().text();
  e = *index->find("Umbrella");
  e.offset = 1 << 20;
  EXPECT_FALSE(read_song_rows(dir.file("result.csv"), e));
}

TEST(result_summary, the_series_goes_by_month_then_year_past_10000_points) {
  const auto series_of = [](day_number from, int days, int step) {
    summary_part part;
    for (int i = 0; i < days; ++i) {
      part.add_day(from + i * step, 1);
      part.end_song(song_rows_seen{"s" + std::to_string(i), 1, from + i * step,
                                   from + i * step, 1, 0, 10});
    }
    return std::move(part).finish(std::nullopt);
  };
  const day_number from = parse_date("1990-01-01").day;
  const result_summary days = series_of(from, 10000, 1);
  EXPECT_EQ(days.series_unit, result_summary::unit::day);
  EXPECT_EQ(days.series.size(), 10000u);
  const result_summary months = series_of(from, 10001, 1);
  EXPECT_EQ(months.series_unit, result_summary::unit::month);
  EXPECT_EQ(months.series.front(), std::make_pair(from, int64_t{31}));
  EXPECT_EQ(format_date(months.series[1].first), "1990-02-01");
  EXPECT_EQ(months.series[1].second, 28);
  EXPECT_EQ(months.plays, 10001);
  EXPECT_EQ(months.top_songs.size(), 100u);
  // One day in each of 10001 months (every 31st day from year 1000 on).
  const result_summary years =
      series_of(parse_date("1000-01-01").day, 10001, 31);
  EXPECT_EQ(years.series_unit, result_summary::unit::year);
  EXPECT_EQ(format_date(years.series.front().first), "1000-01-01");
  int64_t sum = 0;
  for (const auto& p : years.series)
    sum += p.second;
  EXPECT_EQ(sum, 10001);
  EXPECT_NE(summary_json(years).find("\"unit\":\"year\""), std::string::npos);
}

TEST(result_summary, a_damaged_summary_or_result_is_said) {
  test::temp_dir dir;
  put_file(dir.file("s.json"), "{\"plays\":1}");
  const auto s = read_summary(dir.file("s.json"));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().text().find("damaged"), std::string::npos);
  put_file(dir.file("r.csv"), std::string(result_header) + "a,2024-01-01,3\n"
                                                           "b,2024-01-01,1\n"
                                                           "a,2024-01-02,1\n");
  auto r = summarize_result_file(dir.file("r.csv"), dir.file("o.json"),
                                 dir.file("o.idx"), std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().text().find("not together"), std::string::npos)
      << r.error().text();
  put_file(dir.file("r.csv"), std::string(result_header) + "a,2024-01-02,3\n"
                                                           "a,2024-01-01,1\n");
  r = summarize_result_file(dir.file("r.csv"), dir.file("o.json"),
                            dir.file("o.idx"), std::nullopt);
  ASSERT_FALSE(r);
  put_file(dir.file("r.csv"), std::string(result_header) + "a,2024-01-0x,3\n");
  r = summarize_result_file(dir.file("r.csv"), dir.file("o.json"),
                            dir.file("o.idx"), std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().text().find("line 2: not a date"), std::string::npos)
      << r.error().text();
  put_file(dir.file("r.csv"), "Song,Date,Plays\n");
  EXPECT_FALSE(summarize_result_file(dir.file("r.csv"), dir.file("o.json"),
                                     dir.file("o.idx"), std::nullopt));
  EXPECT_FALSE(test::exists(dir.file("o.json")));
  EXPECT_FALSE(test::exists(dir.file("o.idx")));
}

} // namespace
} // namespace summary_test
} // namespace playcount
