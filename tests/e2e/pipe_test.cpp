// `playcount count -` and other inputs that are not regular files: counted
// as they arrive (core/spool.hpp), the same bytes as for the file.

#include "tests/support/binary.hpp"
#include "tests/support/compressed.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/proc_stat.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <dirent.h>
#include <fcntl.h>
#include <functional>
#include <linux/falloc.h>
#include <sstream>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>

namespace playcount {
namespace {

using test::run;
using test::temp_dir;

using test::binary;

// A count running with its standard input on a pipe the test writes.
class fed_count {
public:
  explicit fed_count(const std::vector<std::string>& args,
                     const std::string& dir)
      : err_path_(dir + "/stderr") {
    // A count that ended closes the pipe: writing then must fail, not kill
    // the test.
    std::signal(SIGPIPE, SIG_IGN);
    std::vector<char*> argv;
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int in[2];
    EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
    const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT, 0600);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err, STDERR_FILENO);
    EXPECT_EQ(
        posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ),
        0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(err);
    feed_ = in[1];
  }
  fed_count(const fed_count&) = delete;
  fed_count& operator=(const fed_count&) = delete;
  ~fed_count() {
    close_input();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      (void)wait();
    }
  }

  /// False when the count no longer reads (it ended).
  bool write(std::string_view bytes) {
    return feed_ >= 0 && ::write(feed_, bytes.data(), bytes.size()) ==
                             static_cast<ssize_t>(bytes.size());
  }
  void close_input() {
    if (feed_ >= 0)
      ::close(feed_);
    feed_ = -1;
  }
  /// Its exit status; -1 when killed.
  int wait() {
    const int status = wait_status();
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  /// Its status as waitpid tells it.
  int wait_status() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  [[nodiscard]] std::string err() const { return test::read_file(err_path_); }
  [[nodiscard]] pid_t pid() const { return pid_; }

private:
  std::string err_path_;
  pid_t pid_ = -1;
  int feed_ = -1;
};

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d))
      if (std::string_view(e->d_name) != "." &&
          std::string_view(e->d_name) != "..")
        out.emplace_back(e->d_name);
    ::closedir(d);
  }
  return out;
}

std::string sample_csv(size_t rows) {
  test::csv_shape shape;
  shape.rows = rows;
  shape.songs = 300;
  return test::make_csv(shape);
}

TEST(count_pipe, counts_standard_input_as_the_file_from_a_slow_producer) {
  temp_dir dir;
  const std::string csv = sample_csv(40000);
  const auto in = dir.write("in.csv", csv);
  const auto expected_path = dir.file("expected.csv");
  ASSERT_EQ(run({binary, "count", in, "-o", expected_path}).exit_code, 0);
  const std::string tmp = dir.file("tmp");
  ASSERT_EQ(::mkdir(tmp.c_str(), 0700), 0);
  const auto out = dir.file("out.csv");
  fed_count count({binary, "count", "-", "-o", out, "--test-range-size", "4K",
                   "--temp-dir", tmp},
                  dir.path());
  // Pieces of uneven sizes with pauses: records and the header are cut
  // anywhere, and the planner waits for bytes many times.
  size_t at = 0;
  for (size_t piece = 1; at < csv.size(); piece = piece * 7 % 9973 + 1) {
    const size_t n = std::min(piece, csv.size() - at);
    ASSERT_TRUE(count.write(std::string_view(csv).substr(at, n)));
    at += n;
    if (piece % 5 == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(2)); // a pace
  }
  count.close_input();
  ASSERT_EQ(count.wait(), 0) << count.err();
  EXPECT_EQ(test::read_file(out), test::read_file(expected_path));
  // The spool went with its run.
  EXPECT_TRUE(entries(tmp).empty()) << entries(tmp).front();
}

