// The fast scanner against libcsv 3.0.3, the reference for CSV semantics
// (strict mode, spaces kept): the same fields on random valid RFC 4180
// input, and an error from us wherever libcsv rejects random bad quoting.

#include "core/record_parser.hpp"
#include "support.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace playcount {
namespace {

using namespace playcount::test;

std::string random_bytes(std::mt19937& rng, size_t max_len, bool any_byte) {
  static const std::string alphabet = "ab Z,\"\r\n\t0-";
  const size_t n = rng() % (max_len + 1);
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s += any_byte ? static_cast<char>(rng() % 256)
                  : alphabet[rng() % alphabet.size()];
  return s;
}

TEST(libcsv, splits_random_valid_records_into_the_same_fields_as_split_record) {
  std::mt19937 rng(2024);
  int checked = 0, failures = 0;
  for (int iteration = 0; iteration < 20000 && failures < 5; ++iteration) {
    const size_t n = 1 + rng() % 6;
    std::vector<std::string> values;
    std::string record;
    for (size_t i = 0; i < n; ++i) {
      values.push_back(random_bytes(rng, 10, iteration % 4 == 0));
      record += (i ? "," : "") + encode_field(rng, values.back());
    }
    if (record.empty())
      continue; // an empty line: no record for either
    const auto rows = libcsv_records(record);
    ASSERT_TRUE(rows) << testing::PrintToString(record);
    ASSERT_EQ(rows->size(), 1u) << testing::PrintToString(record);
    ASSERT_EQ(rows->front(), values) << "libcsv disagrees with the generator";
    std::vector<std::string_view> fields;
    std::string scratch;
    const split_outcome o = split_record(record, fields, scratch);
    const std::vector<std::string> ours(fields.begin(), fields.end());
    if (o.problem != record_problem::none || ours != rows->front()) {
      ++failures;
      ADD_FAILURE() << testing::PrintToString(record) << " split as "
                    << testing::PrintToString(ours);
    }
    ++checked;
  }
  EXPECT_GT(checked, 15000);
}

// Song names of arbitrary bytes, quoted where they must be: the pipeline's
// totals equal those computed from libcsv's fields.
TEST(libcsv, agrees_with_the_pipeline_on_random_files_of_arbitrary_song_bytes) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    std::mt19937 rng(seed);
    std::vector<std::string> songs;
    for (int i = 0; i < 20; ++i)
      songs.push_back(random_bytes(rng, 12, seed % 2 == 0));
    std::string file = seed % 3 == 0 ? "Number of Plays,Song,Other,Date\r\n"
                                     : "Song,Date,Number of Plays\n";
    for (int r = 0; r < 150; ++r) {
      const std::string song = encode_field(rng, songs[rng() % songs.size()]);
      const std::string date = "2021-0" + std::to_string(1 + rng() % 3) + "-0" +
                               std::to_string(1 + rng() % 9);
      const std::string count = std::to_string(rng() % 1000);
      if (seed % 3 == 0)
        file += count + "," + song + "," +
                encode_field(rng, random_bytes(rng, 6, true)) + "," + date +
                "\r\n";
      else
        file += song + "," + date + "," + count + "\n";
    }
    SCOPED_TRACE("seed " + std::to_string(seed));
    const reference_outcome ref = reference_count(file);
    ASSERT_TRUE(ref.libcsv_ok);
    ASSERT_FALSE(ref.error_line)
        << ref.error_kind << " on line " << *ref.error_line;
    const guarded_bytes guarded(file);
    EXPECT_EQ(text_of(run_sequential(guarded.view())), ref.output);
    for (uint64_t range_size : {1, 5, 64, 0})
      for (unsigned workers : {1u, 4u}) {
        run_options o;
        o.range_size = range_size;
        o.workers = workers;
        o.assign = assignment::random;
        EXPECT_EQ(text_of(run_pipeline(guarded.view(), o)), ref.output)
            << "range size " << range_size << ", " << workers << " workers";
      }
  }
}

/// One random quoting mistake in the data part of `file` (after `from`).
std::string mutate(std::mt19937& rng, std::string file, size_t from) {
  const auto at = [&] { return from + rng() % (file.size() - from + 1); };
  std::vector<size_t> quotes;
  for (size_t i = from; i < file.size(); ++i)
    if (file[i] == '"')
      quotes.push_back(i);
  switch (rng() % 5) {
  case 0:
    file.insert(at(), 1, '"');
    break;
  case 1:
    if (!quotes.empty())
      file.erase(quotes[rng() % quotes.size()], 1);
    break;
  case 2:
    file.insert(at(), "\"\"");
    break;
  case 3:
    if (!quotes.empty())
      file.insert(quotes[rng() % quotes.size()] + 1, 1, "x,\" \n"[rng() % 5]);
    break;
  default:
    if (file.size() > from)
      file[from + rng() % (file.size() - from)] = '"';
    break;
  }
  return file;
}

TEST(libcsv, rejections_of_random_bad_quoting_are_errors_for_the_pipeline_too) {
  int rejected = 0, semantic = 0, accepted = 0;
  int failures = 0;
  for (uint32_t seed = 1; seed <= 2500 && failures < 5; ++seed) {
    std::mt19937 rng(seed);
    doc_shape shape;
    shape.records = 1 + rng() % 10;
    shape.tricky_header = false;
    shape.allow_cr_in_values = false;
    csv_doc doc = random_doc(rng, shape);
    const std::string valid = doc.assemble();
    const size_t data_begin = doc.header.size() + doc.header_end.size();
    std::string file = valid;
    for (unsigned m = 1 + rng() % 2; m > 0; --m)
      file = mutate(rng, file, data_begin);
    if (has_lone_cr(file) || file == valid)
      continue;

    const reference_outcome ref = reference_count(file);
    const guarded_bytes guarded(file);
    std::vector<std::pair<std::string, std::string>> ours;
    ours.emplace_back("sequential", text_of(run_sequential(guarded.view())));
    for (uint64_t range_size : {1, 7}) {
      run_options o;
      o.range_size = range_size;
      o.workers = 3;
      o.assign = assignment::random;
      o.seed = seed;
      ours.emplace_back("range size " + std::to_string(range_size),
                        text_of(run_pipeline(guarded.view(), o)));
    }
    const auto fail = [&](const std::string& why) {
      ++failures;
      std::string runs;
      for (const auto& [how, text] : ours)
        runs += "\n  " + how + ": " + testing::PrintToString(text);
      ADD_FAILURE() << why << "\nfile: " << testing::PrintToString(file)
                    << runs;
    };
    if (!ref.libcsv_ok) {
      ++rejected;
      for (const auto& [how, text] : ours)
        if (text.rfind("line ", 0) != 0) {
          fail("libcsv rejects the quoting, the pipeline (" + how +
               ") does not");
          break;
        }
    } else if (ref.error_line) {
      ++semantic;
      const std::string prefix =
          "line " + std::to_string(*ref.error_line) + ": ";
      for (const auto& [how, text] : ours)
        if (text.rfind(prefix, 0) != 0) {
          fail("the reference finds a bad record (" + ref.error_kind + ") on " +
               prefix + "the pipeline (" + how + ") does not");
          break;
        }
    } else {
      ++accepted;
      for (const auto& [how, text] : ours)
        if (text != ref.output) {
          fail("libcsv accepts the file, the pipeline (" + how + ") differs");
          break;
        }
    }
  }
  EXPECT_GT(rejected, 500);
  EXPECT_GT(semantic + accepted, 100);
}

} // namespace
} // namespace playcount
