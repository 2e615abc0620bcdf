// Where `playcount count` writes its result (issue 13): a regular file is
// replaced whole; `-`, /dev/stdout, a FIFO or a device is written to and
// left as it was; the input is never the output; a directory at fault is
// named. The real binary, as root and (where it differs) as nobody.

#include "tests/support/binary.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace playcount {
namespace {

using test::run;
using test::temp_dir;

using test::binary;

const std::string input_csv = "Song,Date,Number of Plays\n"
                              "Umbrella,2020-01-02,3\n"
                              "\"Hey, \"\"Jude\"\"\",2020-01-01,1\n"
                              "Umbrella,2020-01-01,4\n"
                              "Umbrella,2020-01-02,5\n";
const std::string expected = "Song,Date,Total Number of Plays for Date\n"
                             "Umbrella,2020-01-01,4\n"
                             "Umbrella,2020-01-02,8\n"
                             "\"Hey, \"\"Jude\"\"\",2020-01-01,1\n";

mode_t lmode(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode : 0;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The arguments run as user and group 65534 (nobody), or nothing when
// setpriv (util-linux) is not there or we are not root to switch.
std::vector<std::string> as_nobody(std::vector<std::string> args) {
  if (::geteuid() != 0 || !test::exists("/usr/bin/setpriv"))
    return {};
  args.insert(args.begin(), {"/usr/bin/setpriv", "--reuid=65534",
                             "--regid=65534", "--clear-groups"});
  return args;
}

// A temp dir that user nobody can read (mkdtemp makes it 0700).
struct shared_dir : temp_dir {
  shared_dir() { ::chmod(path().c_str(), 0755); }
};

TEST(count_output, dash_writes_the_result_to_standard_output) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const auto r = run({binary, "count", in, "-o", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  EXPECT_FALSE(test::exists(dir.file("-")));
  EXPECT_FALSE(test::exists("-"));
  // Byte for byte what a file gets.
  ASSERT_EQ(run({binary, "count", in, "-o", dir.file("out.csv")}).exit_code, 0);
  EXPECT_EQ(r.out, test::read_file(dir.file("out.csv")));
}

TEST(count_output, dev_stdout_to_a_pipe_is_written_and_stays_a_link) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const mode_t before = lmode("/dev/stdout");
  const auto r = run({binary, "count", in, "-o", "/dev/stdout"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  EXPECT_EQ(lmode("/dev/stdout"), before);
  EXPECT_FALSE(S_ISREG(lmode("/dev/stdout")));
}

TEST(count_output, dev_stdout_redirected_to_a_file_leaves_exactly_the_result) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const mode_t before = lmode("/dev/stdout");
  const auto f = dir.write("f.csv", "an old, longer content that must go\n");
  const auto r =
      run({"/bin/sh", "-c", "exec \"$0\" count \"$1\" -o /dev/stdout > \"$2\"",
           binary, in, f});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::read_file(f), expected);
  // `>>`: appended after what was there, as the shell was asked.
  const auto g = dir.write("g.csv", "kept\n");
  const auto a =
      run({"/bin/sh", "-c", "exec \"$0\" count \"$1\" -o /dev/stdout >> \"$2\"",
           binary, in, g});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(test::read_file(g), "kept\n" + expected);
  EXPECT_EQ(lmode("/dev/stdout"), before);
  EXPECT_EQ(test::entries(dir.path()),
            (std::vector<std::string>{"f.csv", "g.csv", "in.csv"}));
}

TEST(count_output, dev_stderr_redirected_to_a_file_is_written_there) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const mode_t before = lmode("/dev/stderr");
  const auto f = dir.file("f.csv");
  const auto r =
      run({"/bin/sh", "-c", "exec \"$0\" count \"$1\" -o /dev/stderr 2> \"$2\"",
           binary, in, f});
  ASSERT_EQ(r.exit_code, 0) << test::read_file(f);
  EXPECT_EQ(test::read_file(f), expected);
  EXPECT_EQ(lmode("/dev/stderr"), before);
  EXPECT_EQ(test::entries(dir.path()),
            (std::vector<std::string>{"f.csv", "in.csv"}));
}

TEST(count_output, dev_null_takes_the_result_and_stays_a_device) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const auto r = run({binary, "count", in, "-o", "/dev/null"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(S_ISCHR(lmode("/dev/null")));
}

TEST(count_output, a_fifo_with_a_reader_gets_the_result_and_stays_a_fifo) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const auto fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] {
    const int fd = ::open(fifo.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      got = test::drain(fd);
      ::close(fd);
    }
  });
  const auto r = run({binary, "count", in, "-o", fifo});
  // Should the count not have opened it, the reader is let go.
  const int unblock = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (unblock >= 0)
    ::close(unblock);
  reader.join();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(got, expected);
  EXPECT_TRUE(S_ISFIFO(lmode(fifo)));
  EXPECT_EQ(test::entries(dir.path()),
            (std::vector<std::string>{"fifo", "in.csv"}));
}

