// core/spill: partials spilled to disk give the same result bytes.

#include "core/spill.hpp"

#include "core/hash.hpp"
#include "core/result_writer.hpp"
#include "support.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace playcount {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct rows_and_names {
  std::vector<std::string> names;
  std::vector<pending_row> rows;
};

rows_and_names random_rows(uint32_t songs, uint32_t spread, size_t n,
                           uint64_t seed) {
  rows_and_names out;
  std::mt19937_64 rng(seed);
  for (uint32_t i = 0; i < songs; ++i)
    out.names.push_back(i % 5 == 0 ? "a longer name, with a comma, " +
                                         std::to_string(i)
                                   : "Song " + std::to_string(i));
  for (size_t i = 0; i < n; ++i) {
    const std::string& name = out.names[rng() % songs];
    out.rows.push_back({name, hash_bytes(name.data(), name.size()),
                        static_cast<day_number>(rng() % spread),
                        static_cast<int64_t>(rng() % 50), i * 7});
  }
  return out;
}

void add(partial_aggregate& into, const pending_row* rows, size_t n,
         uint32_t tag) {
  for (size_t i = 0; i < n; i += partial_aggregate::max_batch) {
    const size_t k = std::min(partial_aggregate::max_batch, n - i);
    ASSERT_EQ(into.add_rows(rows + i, k, tag), k);
  }
}

// Workers of every count, spilling every few rows or never, against one
// partial written the usual way.
TEST(spill, gives_the_same_result_bytes_at_every_size_and_spill_interval) {
  test::temp_dir dir;
  for (uint32_t songs : {3u, 500u, 20000u})
    for (uint32_t spread : {5u, 400u, 4000u})
      for (size_t every : {size_t{700}, size_t{9000}}) {
        SCOPED_TRACE(testing::Message() << songs << " songs over " << spread
                                        << " days, a spill every " << every);
        const rows_and_names data = random_rows(songs, spread, 30000, songs);
        partial_aggregate whole;
        add(whole, data.rows.data(), data.rows.size(), 0);
        const std::string expected = format_result(whole);
        const std::string spills = dir.file("spill");
        ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
        // Three workers take ranges of 1000 rows in turn; each spills once
        // it has read `every` rows since its last spill.
        std::vector<partial_aggregate> workers(3);
        std::vector<size_t> since(3, 0);
        uint64_t spilled = 0;
        uint32_t name = 0;
        for (size_t at = 0, range = 0; at < data.rows.size();
             at += 1000, ++range) {
          const size_t w = range % 3;
          const size_t n = std::min<size_t>(1000, data.rows.size() - at);
          add(workers[w], data.rows.data() + at, n,
              static_cast<uint32_t>(range));
          if ((since[w] += n) >= every) {
            const auto bytes =
                spill(workers[w], spills, "w" + std::to_string(name++));
            ASSERT_TRUE(bytes) << bytes.error().text();
            spilled += *bytes;
            since[w] = 0;
          }
        }
        EXPECT_GT(spilled, 0u);
        EXPECT_TRUE(has_spills(spills));
        EXPECT_EQ(spilled_bytes(spills), spilled);
        const std::string out = dir.file("out.csv");
        phase_meter parts;
        const auto written =
            write_spilled_result(workers, spills, {"w"}, out, false, &parts);
        ASSERT_TRUE(written) << written.error().text();
        EXPECT_FALSE(written->overflow);
        // Progress: each partition merged, then the file.
        EXPECT_EQ(parts.total, partial_aggregate::partitions + 1);
        EXPECT_EQ(parts.done, parts.total);
        EXPECT_EQ(slurp(out), expected);
        EXPECT_EQ(written->groups, whole.groups());
        remove_spills(spills);
        EXPECT_FALSE(test::exists(spills)); // gone, directory and all
      }
}