TEST(count_pipe, the_workers_run_nicer_than_what_feeds_them) {
  temp_dir dir;
  const auto out = dir.file("out.csv");
  fed_count count({binary, "count", "-", "-o", out}, dir.path());
  ASSERT_TRUE(
      count.write("Song,Date,Number of Plays\nUmbrella,2020-01-01,4\n"));
  // While the count waits for the rest: its actor threads 5 nicer than the
  // rest of the process (the spool's copy among them), which stays as it
  // was started.
  std::vector<std::pair<std::string, int>> seen;
  ASSERT_TRUE(test::eventually([&] {
    seen = test::thread_niceness(count.pid());
    return std::count_if(seen.begin(), seen.end(), [](const auto& t) {
             return t.first == "caf.actor";
           }) > 0;
  }));
  const int started = ::getpriority(PRIO_PROCESS, 0); // inherited
  int actors = 0, others = 0;
  for (const auto& [name, nice] : seen) {
    if (name.rfind("caf.", 0) == 0) {
      EXPECT_EQ(nice, std::min(started + 5, 19)) << name;
      ++actors;
    } else {
      EXPECT_EQ(nice, started) << name;
      ++others;
    }
  }
  EXPECT_GT(actors, 0);
  EXPECT_GT(others, 0);
  count.close_input();
  ASSERT_EQ(count.wait(), 0) << count.err();
  EXPECT_EQ(
      test::read_file(out),
      "Song,Date,Total Number of Plays for Date\nUmbrella,2020-01-01,4\n");
}

TEST(count_pipe, a_bad_record_ends_the_count_before_the_input_ends) {
  temp_dir dir;
  const auto out = dir.file("out.csv");
  fed_count count({binary, "count", "-", "-o", out}, dir.path());
  ASSERT_TRUE(count.write("Song,Date,Number of Plays\n"
                          "Umbrella,2020-01-01,4\n"
                          "Umbrella,yesterday,1\n"));
  // The producer goes on and never closes: the count must not wait for
  // an end that does not come. Rows are written until it stops reading.
  const std::string more = [] {
    std::string rows;
    for (int i = 0; i < 1000; ++i)
      rows += "Umbrella,2020-01-02,1\n";
    return rows;
  }();
  while (count.write(more)) {
  }
  EXPECT_EQ(count.wait(), 1);
  const std::string err = count.err();
  EXPECT_NE(err.find("standard input: line 3:"), std::string::npos) << err;
  EXPECT_EQ(::access(out.c_str(), F_OK), -1) << "no result on bad input";
}

// A first line that never ends (a binary stream, a wrong file) is not
// spooled until the input ends: no header line ends in its first MiB.
TEST(count_pipe, a_first_line_without_end_fails_after_a_mebibyte) {
  temp_dir dir;
  const auto out = dir.file("out.csv");
  fed_count count({binary, "count", "-", "-o", out}, dir.path());
  const std::string zeros(64 << 10, '\0');
  while (count.write(zeros)) {
  }
  EXPECT_EQ(count.wait(), 1);
  const std::string err = count.err();
  EXPECT_NE(err.find("standard input: line 1: no header line ends in the "
                     "first 1 MiB"),
            std::string::npos)
      << err;
  EXPECT_EQ(::access(out.c_str(), F_OK), -1) << "no result on bad input";
}

TEST(count_pipe, reads_a_fifo_and_dev_stdin_by_name) {
  temp_dir dir;
  const std::string csv = sample_csv(5000);
  const auto in = dir.write("in.csv", csv);
  const auto expected_path = dir.file("expected.csv");
  ASSERT_EQ(run({binary, "count", in, "-o", expected_path}).exit_code, 0);
  const std::string expected = test::read_file(expected_path);

  const auto fifo = dir.file("plays.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] {
    const int fd = ::open(fifo.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(::write(fd, csv.data(), csv.size()),
              static_cast<ssize_t>(csv.size()));
    ::close(fd);
  });
  const auto from_fifo = dir.file("fifo.csv");
  const auto r = run({binary, "count", fifo, "-o", from_fifo});
  writer.join();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::read_file(from_fifo), expected);

  const auto from_stdin = dir.file("stdin.csv");
  fed_count count({binary, "count", "/dev/stdin", "-o", from_stdin},
                  dir.path());
  ASSERT_TRUE(count.write(csv));
  count.close_input();
  ASSERT_EQ(count.wait(), 0) << count.err();
  EXPECT_EQ(test::read_file(from_stdin), expected);
}