TEST(count_output, a_link_to_dev_stdout_is_written_through_and_stays_a_link) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const auto link = dir.file("out-link");
  ASSERT_EQ(::symlink("/dev/stdout", link.c_str()), 0);
  const auto r = run({binary, "count", in, "-o", link});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  EXPECT_TRUE(S_ISLNK(lmode(link)));
}

TEST(count_output, a_link_to_a_regular_file_replaces_the_file_not_the_link) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const auto target = dir.write("target.csv", "old\n");
  const auto link = dir.file("link.csv");
  ASSERT_EQ(::symlink("target.csv", link.c_str()), 0);
  const auto r = run({binary, "count", in, "-o", link});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(S_ISLNK(lmode(link)));
  EXPECT_EQ(test::read_file(target), expected);
}

TEST(count_output, the_input_as_the_output_is_refused_before_any_work) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const auto sym = dir.file("sym.csv");
  ASSERT_EQ(::symlink(in.c_str(), sym.c_str()), 0);
  const auto hard = dir.file("hard.csv");
  ASSERT_EQ(::link(in.c_str(), hard.c_str()), 0);
  for (const std::string& out : {in, sym, hard}) {
    const auto r = run({binary, "count", in, "-o", out});
    EXPECT_EQ(r.exit_code, 2) << out;
    EXPECT_TRUE(
        contains(r.err, "the output " + out + " is the input file " + in))
        << r.err;
    EXPECT_EQ(test::read_file(in), input_csv) << out;
  }
  // The input reached by a link, the output by its own name.
  const auto r = run({binary, "count", sym, "-o", in});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(test::read_file(in), input_csv);
  EXPECT_TRUE(S_ISLNK(lmode(sym)));
  // Standard output appending to the input.
  const auto appended = run(
      {"/bin/sh", "-c", "exec \"$0\" count \"$1\" -o - >> \"$1\"", binary, in});
  EXPECT_EQ(appended.exit_code, 2) << appended.err;
  EXPECT_EQ(test::read_file(in), input_csv);
}

TEST(count_output, standard_input_that_is_the_output_file_is_refused) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  // `count - < in -o in` read in whole into the spool, then replaced it.
  for (const char* how : {"-o \"$1\"", "-o - >> \"$1\""}) {
    const auto r = run({"/bin/sh", "-c",
                        std::string("exec \"$0\" count - ") + how + " < \"$1\"",
                        binary, in});
    EXPECT_EQ(r.exit_code, 2) << how << ": " << r.err;
    EXPECT_TRUE(contains(r.err, "is the input file -")) << r.err;
    EXPECT_EQ(test::read_file(in), input_csv) << how;
  }
}

TEST(count_output, the_input_as_the_summary_json_file_is_refused) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const auto sym = dir.file("sym.csv");
  ASSERT_EQ(::symlink(in.c_str(), sym.c_str()), 0);
  for (const std::string& json : {in, sym}) {
    const auto r = run({binary, "count", in, "-o", dir.file("out.csv"),
                        "--summary-json", json});
    EXPECT_EQ(r.exit_code, 2) << json;
    EXPECT_TRUE(contains(r.err, "the --summary-json file " + json +
                                    " is the input file " + in))
        << r.err;
    EXPECT_EQ(test::read_file(in), input_csv) << json;
  }
  EXPECT_FALSE(test::exists(dir.file("out.csv")));
}

TEST(count_output, a_missing_directory_is_named_before_the_count) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const auto missing = dir.file("missing");
  const auto r = run({binary, "count", in, "-o", missing + "/out.csv"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "playcount count: cannot write into " + missing +
                       ": the directory does not exist\n");
  EXPECT_EQ(test::entries(dir.path()), std::vector<std::string>{"in.csv"});
}

// As root every directory is writable: a regular file where a directory
// should be stands in for one that cannot be written in.
TEST(count_output, a_file_in_place_of_a_directory_is_named) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const auto file = dir.write("plain", "x");
  const auto r = run({binary, "count", in, "-o", file + "/out.csv"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "playcount count: cannot write into " + file +
                       ": it is not a directory\n");
}

TEST(count_output, a_read_only_directory_is_named_for_a_user) {
  shared_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  ::chmod(in.c_str(), 0644);
  const auto locked = dir.file("locked");
  ASSERT_EQ(::mkdir(locked.c_str(), 0555), 0);
  const auto spills = dir.file("spills");
  ASSERT_EQ(::mkdir(spills.c_str(), 0777), 0);
  ::chmod(spills.c_str(), 0777);
  const auto args = as_nobody(
      {binary, "count", in, "-o", locked + "/out.csv", "--temp-dir", spills});
  if (args.empty())
    GTEST_SKIP() << "not root, or no /usr/bin/setpriv: cannot run as nobody";
  const auto r = run(args);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err, "playcount count: cannot write into the directory " +
                       locked + ": Permission denied\n");
  EXPECT_EQ(test::entries(locked), std::vector<std::string>{});
}