// A result of several write buffers (written on a thread of their own while
// the next is merged): the same bytes; and when the file cannot take them
// all (a file size limit, as a full disk), the reason and no file.
TEST(spill, a_large_result_is_the_same_and_a_failed_write_says_why) {
  test::temp_dir dir;
  rows_and_names data = random_rows(60000, 700, 400000, 9);
  partial_aggregate whole;
  add(whole, data.rows.data(), data.rows.size(), 0);
  const std::string expected = format_result(whole);
  ASSERT_GT(expected.size(), size_t{8} << 20); // two buffers at least
  for (const bool limited : {false, true}) {
    SCOPED_TRACE(limited ? "a file size limit" : "no limit");
    const std::string spills = dir.file(limited ? "spill2" : "spill1");
    ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
    std::vector<partial_aggregate> parts(2);
    const size_t half = data.rows.size() / 2;
    add(parts[0], data.rows.data(), half, 0);
    const auto spilled = spill(parts[0], spills, "w0");
    ASSERT_TRUE(spilled) << spilled.error().text();
    add(parts[1], data.rows.data() + half, data.rows.size() - half, 1);
    // The pieces (a 16th of the result each) fit, the result does not.
    struct rlimit before {};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
    struct sigaction ignore {
    }, was{};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGXFSZ, &ignore, &was);
    if (limited) {
      struct rlimit small = before;
      small.rlim_cur = expected.size() / 2;
      ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    }
    const std::string out = dir.file(limited ? "out2.csv" : "out1.csv");
    const auto written = write_spilled_result(parts, spills, {"w"}, out, false);
    ::setrlimit(RLIMIT_FSIZE, &before);
    ::sigaction(SIGXFSZ, &was, nullptr);
    if (!limited) {
      ASSERT_TRUE(written) << written.error().text();
      EXPECT_FALSE(written->overflow);
      EXPECT_EQ(slurp(out), expected);
      EXPECT_EQ(written->groups, whole.groups());
    } else {
      ASSERT_FALSE(written);
      const std::string error = written.error().text();
      EXPECT_EQ(written.error().code, EFBIG);
      EXPECT_NE(error.find("cannot write"), std::string::npos) << error;
      EXPECT_NE(error.find("File too large"), std::string::npos) << error;
      EXPECT_FALSE(test::exists(out));
      // No partial result left beside it.
      EXPECT_EQ(test::entries(dir.path()),
                (std::vector<std::string>{"out1.csv", "spill2"}));
    }
    remove_spills(spills);
  }
}

// Totals that each fit, spilled apart, overflow once merged: the end says
// so (the caller then finds the row by reading again) and writes nothing.
TEST(spill, totals_that_overflow_once_merged_are_found_at_the_end) {
  test::temp_dir dir;
  const std::string spills = dir.file("spill");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  const std::string name = "Song 1";
  const uint64_t h = hash_bytes(name.data(), name.size());
  const int64_t big = INT64_MAX / 2 + 1;
  for (uint32_t i = 0; i < 2; ++i) {
    partial_aggregate p;
    const pending_row row{name, h, 100, big, uint64_t{i} * 40};
    ASSERT_EQ(p.add_rows(&row, 1, i), 1u);
    const auto spilled = spill(p, spills, "w" + std::to_string(i));
    ASSERT_TRUE(spilled) << spilled.error().text();
  }
  std::vector<partial_aggregate> none;
  const std::string out = dir.file("out.csv");
  const auto written = write_spilled_result(none, spills, {"w"}, out, false);
  ASSERT_TRUE(written) << written.error().text();
  EXPECT_TRUE(written->overflow);
  EXPECT_FALSE(test::exists(out));
  remove_spills(spills);
}

// A song played every day (a dense run) with one total too wide for a run
// slot (kept in the table, its slot marked wide), spilled twice: each day
// once, the wide one summed.
TEST(spill, wide_totals_in_a_run_merge_from_spills_to_the_same_bytes) {
  test::temp_dir dir;
  const std::string spills = dir.file("spill");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  const std::string name = "Song 1";
  const uint64_t h = hash_bytes(name.data(), name.size());
  std::vector<pending_row> rows;
  for (int day = 0; day < 40; ++day)
    rows.push_back({name, h, day, day == 7 ? (int64_t{1} << 40) : 3,
                    uint64_t(rows.size()) * 10});
  partial_aggregate whole;
  add(whole, rows.data(), rows.size(), 0);
  add(whole, rows.data(), rows.size(), 1);
  const std::string expected = format_result(whole);
  ASSERT_NE(expected.find(std::to_string((int64_t{1} << 41))),
            std::string::npos);
  for (uint32_t i = 0; i < 2; ++i) {
    partial_aggregate p;
    add(p, rows.data(), rows.size(), i);
    const auto spilled = spill(p, spills, "w" + std::to_string(i));
    ASSERT_TRUE(spilled) << spilled.error().text();
  }
  std::vector<partial_aggregate> none;
  const std::string out = dir.file("out.csv");
  const auto written = write_spilled_result(none, spills, {"w"}, out, false);
  ASSERT_TRUE(written) << written.error().text();
  EXPECT_EQ(slurp(out), expected);
  EXPECT_EQ(written->groups, 40u);
  remove_spills(spills);
}

