// `playcount count` run as a process, as a user would.

#include "tests/support/binary.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

#include "core/song_index.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>

namespace playcount {
namespace {

using test::run;
using test::temp_dir;

using test::binary;

TEST(count_command,
     totals_plays_per_song_and_date_in_order_of_first_appearance) {
  temp_dir dir;
  const auto in = dir.write("in.csv", "Song,Date,Number of Plays\n"
                                      "Umbrella,2020-01-02,3\n"
                                      "\"Hey, \"\"Jude\"\"\",2020-01-01,1\n"
                                      "Umbrella,2020-01-01,4\n"
                                      "Umbrella,2020-01-02,5\n");
  const auto out = dir.file("out.csv");
  const auto r = run({binary, "count", in, "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::read_file(out), "Song,Date,Total Number of Plays for Date\n"
                                  "Umbrella,2020-01-01,4\n"
                                  "Umbrella,2020-01-02,8\n"
                                  "\"Hey, \"\"Jude\"\"\",2020-01-01,1\n");
}

TEST(count_command, gives_the_same_bytes_for_any_workers_and_range_size) {
  temp_dir dir;
  test::csv_shape shape;
  shape.rows = 20000;
  shape.crlf = true;
  const auto in = dir.write("in.csv", test::make_csv(shape));
  const auto base = dir.file("base.csv");
  ASSERT_EQ(run({binary, "count", in, "-o", base, "--workers", "1",
                 "--range-size", "1G"})
                .exit_code,
            0);
  const std::string expected = test::read_file(base);
  for (const char* workers : {"2", "4"})
    for (const char* size : {"100", "4K", "64K"}) {
      const auto out = dir.file("out.csv");
      const auto r = run({binary, "count", in, "-o", out, "--workers", workers,
                          "--test-range-size", size});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(test::read_file(out), expected) << workers << " " << size;
    }
}

// -- a memory limit
// ------------------------------------------------------------

std::string many_songs_csv(size_t rows) {
  test::csv_shape shape;
  shape.rows = rows;
  shape.songs = rows / 3;
  shape.days = 3000;
  return test::make_csv(shape);
}

TEST(count_command, under_a_tiny_memory_limit_spills_and_gives_the_same_bytes) {
  temp_dir dir;
  const auto in = dir.write("in.csv", many_songs_csv(60000));
  const auto base = dir.file("base.csv");
  ASSERT_EQ(run({binary, "count", in, "-o", base}).exit_code, 0);
  const std::string spills = dir.file("tmp");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  for (const char* workers : {"1", "3"})
    for (const char* limit : {"1M", "3M"}) {
      const auto out = dir.file("out.csv");
      const auto r = run({binary, "count", in, "-o", out, "--workers", workers,
                          "--range-size", "64K", "--memory-limit", limit,
                          "--temp-dir", spills, "--verbose"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_NE(r.err.find(" spilled to disk"), std::string::npos) << r.err;
      EXPECT_EQ(test::read_file(out), test::read_file(base))
          << workers << " workers, " << limit;
      EXPECT_EQ(test::entries(spills),
                std::vector<std::string>{}); // all removed
    }
}

// Totals that each fit in a worker's spills overflow only when the spills
// are merged at the end: that is bad input as any overflow, said with the
// line where it happens (as without a limit), not as a result that could
// not be written.
TEST(count_command, an_overflow_found_merging_spills_names_its_line) {
  temp_dir dir;
  std::string csv = "Song,Date,Number of Plays\n";
  for (int part = 0; part < 3; ++part) {
    csv += "Umbrella,2020-01-01,4611686018427387904\n"; // 2^62
    for (int i = 0; i < 20000; ++i)
      csv += "s" + std::to_string(part * 20000 + i) + ",2020-01-01,1\n";
  }
  const auto in = dir.write("in.csv", csv);
  const std::string spills = dir.file("tmp");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  const std::string where =
      "line 20003: overflow: the total for \"Umbrella\" on 2020-01-01 is "
      "larger than 9223372036854775807";
  const auto plain = run({binary, "count", in, "-o", dir.file("out.csv")});
  EXPECT_EQ(plain.exit_code, 1);
  EXPECT_NE(plain.err.find(where), std::string::npos) << plain.err;
  for (const char* workers : {"1", "2"}) {
    const auto out = dir.file("out.csv");
    const auto r = run({binary, "count", in, "-o", out, "--workers", workers,
                        "--range-size", "64K", "--memory-limit", "1M",
                        "--temp-dir", spills, "--verbose"});
    EXPECT_EQ(r.exit_code, 1) << workers;
    EXPECT_NE(r.err.find(" spilled to disk"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(where), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("could not be written"), std::string::npos) << r.err;
    EXPECT_EQ(::access(out.c_str(), F_OK), -1);
    EXPECT_EQ(test::entries(spills), std::vector<std::string>{});
  }
}

// A count killed while it had spills leaves them; the next count in the
// same temp dir removes them once nothing has written there for a minute
// (aged by hand here), since no process holds that directory's lock.
TEST(count_command, spills_of_a_killed_count_go_at_the_next_count) {
  temp_dir dir;
  const auto in = dir.write("in.csv", many_songs_csv(600000));
  const std::string spills = dir.file("tmp");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  std::string killed;
  {
    test::child_process count({binary, "count", in, "-o", dir.file("out.csv"),
                               "--workers", "1", "--range-size", "64K",
                               "--memory-limit", "1M", "--temp-dir", spills},
                              dir.file("count.log"));
    ASSERT_TRUE(test::eventually([&] {
      const auto names = test::entries(spills);
      return names.size() == 1 &&
             test::entries(spills + "/" + names[0]).size() > 1;
    })) << count.log();
    killed = spills + "/" + test::entries(spills)[0];
    count.kill9();
  }
  ASSERT_GT(test::entries(killed).size(), 1u); // owner.lock and spills
  const timespec then{::time(nullptr) - 120, 0};
  const timespec times[2] = {then, then};
  ASSERT_EQ(::utimensat(AT_FDCWD, killed.c_str(), times, 0), 0);

  const auto small =
      dir.write("small.csv", "Song,Date,Number of Plays\na,2020-01-01,1\n");
  const auto r = run({binary, "count", small, "-o", dir.file("small-out.csv"),
                      "--temp-dir", spills});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("removed the spills of 1 stopped runs in " + spills),
            std::string::npos)
      << r.err;
  EXPECT_EQ(test::entries(spills), std::vector<std::string>{});
}

TEST(count_command, a_job_that_fails_after_spilling_leaves_no_spill_files) {
  temp_dir dir;
  const auto in =
      dir.write("in.csv", many_songs_csv(60000) + "late,2020-01-01,x\n");
  const std::string spills = dir.file("tmp");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  const auto r = run({binary, "count", in, "-o", dir.file("out.csv"),
                      "--workers", "1", "--range-size", "64K", "--memory-limit",
                      "1M", "--temp-dir", spills});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Number of Plays is not a whole number"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(test::exists(dir.file("out.csv")));
  EXPECT_EQ(test::entries(spills), std::vector<std::string>{});
}

// A full disk while spilling, as a file size limit (EFBIG, like ENOSPC for
// a writer): the job fails and says why; nothing is left behind.
TEST(count_command, a_spill_that_cannot_be_written_fails_the_job_clearly) {
  temp_dir dir;
  const auto in = dir.write("in.csv", many_songs_csv(60000));
  const std::string spills = dir.file("tmp");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  // Ignored signals stay ignored across exec: the write fails instead of
  // SIGXFSZ ending the process.
  struct sigaction ignore {
  }, before{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGXFSZ, &ignore, &before);
  if (!test::exists("/usr/bin/prlimit"))
    GTEST_SKIP() << "no /usr/bin/prlimit (util-linux)";
  const auto r =
      run({"/usr/bin/prlimit", "--fsize=4096", binary, "count", in, "-o",
           dir.file("out.csv"), "--workers", "1", "--range-size", "64K",
           "--memory-limit", "1M", "--temp-dir", spills});
  ::sigaction(SIGXFSZ, &before, nullptr);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot spill to disk: File too large"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(test::exists(dir.file("out.csv")));
  EXPECT_EQ(test::entries(spills), std::vector<std::string>{});
}

TEST(count_command, bad_input_exits_1_with_the_line_on_stderr_and_no_output) {
  temp_dir dir;
  const auto in = dir.write("bad.csv", "Song,Date,Number of Plays\n"
                                       "\"multi\nline\",2020-01-01,1\n"
                                       "x,2020-13-01,1\n");
  const auto out = dir.file("out.csv");
  const auto r = run({binary, "count", in, "-o", out});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(
      r.err.find("line 4: Date is not a real calendar date: \"2020-13-01\""),
      std::string::npos)
      << r.err;
  EXPECT_FALSE(test::exists(out));
}

TEST(count_command, keeps_an_existing_output_when_the_input_is_bad) {
  temp_dir dir;
  const auto in = dir.write("bad.csv", "Song,Date\nx,2020-01-01\n");
  const auto out = dir.write("out.csv", "previous result\n");
  const auto r = run({binary, "count", in, "-o", out});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("line 1: missing column \"Number of Plays\""),
            std::string::npos)
      << r.err;
  EXPECT_EQ(test::read_file(out), "previous result\n");
}

TEST(count_command, skip_mode_counts_and_lists_bad_records) {
  temp_dir dir;
  const auto in = dir.write("in.csv", "Song,Date,Number of Plays\n"
                                      "a,2020-01-01,1\n"
                                      "b,2020-01-01,-2\n"
                                      "c,2020-01-01\n"
                                      "a,2020-01-01,5\n");
  const auto out = dir.file("out.csv");
  const auto r = run({binary, "count", in, "-o", out, "--on-bad-rows", "skip"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped 2 bad records"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 3: Number of Plays is negative: \"-2\""),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("line 4: expected 3 fields, found 2"), std::string::npos)
      << r.err;
  EXPECT_EQ(test::read_file(out),
            "Song,Date,Total Number of Plays for Date\na,2020-01-01,6\n");
}

TEST(count_command, says_what_is_wrong_with_its_options) {
  temp_dir dir;
  const auto in = dir.write("in.csv", "Song,Date,Number of Plays\n");
  struct bad_call {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<bad_call> calls = {
      {{"count", in}, "-o OUT.csv"},
      {{"count", "-o", dir.file("o.csv")}, "exactly one input file"},
      {{"count", in, "-o", dir.file("o.csv"), "--workers", "zero"},
       "--workers wants a whole number"},
      {{"count", in, "-o", dir.file("o.csv"), "--workers", "0"},
       "--workers must be from 1"},
      {{"count", in, "-o", dir.file("o.csv"), "--on-bad-rows", "maybe"},
       "--on-bad-rows is fail or skip"},
      {{"count", in, "-o", dir.file("o.csv"), "--frobnicate", "1"},
       "unknown option --frobnicate\n"},
      {{"count", in, "-o", dir.file("o.csv"), "--worker", "2"},
       "unknown option --worker; did you mean --workers?"},
      {{"count", in, "-o", dir.file("o.csv"), "--quite"},
       "unknown option --quite; did you mean --quiet?"},
      {{"serve", "--prot", "8000"},
       "unknown option --prot; did you mean --port?"},
      {{"worker", "--jion", "h:1"},
       "unknown option --jion; did you mean --join?"},
      {{"count", in, "-o", dir.file("o.csv"), "--range-size", "1"},
       "--range-size must be at least 64 KiB"},
      {{"count", in, "-o", dir.file("o.csv"), "--range-size", "63K"},
       "--range-size must be at least 64 KiB"},
      {{"serve", "--range-size", "4K"}, "--range-size must be at least 64 KiB"},
      {{"count", in, "-o", dir.file("o.csv"), "--memory-limit", "4 GB"},
       "--memory-limit wants a size such as 64K, 512 MiB or 4G"},
      {{"count", in, "-o", dir.file("o.csv"), "--memory-limit", "512K"},
       "--memory-limit must be at least 1 MiB"},
      {{"serve", "--result-ttl", "1 week"},
       "--result-ttl wants a time such as"},
      {{"serve", "--idle-timeout", "500ms"},
       "--idle-timeout wants a time of at least 1 s"},
      {{"count", in, "-o"}, "option -o needs a value"},
      {{"frobnicate"}, "unknown command"},
      {{"cuont"}, "unknown command \"cuont\"; did you mean count?"},
  };
  for (const auto& call : calls) {
    std::vector<std::string> args{binary};
    args.insert(args.end(), call.args.begin(), call.args.end());
    const auto r = run(args);
    EXPECT_EQ(r.exit_code, 2) << call.says;
    EXPECT_NE(r.err.find(call.says), std::string::npos) << r.err;
  }
}

// Sizes and times are taken as they are printed ("4 GiB", "64 KiB").
TEST(count_command, takes_sizes_as_they_are_printed) {
  temp_dir dir;
  const auto in = dir.write("in.csv", "Song,Date,Number of Plays\n"
                                      "a,2020-01-01,1\n");
  for (const char* size : {"4GiB", "4G", "4 GiB", "4g"}) {
    const auto r = run({binary, "count", in, "-o", dir.file("out.csv"),
                        "--memory-limit", size, "--range-size", "64 KiB"});
    EXPECT_EQ(r.exit_code, 0) << size << ": " << r.err;
  }
}

TEST(count_command, help_lists_every_option) {
  const auto r = run({binary, "count", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* option :
       {"--output", "--workers", "--range-size", "--on-bad-rows",
        "--memory-limit", "--temp-dir", "--quiet", "--help", "--summary",
        "--summary-json"})
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
}

// -- the summary (issue 15)
// ------------------------------------------------------

TEST(count_command, summary_prints_the_totals_the_span_and_the_top_songs) {
  temp_dir dir;
  const auto in = dir.write("in.csv", "Song,Date,Number of Plays\n"
                                      "Umbrella,2020-01-02,3\n"
                                      "\"Hey, \"\"Jude\"\"\",2020-01-01,1\n"
                                      "Umbrella,2020-01-01,4\n"
                                      "\"two\nlines\",2020-03-01,1200\n");
  const std::string expected =
      "1,208 plays, 3 songs, 4 song-dates\n"
      "dates 2020-01-01 to 2020-03-01 (61 days)\n"
      "top 3 songs by plays:\n"
      " 1. two lines    1,200  2020-03-01..2020-03-01\n"
      " 2. Umbrella         7  2020-01-01..2020-01-02\n"
      " 3. Hey, \"Jude\"      1  2020-01-01..2020-01-01\n";
  auto r = run({binary, "count", in, "-o", dir.file("out.csv"), "--summary"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  // The result on standard output: the summary goes to stderr.
  r = run({binary, "count", in, "-o", "-", "--summary", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, expected);
  EXPECT_EQ(r.out.rfind("Song,Date,Total Number of Plays for Date\n", 0), 0u);
  // A long name is cut for the terminal, with "...".
  const auto long_in =
      dir.write("long.csv", "Song,Date,Number of Plays\n" +
                                std::string(300, 'x') + ",2020-01-01,5\n");
  r = run({binary, "count", long_in, "-o", dir.file("out.csv"), "--summary"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(" 1. " + std::string(66, 'x') +
                       "...  5  2020-01-01..2020-01-01\n"),
            std::string::npos)
      << r.out;
}

TEST(count_command, summary_json_is_the_same_with_or_without_spilling) {
  temp_dir dir;
  const auto in = dir.write("in.csv", many_songs_csv(60000));
  const auto json = dir.file("summary.json");
  auto r = run({binary, "count", in, "-o", dir.file("a.csv"), "--summary-json",
                json, "--test-song-index", dir.file("a.idx")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string expected = test::read_file(json);
  EXPECT_EQ(expected.rfind("{\"plays\":", 0), 0u) << expected;
  EXPECT_NE(expected.find("\"topSongs\":[{\"song\":"), std::string::npos);
  EXPECT_EQ(expected.find("skippedRows"), std::string::npos);
  const std::string spills = dir.file("tmp");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  r = run({binary, "count", in, "-o", dir.file("b.csv"), "--memory-limit", "1M",
           "--range-size", "64K", "--temp-dir", spills, "--verbose",
           "--summary-json", "-", "--on-bad-rows", "skip", "--test-song-index",
           dir.file("b.idx")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(" spilled to disk"), std::string::npos) << r.err;
  // With skip, the skipped count (0) is said.
  std::string with_skip = expected;
  with_skip.insert(with_skip.find(",\"playsByDate\""), ",\"skippedRows\":0");
  EXPECT_EQ(r.out, with_skip);
  EXPECT_EQ(test::entries(spills), std::vector<std::string>{});
  // The song index the finisher wrote (as for a server job): the same on
  // both paths, and it finds a song's rows in the result.
  EXPECT_TRUE(test::read_file(dir.file("a.idx")) ==
              test::read_file(dir.file("b.idx")));
  const auto index = song_index::open(dir.file("b.idx"));
  ASSERT_TRUE(index) << index.error().text();
  EXPECT_GT(index->size(), 1000u);
  const song_entry last = index->at(index->size() - 1);
  const auto rows = read_song_rows(dir.file("b.csv"), last);
  ASSERT_TRUE(rows) << rows.error().text();
  EXPECT_EQ(rows->size(), last.dates);
}

TEST(count_command, summary_json_says_what_is_wrong_with_its_file) {
  temp_dir dir;
  const auto in =
      dir.write("in.csv", "Song,Date,Number of Plays\na,2020-01-01,1\n");
  auto r = run({binary, "count", in, "-o", dir.file("o.csv"), "--summary-json",
                dir.file("o.csv")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--summary-json and -o cannot be the same file"),
            std::string::npos)
      << r.err;
  r = run({binary, "count", in, "-o", dir.file("o.csv"), "--summary-json",
           dir.file("nowhere/s.json")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("the directory does not exist"), std::string::npos)
      << r.err;
  EXPECT_FALSE(test::exists(dir.file("o.csv"))); // said before counting
}

} // namespace
} // namespace playcount
