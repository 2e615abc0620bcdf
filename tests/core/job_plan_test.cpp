// core/job_plan: planning a file on disk, chunks scanned on several threads,
// must give the plan of the same bytes in memory, scanned in order.

#include "core/job_plan.hpp"

#include "support.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

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
        job_plan plan;
        std::string error;
        ASSERT_TRUE(plan_job(path, range_size, threads, plan, error)) << error;
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
  job_plan plan;
  std::string error;
  ASSERT_TRUE(plan_job(dir.write("h.csv", "Song,Date,Number of Plays\n"), 4096,
                       2, plan, error))
      << error;
  EXPECT_TRUE(plan.ranges.empty());
}

TEST(plan_job, says_what_is_wrong_with_the_header_or_the_file) {
  test::temp_dir dir;
  job_plan plan;
  std::string error;
  EXPECT_FALSE(plan_job(dir.write("empty.csv", ""), 4096, 2, plan, error));
  EXPECT_EQ(error.rfind("line 1: empty file", 0), 0u) << error;
  EXPECT_FALSE(plan_job(dir.write("cols.csv", "Song,Date\na,2020-01-01\n"),
                        4096, 2, plan, error));
  EXPECT_EQ(error.rfind("line 1: missing column \"Number of Plays\"", 0), 0u)
      << error;
  const std::string missing = dir.file("nowhere.csv");
  EXPECT_FALSE(plan_job(missing, 4096, 2, plan, error));
  EXPECT_NE(error.find(missing), std::string::npos) << error;
}

} // namespace
} // namespace playcount
