// core/job_plan: planning a file on disk, chunks scanned on several threads,
// must give the plan of the same bytes in memory, scanned in order.

#include "core/job_plan.hpp"

#include "support.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <random>

namespace playcount {
namespace {

TEST(plan_job, gives_the_plan_of_the_bytes_in_memory_on_any_number_of_threads) {
  test::temp_dir dir;
  std::mt19937 rng(11);
  for (int round = 0; round < 6; ++round) {
    const std::string file = test::random_doc(rng).assemble();
    const std::string path = dir.write("in.csv", file);
    const auto layout = std::get<csv_layout>(read_layout(file));
    for (uint64_t range_size : {3ull, 64ull, 1000ull, 1ull << 30}) {
      const auto expected =
          test::plan_in_memory(file, layout.data_begin, range_size);
      for (unsigned threads : {1u, 2u, 5u}) {
        const auto planned = plan_job(path, range_size, threads);
        ASSERT_TRUE(planned) << planned.error().text();
        const job_plan& plan = *planned;
        EXPECT_EQ(plan.file_size, file.size());
        EXPECT_EQ(plan.layout.data_begin, layout.data_begin);
        EXPECT_EQ(plan.layout.song, layout.song);
        EXPECT_EQ(plan.layout.date, layout.date);
        EXPECT_EQ(plan.layout.count, layout.count);
        EXPECT_TRUE(plan.ranges == expected)
            << "round " << round << ", range size " << range_size << ", "
            << threads << " threads";
      }
    }
  }
}

TEST(plan_job, plans_no_range_for_a_header_alone) {
  test::temp_dir dir;
  const auto plan =
      plan_job(dir.write("h.csv", "Song,Date,Number of Plays\n"), 4096, 2);
  ASSERT_TRUE(plan) << plan.error().text();
  EXPECT_TRUE(plan->ranges.empty());
}

TEST(plan_job, says_what_is_wrong_with_the_header_or_the_file) {
  test::temp_dir dir;
  const auto empty = plan_job(dir.write("empty.csv", ""), 4096, 2);
  ASSERT_FALSE(empty);
  const std::string error = empty.error().text();
  EXPECT_EQ(error.rfind("line 1: empty file", 0), 0u) << error;
  const auto cols =
      plan_job(dir.write("cols.csv", "Song,Date\na,2020-01-01\n"), 4096, 2);
  ASSERT_FALSE(cols);
  EXPECT_EQ(cols.error().text().rfind(
                "line 1: missing column \"Number of Plays\"", 0),
            0u)
      << cols.error().text();
  const std::string missing = dir.file("nowhere.csv");
  const auto nowhere = plan_job(missing, 4096, 2);
  ASSERT_FALSE(nowhere);
  EXPECT_EQ(nowhere.error().path, missing);
  EXPECT_EQ(nowhere.error().code, ENOENT);
  EXPECT_EQ(nowhere.error().text(),
            "cannot open " + missing + ": No such file or directory");
}

} // namespace
} // namespace playcount
