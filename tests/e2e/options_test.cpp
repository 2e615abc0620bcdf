// app/options.cpp: the command-line reader, compiled in (no process).

#include "app/options.hpp"

#include <gtest/gtest.h>

namespace playcount {
namespace {

// argv from words, as main() gets it: "playcount count ...".
struct command_line {
  explicit command_line(std::vector<std::string> words)
      : words_(std::move(words)) {
    for (std::string& w : words_)
      argv_.push_back(w.data());
  }
  int argc() const { return static_cast<int>(argv_.size()); }
  char** argv() { return argv_.data(); }

private:
  std::vector<std::string> words_;
  std::vector<char*> argv_;
};

const std::vector<std::string> count_options = {
    "o",     "output",  "workers",      "range-size", "on-bad-rows",
    "quiet", "verbose", "memory-limit", "temp-dir"};

TEST(nearest_name, suggests_only_a_close_name) {
  EXPECT_EQ(nearest_name("worker", count_options), "workers");
  EXPECT_EQ(nearest_name("ouptut", count_options), "output");
  EXPECT_EQ(nearest_name("range-sise", count_options), "range-size");
  EXPECT_EQ(nearest_name("memory-limt", count_options), "memory-limit");
  EXPECT_EQ(nearest_name("quite", count_options), "quiet");
  EXPECT_EQ(nearest_name("wokrers", count_options), "workers");
  EXPECT_EQ(nearest_name("prot", {"port", "host"}), "port");
  EXPECT_EQ(nearest_name("frobnicate", count_options), std::nullopt);
  EXPECT_EQ(nearest_name("x", count_options), std::nullopt);
  EXPECT_EQ(nearest_name("port", count_options), std::nullopt);
}

TEST(options, an_unknown_option_names_the_nearest_known_one) {
  command_line line({"playcount", "count", "in.csv", "--worker", "2"});
  options opts(line.argc(), line.argv(), 2, {"quiet", "verbose"});
  opts.reject_unknown(count_options);
  EXPECT_EQ(opts.error(), "unknown option --worker; did you mean --workers?");
}

TEST(options, a_typo_at_the_end_is_unknown_rather_than_short_of_a_value) {
  command_line line({"playcount", "count", "in.csv", "--quite"});
  options opts(line.argc(), line.argv(), 2, {"quiet", "verbose"});
  opts.reject_unknown(count_options);
  EXPECT_EQ(opts.error(), "unknown option --quite; did you mean --quiet?");
}

TEST(options, help_and_version_are_flags_of_every_command) {
  command_line line({"playcount", "serve", "--version"});
  options opts(line.argc(), line.argv(), 2, {});
  opts.reject_unknown({"port"});
  EXPECT_EQ(opts.error(), "");
  EXPECT_TRUE(opts.wants_version());
  command_line short_line({"playcount", "worker", "-V", "-h"});
  options short_opts(short_line.argc(), short_line.argv(), 2, {});
  EXPECT_TRUE(short_opts.wants_version());
  EXPECT_TRUE(short_opts.wants_help());
}

TEST(options, sizes_and_times_read_as_they_are_printed) {
  command_line line({"playcount", "serve", "--memory-limit", "4 GiB",
                     "--max-upload=4G", "--result-ttl", "1 d"});
  options opts(line.argc(), line.argv(), 2, {});
  EXPECT_EQ(opts.get_number("memory-limit", 0, true), uint64_t{4} << 30);
  EXPECT_EQ(opts.get_number("max-upload", 0, true), uint64_t{4} << 30);
  EXPECT_EQ(opts.get_duration("result-ttl", "1s"), std::chrono::hours(24));
  EXPECT_EQ(opts.error(), "");
}

TEST(options, range_size_has_a_floor_and_a_test_option_below_it) {
  std::string error;
  command_line small({"playcount", "count", "--range-size", "4K"});
  options small_opts(small.argc(), small.argv(), 2, {});
  (void)range_size_option(small_opts, 1 << 22, error);
  EXPECT_EQ(error, "--range-size must be at least 64 KiB (smaller ranges only "
                   "add overhead)");
  error.clear();
  command_line floor({"playcount", "count", "--range-size", "64 KiB"});
  options floor_opts(floor.argc(), floor.argv(), 2, {});
  EXPECT_EQ(range_size_option(floor_opts, 1 << 22, error), 64u << 10);
  EXPECT_EQ(error, "");
  command_line test({"playcount", "count", "--test-range-size", "100"});
  options test_opts(test.argc(), test.argv(), 2, {});
  EXPECT_EQ(range_size_option(test_opts, 1 << 22, error), 100u);
  EXPECT_EQ(error, "");
}

} // namespace
} // namespace playcount