TEST(count_pipe, a_zstd_stream_that_opens_with_a_skippable_frame_is_decoded) {
  temp_dir dir;
  const std::string csv = sample_csv(5000);
  const auto in = dir.write("in.csv", csv);
  const auto expected_path = dir.file("expected.csv");
  ASSERT_EQ(run({binary, "count", in, "-o", expected_path}).exit_code, 0);
  const std::string expected = test::read_file(expected_path);
  // As pzstd writes it: each frame after a skippable frame with its size.
  const std::string half = csv.substr(0, csv.size() / 2);
  const std::string zst =
      test::skippable_frame("size") + test::zstd_frame(half) +
      test::skippable_frame("size") + test::zstd_frame(csv.substr(half.size()));
  const auto file = dir.write("in.csv.zst", zst);
  const auto from_file = dir.file("file.csv");
  const auto r = run({binary, "count", file, "-o", from_file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::read_file(from_file), expected);

  const auto from_stdin = dir.file("stdin.csv");
  fed_count count({binary, "count", "-", "-o", from_stdin}, dir.path());
  ASSERT_TRUE(count.write(zst));
  count.close_input();
  ASSERT_EQ(count.wait(), 0) << count.err();
  EXPECT_EQ(test::read_file(from_stdin), expected);
}

TEST(count_pipe, a_stop_signal_removes_the_spool_and_ends_the_count_by_it) {
  temp_dir dir;
  const auto spills = dir.file("spills");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  const auto out = dir.file("out.csv");
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    fed_count count({binary, "count", "-", "-o", out, "--temp-dir", spills},
                    dir.path());
    ASSERT_TRUE(count.write(sample_csv(2000)));
    // The input is not over: the count waits for more, its spool there.
    const auto spooling = [&] {
      const auto runs = entries(spills);
      return runs.size() == 1 &&
             test::exists(spills + "/" + runs[0] + "/input.spool");
    };
    ASSERT_TRUE(test::eventually(spooling)) << sig;
    ASSERT_EQ(::kill(count.pid(), sig), 0);
    const int status = count.wait_status();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig)
        << sig << ": " << status << " " << count.err();
    EXPECT_EQ(entries(spills), std::vector<std::string>{}) << sig;
    EXPECT_FALSE(test::exists(out)) << sig;
  }
}

TEST(count_pipe, stops_spooling_at_the_input_size_limit) {
  temp_dir dir;
  const std::string tmp = dir.file("tmp");
  ASSERT_EQ(::mkdir(tmp.c_str(), 0700), 0);
  const auto out = dir.file("out.csv");
  fed_count count({binary, "count", "-", "-o", out, "--max-input-size", "64K",
                   "--temp-dir", tmp},
                  dir.path());
  const std::string csv = sample_csv(20000); // about 600 KB
  ASSERT_GT(csv.size(), size_t{64} << 10);
  (void)count.write(csv); // it may stop reading part-way
  count.close_input();
  EXPECT_EQ(count.wait(), 1);
  const std::string err = count.err();
  EXPECT_NE(err.find("standard input: the input is larger than the limit"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("--max-input-size"), std::string::npos) << err;
  EXPECT_EQ(::access(out.c_str(), F_OK), -1);
  EXPECT_TRUE(entries(tmp).empty()) << entries(tmp).front();
}

// Whether `dir`'s file system frees the blocks of a punched hole (ext4, xfs,
// btrfs, tmpfs do).
bool punches_holes(const std::string& dir) {
  const std::string path = dir + "/punch";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  const std::string block(1 << 20, 'x');
  bool freed = false;
  struct stat before {};
  struct stat after {};
  if (fd >= 0 &&
      ::write(fd, block.data(), block.size()) ==
          static_cast<ssize_t>(block.size()) &&
      ::fstat(fd, &before) == 0 &&
      ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                  static_cast<off_t>(block.size())) == 0 &&
      ::fstat(fd, &after) == 0)
    freed = after.st_blocks < before.st_blocks;
  if (fd >= 0)
    ::close(fd);
  ::unlink(path.c_str());
  return freed;
}