TEST(spill, a_damaged_spill_file_fails_the_result_and_writes_nothing) {
  test::temp_dir dir;
  const std::string spills = dir.file("spill");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  const rows_and_names data = random_rows(100, 30, 5000, 1);
  partial_aggregate p;
  add(p, data.rows.data(), data.rows.size(), 0);
  const auto spilled = spill(p, spills, "w0");
  ASSERT_TRUE(spilled) << spilled.error().text();
  const std::vector<std::string> files = test::entries(spills);
  ASSERT_FALSE(files.empty());
  ASSERT_EQ(::truncate((spills + "/" + files[0]).c_str(), 20), 0);
  std::vector<partial_aggregate> none;
  const std::string out = dir.file("out.csv");
  const auto written = write_spilled_result(none, spills, {"w"}, out, false);
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().text(),
            "a spilled partial does not read back (damaged on disk?)");
  EXPECT_FALSE(test::exists(out));
}

// Only the spills of the owners named count: a worker taken off a job had
// its ranges read again by others, so its spills would count them twice;
// remove_spills_named takes one worker's files and leaves the rest.
TEST(spill, only_the_named_owners_spills_count) {
  test::temp_dir dir;
  const std::string spills = dir.file("spill");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  const rows_and_names kept = random_rows(100, 30, 5000, 1);
  const rows_and_names taken_off = random_rows(100, 30, 5000, 2);
  partial_aggregate expected_totals;
  add(expected_totals, kept.rows.data(), kept.rows.size(), 0);
  const std::string expected = format_result(expected_totals);
  for (const auto& [rows, name] :
       {std::pair{&kept, "w1-0"}, std::pair{&taken_off, "w12-0"}}) {
    partial_aggregate p;
    add(p, rows->rows.data(), rows->rows.size(), 0);
    const auto spilled = spill(p, spills, name);
    ASSERT_TRUE(spilled) << spilled.error().text();
  }
  std::vector<partial_aggregate> none;
  const std::string out = dir.file("out.csv");
  const auto written =
      write_spilled_result(none, spills, {"f-", "w1-"}, out, false);
  ASSERT_TRUE(written) << written.error().text();
  EXPECT_EQ(slurp(out), expected);
  // What the result read is gone; the other worker's spills are not (and
  // the result's text pieces, removed with the directory).
  std::vector<std::string> left;
  for (const std::string& name : test::entries(spills))
    if (name.rfind("piece-", 0) != 0)
      left.push_back(name);
  ASSERT_FALSE(left.empty());
  for (const std::string& name : left)
    EXPECT_EQ(name.rfind("w12-0-p", 0), 0u) << name;
  std::ofstream(spills + "/w1-1-p00.pca") << "x";
  remove_spills_named(spills, "w1-");
  EXPECT_FALSE(test::exists(spills + "/w1-1-p00.pca"));
  EXPECT_TRUE(test::exists(spills + "/" + left[0]));
  remove_spills_named(spills, "w12-");
  EXPECT_FALSE(test::exists(spills + "/" + left[0]));
  EXPECT_TRUE(test::exists(spills));
}

TEST(spill, removes_only_its_own_files) {
  test::temp_dir dir;
  const std::string spills = dir.file("spill");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  std::ofstream(spills + "/w1-0-p03.pca") << "x";
  std::ofstream(spills + "/piece-p03") << "x";
  std::ofstream(spills + "/notes.txt") << "not ours";
  remove_spills(spills);
  EXPECT_EQ(test::entries(spills), std::vector<std::string>{"notes.txt"});
}

TEST(spill, the_default_memory_limit_is_half_of_what_the_process_may_use) {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGE_SIZE);
  const uint64_t physical = uint64_t(pages) * uint64_t(page);
  EXPECT_GT(default_memory_limit(), 0u);
  EXPECT_LE(default_memory_limit(), physical / 2);
}