TEST(count_output, special_files_and_the_input_as_a_user) {
  shared_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  ::chmod(in.c_str(), 0666);
  const auto spills = dir.file("spills");
  ASSERT_EQ(::mkdir(spills.c_str(), 0777), 0);
  ::chmod(spills.c_str(), 0777);
  for (const char* out : {"-", "/dev/stdout"}) {
    const auto args =
        as_nobody({binary, "count", in, "-o", out, "--temp-dir", spills});
    if (args.empty())
      GTEST_SKIP() << "not root, or no /usr/bin/setpriv: cannot run as nobody";
    const auto r = run(args);
    ASSERT_EQ(r.exit_code, 0) << out << ": " << r.err;
    EXPECT_EQ(r.out, expected) << out;
  }
  const auto null = run(as_nobody(
      {binary, "count", in, "-o", "/dev/null", "--temp-dir", spills}));
  EXPECT_EQ(null.exit_code, 0) << null.err;
  EXPECT_TRUE(S_ISCHR(lmode("/dev/null")));
  const auto same =
      run(as_nobody({binary, "count", in, "-o", in, "--temp-dir", spills}));
  EXPECT_EQ(same.exit_code, 2) << same.err;
  EXPECT_EQ(test::read_file(in), input_csv);
}

TEST(count_output, a_reader_that_goes_away_ends_the_count_quietly) {
  temp_dir dir;
  std::string big = "Song,Date,Number of Plays\n";
  for (int i = 0; i < 200000; ++i)
    big += "song " + std::to_string(i) + ",2020-01-01,1\n";
  const auto in = dir.write("in.csv", big);
  // `head -c 10` reads a little and leaves while the count still writes
  // (the result is far over a pipe's 64 KiB): the count cleans up, then
  // dies of SIGPIPE without a word, as GNU tools do (status 128+13); started
  // with SIGPIPE ignored, it says the write failed and exits 1, as they do.
  const auto status = dir.file("status");
  const auto spills = dir.file("spills");
  ASSERT_EQ(::mkdir(spills.c_str(), 0700), 0);
  for (const std::string signal :
       {"--default-signal=PIPE", "--ignore-signal=PIPE"}) {
    const bool quiet = signal == "--default-signal=PIPE";
    const auto r = run({"/bin/sh", "-c",
                        "( env " + signal +
                            " \"$0\" count \"$1\" -o - --temp-dir \"$3\"; "
                            "echo $? > \"$2\" ) | head -c 10 > /dev/null",
                        binary, in, status, spills});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(test::read_file(status), quiet ? "141\n" : "1\n") << signal;
    if (quiet) {
      EXPECT_EQ(r.err, "");
    } else {
      EXPECT_TRUE(contains(r.err, "cannot write -: Broken pipe")) << r.err;
    }
    EXPECT_EQ(test::entries(spills), std::vector<std::string>{}) << signal;
  }
}

// A write that fails names the file by the path given (the server's API
// shows only names; the CLI's user needs where).
TEST(count_output, a_full_device_is_said_by_its_path) {
  if (!test::exists("/dev/full"))
    GTEST_SKIP() << "no /dev/full";
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const auto r = run({binary, "count", in, "-o", "/dev/full"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(
      contains(r.err, "cannot write /dev/full: No space left on device"))
      << r.err;
}

// Started with standard input or output closed, `-` is refused, not read
// or written through whatever this process opens next in its place; other
// files work as ever (the closed descriptors are /dev/null meanwhile).
TEST(count_output, a_closed_standard_input_or_output_is_said) {
  temp_dir dir;
  const auto in = dir.write("in.csv", input_csv);
  const auto out = dir.file("out.csv");
  const auto no_input =
      run({"/bin/sh", "-c", "exec \"$0\" count - -o \"$1\" <&-", binary, out});
  EXPECT_EQ(no_input.exit_code, 1);
  EXPECT_NE(no_input.err.find("cannot read standard input: it was closed"),
            std::string::npos)
      << no_input.err;
  const auto no_output =
      run({"/bin/sh", "-c", "exec \"$0\" count \"$1\" -o - >&-", binary, in});
  EXPECT_EQ(no_output.exit_code, 1);
  EXPECT_NE(no_output.err.find(
                "cannot write the result to standard output: it was closed"),
            std::string::npos)
      << no_output.err;
  const auto both =
      run({"/bin/sh", "-c", "exec \"$0\" count \"$1\" -o \"$2\" <&- >&-",
           binary, in, out});
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(test::read_file(out), expected);
}

} // namespace
} // namespace playcount