// A temp dir for the count inside `dir`; empty when its file system cannot
// punch holes (the spool then keeps all it copies: the caller skips).
std::string temp_dir_that_punches_holes(temp_dir& dir) {
  const std::string tmp = dir.file("tmp");
  if (::mkdir(tmp.c_str(), 0700) != 0 || !punches_holes(tmp))
    return {};
  return tmp;
}

// The result of counting `csv` from a file: what a pipe must give.
std::string counted_from_a_file(temp_dir& dir, const std::string& csv) {
  const auto in = dir.write("in.csv", csv);
  const auto expected = dir.file("expected.csv");
  EXPECT_EQ(run({binary, "count", in, "-o", expected}).exit_code, 0);
  return test::read_file(expected);
}

// Whether `pid` has exited (left to be reaped).
bool exited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info,
                  WEXITED | WNOHANG | WNOWAIT) != 0 ||
         info.si_pid != 0;
}

// A pipe larger than the temp dir's free space: where the spool frees what
// is counted it needs only its lead, so the default --max-input-size (the
// free space) does not apply; it did, and failed at the free space.
TEST(count_pipe, a_pipe_larger_than_the_free_space_counts_where_holes_free_it) {
  temp_dir dir;
  const std::string tmp = temp_dir_that_punches_holes(dir);
  if (tmp.empty())
    GTEST_SKIP() << "the file system of " << dir.path()
                 << " cannot punch holes";
  const std::string csv = sample_csv(20000); // about 600 KB
  const std::string expected = counted_from_a_file(dir, csv);
  const auto out = dir.file("out.csv");
  fed_count count({binary, "count", "-", "-o", out, "--temp-dir", tmp,
                   "--test-free-space", "64K", "--test-spool-ahead", "64K",
                   "--test-range-size", "16K"},
                  dir.path());
  ASSERT_TRUE(count.write(csv));
  count.close_input();
  ASSERT_EQ(count.wait(), 0) << count.err();
  EXPECT_EQ(test::read_file(out), expected);
  EXPECT_TRUE(entries(tmp).empty());
}

// The spool frees what the count has read and runs at most a bounded way
// ahead of it: a pipe takes the temp space (and page cache) of what is in
// flight, not of all of it.
TEST(count_pipe, frees_what_it_has_counted_and_keeps_a_bounded_lead) {
  temp_dir dir;
  const std::string tmp = temp_dir_that_punches_holes(dir);
  if (tmp.empty())
    GTEST_SKIP() << "the file system of " << dir.path()
                 << " cannot punch holes";
  const std::string csv = sample_csv(300000); // about 9 MB
  const std::string expected = counted_from_a_file(dir, csv);
  const auto out = dir.file("out.csv");
  constexpr uint64_t lead = 256 << 10;
  fed_count count({binary, "count", "-", "-o", out, "--workers", "2",
                   "--test-range-size", "16K", "--test-spool-ahead",
                   std::to_string(lead), "--temp-dir", tmp},
                  dir.path());
  std::thread producer([&] {
    (void)count.write(csv);
    count.close_input();
  });
  // The most disk the spool took, and how large it had grown then.
  uint64_t most_taken = 0;
  uint64_t largest = 0;
  bool ended = false;
  while (!ended) {
    ended = exited(count.pid()); // left to count.wait() to reap
    for (const std::string& run_dir : entries(tmp)) {
      struct stat st {};
      if (::stat((tmp + "/" + run_dir + "/input.spool").c_str(), &st) == 0) {
        most_taken =
            std::max(most_taken, static_cast<uint64_t>(st.st_blocks) * 512);
        largest = std::max(largest, static_cast<uint64_t>(st.st_size));
      }
    }
  }
  producer.join();
  ASSERT_EQ(count.wait(), 0) << count.err();
  EXPECT_EQ(test::read_file(out), expected);
  // Seen most of the way through, yet never holding more than the lead, the
  // ranges in flight and a step of freeing (a 16th of the lead), with room
  // for the file system's rounding.
  EXPECT_GT(largest, csv.size() / 2);
  EXPECT_LE(most_taken, 2 * lead) << "of " << largest << " bytes spooled";
}

