// The differential test (docs/DESIGN.md § Conventions): one range read
// sequentially is the ground truth; every range size and worker count must
// give the same bytes, and the same error line for a bad file. The ground
// truth itself is checked against a libcsv-based reference.

#include "support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>

namespace playcount {
namespace {

using namespace playcount::test;

constexpr uint64_t range_sizes[] = {1,   2,    3,    7, 64,
                                    100, 1000, 4096, 0 /* whole file */};
constexpr unsigned max_workers = 8;

std::string describe_run(uint64_t range_size, unsigned workers, assignment a) {
  return "range size " +
         (range_size ? std::to_string(range_size) : std::string("whole")) +
         ", " + std::to_string(workers) + " workers, " +
         (a == assignment::random ? "random" : "round-robin") + " assignment";
}

/// Runs every range size x worker count x assignment and calls
/// check(result, description) for each; stops after a few failures.
template <class Check>
void for_every_split(std::string_view file, uint32_t seed,
                     bad_row_policy policy, Check&& check) {
  int failures = 0;
  for (uint64_t range_size : range_sizes)
    for (unsigned workers = 1; workers <= max_workers; ++workers)
      for (assignment a : {assignment::round_robin, assignment::random}) {
        if (workers == 1 && a == assignment::random && range_size > 3)
          continue; // the same as round-robin but for the read order
        run_options o;
        o.range_size = range_size;
        o.workers = workers;
        o.assign = a;
        o.policy = policy;
        o.seed =
            seed * 1000 + workers * 10 + static_cast<uint32_t>(range_size % 10);
        o.windows = a == assignment::random && workers % 2 == 1;
        const run_result r = run_pipeline(file, o);
        if (!check(r,
                   describe_run(range_size, workers, a) +
                       (o.windows ? ", each range in its own window" : "")) &&
            ++failures >= 3)
          return;
      }
}

class differential : public testing::TestWithParam<uint32_t> {};

TEST_P(differential,
       gives_the_sequential_bytes_for_every_range_size_and_worker_count) {
  const uint32_t seed = GetParam();
  std::mt19937 rng(seed);
  doc_shape shape;
  shape.records = 200 + rng() % 200;
  const csv_doc doc = random_doc(rng, shape);
  const std::string bytes = doc.assemble();
  const guarded_bytes guarded(bytes);
  const std::string_view file = guarded.view();

  const run_result truth = run_sequential(file);
  ASSERT_FALSE(truth.error) << *truth.error;
  EXPECT_EQ(truth.outcome.rows, doc.record_indexes().size());
  const reference_outcome ref = reference_count(file);
  ASSERT_TRUE(ref.libcsv_ok);
  ASSERT_FALSE(ref.error_line)
      << ref.error_kind << " on line " << *ref.error_line;
  EXPECT_EQ(truth.output, ref.output)
      << "the sequential read differs from libcsv";
  EXPECT_EQ(truth.outcome.rows, ref.rows);

  for_every_split(file, seed, bad_row_policy::fail,
                  [&](const run_result& r, const std::string& how) {
                    EXPECT_FALSE(r.error) << how << ": " << *r.error;
                    EXPECT_EQ(r.output, truth.output) << how;
                    EXPECT_EQ(r.outcome.rows, truth.outcome.rows) << how;
                    EXPECT_FALSE(r.needed_sequential_read) << how;
                    return !r.error && r.output == truth.output;
                  });
}

TEST_P(differential,
       finds_an_injected_bad_record_on_the_same_line_for_every_split) {
  const uint32_t seed = GetParam();
  for (int k = 0; k < 3; ++k) {
    const auto kind = static_cast<bad_kind>(
        (seed * 3 + static_cast<uint32_t>(k)) % bad_kinds);
    std::mt19937 rng(seed * 7919 + static_cast<uint32_t>(k));
    doc_shape shape;
    shape.records = 100 + rng() % 100;
    csv_doc doc = random_doc(rng, shape);
    const auto records = doc.record_indexes();
    // An open quote anywhere else may close on a later record's quote and
    // leave valid records: only in the last record does it surely never close.
    const size_t victim = kind == bad_kind::unclosed_quote
                              ? records.back()
                              : records[rng() % records.size()];
    const std::string says = make_bad(doc, victim, kind);
    const uint64_t line = doc.line_number(victim);
    const std::string bytes = doc.assemble();
    const guarded_bytes guarded(bytes);
    const std::string_view file = guarded.view();
    SCOPED_TRACE("bad kind " + std::to_string(static_cast<int>(kind)) +
                 " on line " + std::to_string(line));

    const run_result truth = run_sequential(file);
    ASSERT_TRUE(truth.error);
    const std::string prefix = "line " + std::to_string(line) + ": ";
    EXPECT_EQ(truth.error->rfind(prefix, 0), 0u) << *truth.error;
    EXPECT_NE(truth.error->find(says), std::string::npos)
        << "expected " << says << " in " << *truth.error;

    // libcsv either rejects the quoting or sees the same bad record.
    const reference_outcome ref = reference_count(file);
    if (ref.libcsv_ok) {
      ASSERT_TRUE(ref.error_line);
      EXPECT_EQ(*ref.error_line, line) << ref.error_kind;
    } else {
      EXPECT_GE(static_cast<int>(kind),
                static_cast<int>(bad_kind::stray_quote));
    }

    for_every_split(file, seed, bad_row_policy::fail,
                    [&](const run_result& r, const std::string& how) {
                      EXPECT_EQ(text_of(r), *truth.error) << how;
                      return text_of(r) == *truth.error;
                    });
  }
}

TEST_P(differential, skips_the_same_bad_records_for_every_split) {
  const uint32_t seed = GetParam();
  std::mt19937 rng(seed * 104729);
  doc_shape shape;
  shape.records = 150 + rng() % 100;
  csv_doc doc = random_doc(rng, shape);
  const csv_doc clean_doc = doc;
  auto records = doc.record_indexes();
  std::shuffle(records.begin(), records.end(), rng);
  records.resize(12);
  std::sort(records.begin(), records.end());
  // Kinds that stay within their record (an open quote would swallow the rest).
  const bad_kind kinds[] = {
      bad_kind::count_not_whole, bad_kind::count_negative,
      bad_kind::count_too_large, bad_kind::date_impossible,
      bad_kind::date_bad_form,   bad_kind::too_few_fields,
      bad_kind::too_many_fields, bad_kind::text_after_quote};
  std::vector<uint64_t> lines;
  std::set<size_t> bad_set(records.begin(), records.end());
  for (size_t i : records) {
    (void)make_bad(doc, i, kinds[rng() % 8]);
    lines.push_back(doc.line_number(i));
  }
  const std::string bytes = doc.assemble();
  const guarded_bytes guarded(bytes);
  const std::string_view file = guarded.view();

  // What the good records alone give.
  csv_doc good_doc = clean_doc;
  good_doc.lines.clear();
  for (size_t i = 0; i < clean_doc.lines.size(); ++i)
    if (!bad_set.count(i))
      good_doc.lines.push_back(clean_doc.lines[i]);
  const run_result good = run_sequential(good_doc.assemble());
  ASSERT_FALSE(good.error) << *good.error;

  const run_result truth = run_sequential(file, bad_row_policy::skip);
  ASSERT_FALSE(truth.error) << *truth.error;
  EXPECT_EQ(truth.output, good.output);
  EXPECT_EQ(truth.outcome.bad_rows, 12u);
  EXPECT_EQ(truth.outcome.rows, good.outcome.rows);
  ASSERT_EQ(truth.outcome.first_bad.size(), 10u);
  for (size_t i = 0; i < 10; ++i)
    EXPECT_EQ(truth.outcome.first_bad[i].line, lines[i]) << i;

  for_every_split(file, seed, bad_row_policy::skip,
                  [&](const run_result& r, const std::string& how) {
                    EXPECT_FALSE(r.error) << how;
                    EXPECT_EQ(r.output, truth.output) << how;
                    EXPECT_EQ(r.outcome.bad_rows, 12u) << how;
                    EXPECT_EQ(r.outcome.rows, truth.outcome.rows) << how;
                    bool same_lines = r.outcome.first_bad.size() == 10;
                    for (size_t i = 0; same_lines && i < 10; ++i)
                      same_lines = r.outcome.first_bad[i].line == lines[i] &&
                                   r.outcome.first_bad[i].what ==
                                       truth.outcome.first_bad[i].what;
                    EXPECT_TRUE(same_lines) << how;
                    return !r.error && r.output == truth.output && same_lines;
                  });
}

INSTANTIATE_TEST_SUITE_P(seeds, differential, testing::Range(1u, 9u));

// Small files, many seeds, every range size from 1 byte to the whole file.
TEST(differential_small,
     gives_the_sequential_bytes_for_every_range_size_from_1_to_the_file_size) {
  for (uint32_t seed = 100; seed < 140; ++seed) {
    std::mt19937 rng(seed);
    doc_shape shape;
    shape.records = 1 + rng() % 12;
    const std::string bytes = random_doc(rng, shape).assemble();
    const guarded_bytes guarded(bytes);
    const std::string_view file = guarded.view();
    const run_result truth = run_sequential(file);
    ASSERT_FALSE(truth.error) << "seed " << seed << ": " << *truth.error;
    ASSERT_EQ(truth.output, reference_count(file).output) << "seed " << seed;
    int failures = 0;
    for (uint64_t range_size = 1; range_size <= file.size() && failures < 3;
         ++range_size)
      for (unsigned workers : {1u, 3u}) {
        run_options o;
        o.range_size = range_size;
        o.workers = workers;
        o.assign = workers == 1 ? assignment::round_robin : assignment::random;
        o.seed = seed + static_cast<uint32_t>(range_size);
        o.windows = workers == 3;
        const run_result r = run_pipeline(file, o);
        if (text_of(r) != truth.output) {
          ++failures;
          ADD_FAILURE() << "seed " << seed << ", range size " << range_size
                        << ", " << workers << " workers:\n"
                        << text_of(r) << "\nexpected:\n"
                        << truth.output;
        }
      }
  }
}

// Many distinct songs: the song table grows and rehashes while partials fill.
TEST(differential_many_songs,
     gives_the_sequential_bytes_with_tens_of_thousands_of_songs) {
  std::mt19937 rng(4242);
  std::string bytes = "Song,Date,Number of Plays\n";
  for (int i = 0; i < 60000; ++i) {
    const unsigned song = rng() % 30000;
    bytes += (song % 3 == 0 ? "\"song, " + std::to_string(song) + "\""
                            : "song " + std::to_string(song)) +
             ",2021-0" + std::to_string(1 + rng() % 9) + "-1" +
             std::to_string(rng() % 10) + "," + std::to_string(rng() % 100) +
             "\n";
  }
  const guarded_bytes guarded(bytes);
  const std::string_view file = guarded.view();
  const run_result truth = run_sequential(file);
  ASSERT_FALSE(truth.error) << *truth.error;
  EXPECT_EQ(truth.output, reference_count(file).output);
  for (uint64_t range_size : {4096u, 65536u})
    for (unsigned workers : {3u, 8u}) {
      run_options o;
      o.range_size = range_size;
      o.workers = workers;
      o.assign = assignment::random;
      const run_result r = run_pipeline(file, o);
      EXPECT_EQ(text_of(r), truth.output) << range_size << " " << workers;
    }
}

} // namespace
} // namespace playcount