// In a cgroup of its own below the root (systemd-run -p MemoryMax=, a
// slice), the limit is in that cgroup's directory, not the root's: a
// child process moved into one made here sees half of its limit. Needs
// root and a memory controller (v1, or v2 with memory in the subtree).
TEST(spill, the_default_memory_limit_is_that_of_the_process_own_cgroup) {
  std::string dir;
  std::string file;
  if (test::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")) {
    dir = "/sys/fs/cgroup/memory/playcount-spill-test-" +
          std::to_string(::getpid());
    file = "memory.limit_in_bytes";
  } else {
    std::ifstream control("/sys/fs/cgroup/cgroup.subtree_control");
    std::string controllers;
    std::getline(control, controllers);
    if (controllers.find("memory") != std::string::npos) {
      dir = "/sys/fs/cgroup/playcount-spill-test-" + std::to_string(::getpid());
      file = "memory.max";
    }
  }
  if (dir.empty() || ::mkdir(dir.c_str(), 0755) != 0)
    GTEST_SKIP() << "cannot make a memory cgroup (not root, or no memory "
                    "controller)";
  constexpr uint64_t limit = uint64_t{192} << 20;
  std::ofstream(dir + "/" + file) << limit;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::ofstream(dir + "/cgroup.procs") << ::getpid() << std::flush;
    const uint64_t seen = default_memory_limit();
    (void)!::write(pipe_fds[1], &seen, sizeof seen);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  uint64_t seen = 0;
  EXPECT_EQ(::read(pipe_fds[0], &seen, sizeof seen),
            static_cast<ssize_t>(sizeof seen));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  (void)::rmdir(dir.c_str());
  EXPECT_EQ(seen, limit / 2);
}

// A worker node sends its partial back partition by partition: each one's
// part in memory with what was spilled of it, encoded on its own.
TEST(spill, merge_spilled_partition_gives_back_each_partition_whole) {
  test::temp_dir dir;
  for (uint32_t songs : {3u, 2000u}) {
    SCOPED_TRACE(testing::Message() << songs << " songs");
    const rows_and_names data = random_rows(songs, 300, 20000, songs);
    partial_aggregate whole;
    add(whole, data.rows.data(), data.rows.size(), 0);
    const std::string expected = format_result(whole);
    const std::string spills = dir.file("spill-" + std::to_string(songs));
    ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
    // Spilled after each of three quarters; the last quarter in memory.
    partial_aggregate worker;
    for (size_t q = 0; q < 4; ++q) {
      add(worker, data.rows.data() + q * 5000, 5000, static_cast<uint32_t>(q));
      if (q < 3) {
        const auto spilled = spill(worker, spills, "s" + std::to_string(q));
        ASSERT_TRUE(spilled) << spilled.error().text();
      }
    }
    partial_aggregate rebuilt;
    for (uint32_t p = 0; p < partial_aggregate::partitions; ++p) {
      partial_aggregate part = worker.take_partition(p);
      const auto merged = merge_spilled_partition(spills, p, part);
      ASSERT_TRUE(merged) << merged.error().text();
      EXPECT_TRUE(*merged); // no overflow
      partial_aggregate decoded;
      ASSERT_TRUE(partial_aggregate::decode(part.encode_partition(p), decoded));
      ASSERT_TRUE(rebuilt.merge(std::move(decoded)));
    }
    EXPECT_EQ(format_result(rebuilt), expected);
    EXPECT_FALSE(has_spills(spills)); // each file removed once read
  }
}

TEST(spill, merge_spilled_partition_refuses_a_damaged_file) {
  test::temp_dir dir;
  const std::string spills = dir.file("spill");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  const rows_and_names data = random_rows(100, 30, 5000, 1);
  partial_aggregate p;
  add(p, data.rows.data(), data.rows.size(), 0);
  const auto spilled = spill(p, spills, "s0");
  ASSERT_TRUE(spilled) << spilled.error().text();
  const std::vector<std::string> files = test::entries(spills);
  ASSERT_FALSE(files.empty());
  ASSERT_EQ(::truncate((spills + "/" + files[0]).c_str(), 20), 0);
  const uint32_t damaged = static_cast<uint32_t>(
      std::stoul(files[0].substr(files[0].find("-p") + 2, 2)));
  partial_aggregate part;
  const auto merged = merge_spilled_partition(spills, damaged, part);
  ASSERT_FALSE(merged);
  EXPECT_EQ(merged.error().text(),
            "a spilled partial does not read back (damaged on disk?)");
}