// A record longer than the spool's lead: the planner has read all it
// planned and waits for the rest of the record, so the spool must go on past
// its lead rather than wait for a reader that waits for it. Also when it is
// the first record, before any range was handed out (that one stalled).
TEST(count_pipe, a_record_longer_than_the_spools_lead_does_not_stall_it) {
  std::string name = "\"a song";
  for (int i = 0; i < 20000; ++i)
    name += i % 100 == 0 ? "\n\"\" line " : " la la la la";
  name += "\"";
  ASSERT_GT(name.size(), size_t{200} << 10);
  const std::string long_record = name + ",2020-01-01,7\n";
  const std::string before = sample_csv(20000);
  const std::string after = sample_csv(20000);
  const std::string header = before.substr(0, before.find('\n') + 1);
  const std::string after_rows = after.substr(after.find('\n') + 1);
  for (const std::string& csv :
       {before + long_record + after_rows, header + long_record + after_rows}) {
    SCOPED_TRACE(csv.compare(0, header.size() + 2, header + "\"a") == 0
                     ? "the first record"
                     : "a record in the middle");
    temp_dir dir;
    const std::string expected = counted_from_a_file(dir, csv);
    const auto out = dir.file("out.csv");
    fed_count count({binary, "count", "-", "-o", out, "--test-range-size", "4K",
                     "--test-spool-ahead", "64K"},
                    dir.path());
    std::thread producer([&] {
      (void)count.write(csv);
      count.close_input();
    });
    const bool ended = test::eventually([&] { return exited(count.pid()); },
                                        std::chrono::seconds(60));
    if (!ended)
      ::kill(count.pid(), SIGKILL); // stalled: the pipe closes, the write ends
    producer.join();
    ASSERT_TRUE(ended) << "the count stalled on a record longer than its lead";
    ASSERT_EQ(count.wait(), 0) << count.err();
    EXPECT_EQ(test::read_file(out), expected);
  }
}

// A total past 2^63: a file is read again to find the first record where it
// happens; a pipe whose read bytes were freed cannot be, and says so.
TEST(count_pipe, an_overflow_in_freed_input_fails_and_says_why_without_a_line) {
  temp_dir dir;
  const std::string tmp = temp_dir_that_punches_holes(dir);
  if (tmp.empty())
    GTEST_SKIP() << "the file system of " << dir.path()
                 << " cannot punch holes";
  std::string csv = sample_csv(40000); // about 1.2 MB, read before the end
  csv += "Umbrella,2020-01-01,9223372036854775807\n"
         "Umbrella,2020-01-01,1\n";
  const auto out = dir.file("out.csv");
  fed_count count({binary, "count", "-", "-o", out, "--test-range-size", "4K",
                   "--test-spool-ahead", "64K", "--temp-dir", tmp},
                  dir.path());
  std::thread producer([&] {
    (void)count.write(csv);
    count.close_input();
  });
  const int status = count.wait();
  producer.join();
  EXPECT_EQ(status, 1);
  const std::string err = count.err();
  EXPECT_NE(err.find("overflow: a total is larger than 9223372036854775807 "
                     "(the first record where it happens is not known"),
            std::string::npos)
      << err;
  EXPECT_EQ(::access(out.c_str(), F_OK), -1);
}

} // namespace
} // namespace playcount
