// What `playcount` shows a person at a terminal: --version, and the progress
// bar of `count` (its frames as text, and the summary on a real pty).

#include "app/progress.hpp"
#include "tests/support/binary.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

namespace playcount {
namespace {

using test::binary;

TEST(cli_version, version_and_dash_dash_version_print_the_project_version) {
  for (const char* arg : {"--version", "version"}) {
    const auto r = test::run({binary, arg});
    EXPECT_EQ(r.exit_code, 0) << arg;
    EXPECT_EQ(r.out, std::string("playcount ") + PLAYCOUNT_VERSION + "\n")
        << arg;
  }
  EXPECT_NE(test::run({binary, "--help"}).out.find("--version"),
            std::string::npos);
}

// Every command takes --version and -V, even those whose other options
// take values (`serve --version` once said "needs a value").
TEST(cli_version, every_command_takes_version_and_dash_v) {
  const std::string expected =
      std::string("playcount ") + PLAYCOUNT_VERSION + "\n";
  for (const char* command : {"count", "serve", "worker"})
    for (const char* arg : {"--version", "-V"}) {
      const auto r = test::run({binary, command, arg});
      EXPECT_EQ(r.exit_code, 0) << command << " " << arg << ": " << r.err;
      EXPECT_EQ(r.out, expected) << command << " " << arg;
    }
  const auto top = test::run({binary, "-V"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_EQ(top.out, expected);
}

TEST(
    progress_bar,
    a_frame_has_the_phase_a_bar_the_share_the_bytes_the_throughput_and_the_time_left) {
  // 400 MB of 1 GB in 2 s: 200 MB/s, 3 s left.
  const std::string line =
      progress_line("reading", 400'000'000, 1'000'000'000, 2.0, 100);
  EXPECT_EQ(line, "reading  [============>                 ]  40%  400.0 MB of "
                  "1.0 GB  200.0 MB/s  ETA 3 s");
  EXPECT_LE(line.size(), 100u);
}

TEST(progress_bar, the_bar_is_full_at_the_end_and_empty_at_the_start) {
  EXPECT_EQ(progress_line("merging", 5000, 5000, 1.0, 80),
            "merging  [==============================] 100%  5.0 KB of 5.0 KB  "
            "5.0 KB/s");
  EXPECT_EQ(
      progress_line("scanning", 0, 5000, 0.0, 80),
      "scanning [>                             ]   0%  0 B of 5.0 KB  0 B/s");
}

TEST(progress_bar, each_phase_shows_its_own_done_and_total_in_its_own_unit) {
  job_progress p;
  p.scanning = {1000, 1000};
  p.reading = {250, 1000};
  p.merging = {3, 8};
  p.writing = {10, 40};
  const phase_view reading = view_of("reading", p);
  EXPECT_EQ(reading.done, 250u);
  EXPECT_EQ(reading.total, 1000u);
  EXPECT_TRUE(reading.unit.empty()); // bytes
  const phase_view merging = view_of("merging", p);
  EXPECT_EQ(progress_line("merging", merging.done, merging.total, 1.0, 80,
                          merging.unit),
            "merging  [===========>                  ]  38%  3 of 8 partials");
  const phase_view writing = view_of("writing", p);
  EXPECT_EQ(writing.done, 10u);
  EXPECT_EQ(writing.unit, "parts");
}

TEST(progress_bar,
     a_narrow_terminal_gets_a_shorter_bar_then_none_and_never_a_wrapped_line) {
  const std::string wide = progress_line("reading", 1, 2, 1.0, 200);
  const std::string narrow = progress_line("reading", 1, 2, 1.0, 60);
  const std::string tiny = progress_line("reading", 1, 2, 1.0, 30);
  EXPECT_NE(wide.find("[===============>              ]"), std::string::npos)
      << wide;
  EXPECT_LE(narrow.size(), 60u);
  EXPECT_NE(narrow.find('['), std::string::npos) << narrow;
  EXPECT_LT(narrow.find(']') - narrow.find('['), 31u) << narrow;
  EXPECT_LE(tiny.size(), 30u);
  EXPECT_EQ(tiny.find('['), std::string::npos) << tiny;
}

TEST(progress_bar, the_summary_says_how_much_how_fast_and_what_came_out) {
  EXPECT_EQ(summary_line(1'050'000'000, 1.25, 40'000'000, 1'825'000),
            "1.1 GB in 1.25 s (840.0 MB/s), 40000000 rows, 1825000 song-dates");
}

// Runs `args` with a pseudo-terminal as stdin, stdout and stderr; returns
// what the terminal showed and the exit status.
std::pair<std::string, int>
run_on_a_terminal(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int master = -1;
  winsize size{};
  size.ws_col = 100;
  size.ws_row = 30;
  const pid_t pid = forkpty(&master, nullptr, nullptr, &size);
  if (pid == 0) {
    execv(argv[0], argv.data());
    _exit(127);
  }
  std::string shown;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n > 0)
      shown.append(buf, static_cast<size_t>(n));
    else if (n < 0 && errno == EINTR)
      continue;
    else
      break; // EIO: the child closed the terminal
  }
  ::close(master);
  int status = 0;
  waitpid(pid, &status, 0);
  return {shown, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

TEST(
    progress_bar,
    count_on_a_terminal_ends_with_a_summary_and_quiet_or_a_pipe_shows_nothing) {
  test::temp_dir dir;
  const std::string in = dir.write("in.csv", "Song,Date,Number of Plays\n"
                                             "a,2020-01-01,1\n"
                                             "a,2020-01-01,2\n"
                                             "b,2020-01-02,3\n");
  const auto [shown, status] =
      run_on_a_terminal({binary, "count", in, "-o", dir.file("out.csv")});
  EXPECT_EQ(status, 0) << shown;
  EXPECT_NE(shown.find("B in "), std::string::npos) << shown;
  EXPECT_NE(shown.find("/s), 3 rows, 2 song-dates"), std::string::npos)
      << shown;

  const auto [quiet, quiet_status] = run_on_a_terminal(
      {binary, "count", in, "-o", dir.file("out2.csv"), "--quiet"});
  EXPECT_EQ(quiet_status, 0) << quiet;
  EXPECT_EQ(quiet, "");

  const auto piped =
      test::run({binary, "count", in, "-o", dir.file("out3.csv")});
  EXPECT_EQ(piped.exit_code, 0);
  EXPECT_EQ(piped.err, "");
}

} // namespace
} // namespace playcount