TEST(spill, remove_spill_tree_removes_a_node_directory_of_job_directories) {
  test::temp_dir dir;
  const std::string node = dir.file("node");
  ASSERT_EQ(::mkdir(node.c_str(), 0700), 0);
  for (const char* job : {"/job1-w9", "/job2-w10"}) {
    ASSERT_EQ(::mkdir((node + job).c_str(), 0700), 0);
    std::ofstream(node + job + "/s0-p03.pca") << "x";
    std::ofstream(node + job + "/s1-p15.pca") << "x";
  }
  remove_spill_tree(node);
  EXPECT_FALSE(test::exists(node));

  // What is not ours stays, with the directories that hold it.
  ASSERT_EQ(::mkdir(node.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((node + "/job1-w9").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((node + "/job2-w10").c_str(), 0700), 0);
  std::ofstream(node + "/job1-w9/s0-p03.pca") << "x";
  std::ofstream(node + "/job2-w10/s0-p03.pca") << "x";
  std::ofstream(node + "/job2-w10/notes.txt") << "not ours";
  remove_spill_tree(node);
  EXPECT_EQ(test::entries(node), std::vector<std::string>{"job2-w10"});
  EXPECT_EQ(test::entries(node + "/job2-w10"),
            std::vector<std::string>{"notes.txt"});
}

// A spill directory as a process that was killed left it: owner.lock,
// spills and a node's job directory; nothing written for `age` seconds.
std::string left_behind(const test::temp_dir& dir, const std::string& name,
                        bool owner_lock, int age, bool foreign_file = false) {
  const std::string path = dir.file(name);
  EXPECT_EQ(::mkdir(path.c_str(), 0700), 0);
  EXPECT_EQ(::mkdir((path + "/job1-w9").c_str(), 0700), 0);
  std::ofstream(path + "/job1-w9/s0-p03.pca") << "x";
  std::ofstream(path + "/w7-0-p03.pca") << "x";
  if (owner_lock)
    std::ofstream(path + "/owner.lock");
  if (foreign_file)
    std::ofstream(path + "/notes.txt") << "not ours";
  const timespec then{::time(nullptr) - age, 0};
  const timespec times[2] = {then, then};
  EXPECT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  return path;
}

TEST(spill, a_spill_dir_of_its_own_sweeps_only_what_stopped_runs_left) {
  test::temp_dir dir;
  const std::string killed =
      left_behind(dir, "playcount-spill-aaaaaa", true, 120);
  const std::string running =
      left_behind(dir, "playcount-spill-bbbbbb", true, 120);
  const std::string older_kind =
      left_behind(dir, "playcount-spill-cccccc", false, 120);
  const std::string just_made =
      left_behind(dir, "playcount-spill-dddddd", true, 5);
  const std::string shared =
      left_behind(dir, "playcount-spill-eeeeee", true, 120, true);
  const std::string other = left_behind(dir, "playcount-spills", true, 120);
  // A process that runs holds its lock (another open file, as another
  // process would).
  const int held = ::open((running + "/owner.lock").c_str(), O_RDONLY);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX), 0);

  unsigned swept = 0;
  const auto made = make_spill_dir(dir.path(), swept);
  ASSERT_TRUE(made) << made.error().text();
  const std::string mine = *made;
  EXPECT_EQ(swept, 2u);
  EXPECT_FALSE(test::exists(killed));
  EXPECT_EQ(test::entries(shared), std::vector<std::string>{"notes.txt"});
  for (const std::string& kept : {running, just_made, other})
    EXPECT_EQ(
        test::entries(kept),
        (std::vector<std::string>{"job1-w9", "owner.lock", "w7-0-p03.pca"}))
        << kept;
  EXPECT_EQ(test::entries(older_kind),
            (std::vector<std::string>{"job1-w9", "w7-0-p03.pca"}));
  EXPECT_EQ(mine.rfind(dir.path() + "/playcount-spill-", 0), 0u) << mine;
  EXPECT_EQ(test::entries(mine), std::vector<std::string>{"owner.lock"});
  ::close(held);

  // Ours is locked for as long as this process lives, however old.
  const timespec then{::time(nullptr) - 600, 0};
  const timespec times[2] = {then, then};
  ASSERT_EQ(::utimensat(AT_FDCWD, mine.c_str(), times, 0), 0);
  const auto made_again = make_spill_dir(dir.path(), swept);
  ASSERT_TRUE(made_again) << made_again.error().text();
  const std::string second = *made_again;
  EXPECT_EQ(swept, 1u); // `running`, now that nobody holds its lock
  EXPECT_TRUE(test::exists(mine + "/owner.lock"));
  remove_spills(mine);
  remove_spills(second);
  EXPECT_FALSE(test::exists(mine));
  EXPECT_FALSE(test::exists(second));

  const auto missing = make_spill_dir(dir.file("none"), swept);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_EQ(missing.error().text(), "cannot make a directory in " +
                                        dir.file("none") +
                                        ": No such file or directory");
}

} // namespace
} // namespace playcount
