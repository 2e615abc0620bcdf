// core/failure.hpp: a failure in parts, and the texts made of them.

#include "core/failure.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace playcount {
namespace {

TEST(failure, says_action_path_and_errno_as_the_messages_always_did) {
  const failure f =
      failure::of_errno("cannot open", "/srv/data/in.csv", ENOENT);
  EXPECT_EQ(f.text(),
            "cannot open /srv/data/in.csv: No such file or directory");
  EXPECT_EQ(f.path, "/srv/data/in.csv");
  EXPECT_EQ(f.code, ENOENT);
}

TEST(failure, names_a_second_path_for_a_rename) {
  const failure f = failure::of_errno(
      "cannot rename", "/d/r.csv.partial-Ab12Cd", EXDEV, "/d/r.csv");
  EXPECT_EQ(f.text(), std::string("cannot rename /d/r.csv.partial-Ab12Cd to "
                                  "/d/r.csv: ") +
                          std::strerror(EXDEV));
  // For API clients: the files' names, never the server's directories.
  EXPECT_EQ(f.text(failure::paths::file_names),
            std::string("cannot rename r.csv.partial-Ab12Cd to r.csv: ") +
                std::strerror(EXDEV));
}

TEST(failure, gives_a_reason_in_words_when_there_is_no_errno) {
  EXPECT_EQ(
      failure::because("cannot read", "/tmp", "not a regular file").text(),
      "cannot read /tmp: not a regular file");
  EXPECT_EQ(failure::words("line 1: empty file").text(), "line 1: empty file");
  EXPECT_EQ(failure{}.text(), "");
}

TEST(failure, contexts_nest_outermost_first) {
  const failure inner = failure::of_errno("cannot map", "/a/b/in.csv", ENOMEM);
  const failure outer =
      inner.within("cannot read the input again").within("job x");
  EXPECT_EQ(outer.text(), std::string("job x: cannot read the input again: "
                                      "cannot map /a/b/in.csv: ") +
                              std::strerror(ENOMEM));
  EXPECT_EQ(inner.context, ""); // the const& overload copies
  EXPECT_EQ(failure::words("x").within("").text(), "x");
}

TEST(failure, hides_the_path_when_there_is_no_action) {
  // spill: "cannot spill to disk: <errno>", the file is kept for the log.
  failure f = failure::of_errno("", "/tmp/s/w0-p03.pca", ENOSPC);
  f = std::move(f).within("cannot spill to disk");
  EXPECT_EQ(f.text(), "cannot spill to disk: No space left on device");
  EXPECT_EQ(f.path, "/tmp/s/w0-p03.pca");
}

TEST(result, holds_a_value_or_why_not) {
  result<int> good = 7;
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 7);
  result<int> bad = failure::words("no");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().text(), "no");
  result<std::unique_ptr<int>> moved = std::make_unique<int>(3);
  ASSERT_TRUE(moved);
  const std::unique_ptr<int> taken = *std::move(moved);
  EXPECT_EQ(*taken, 3);
  result<void> done;
  EXPECT_TRUE(done);
  result<void> failed = failure::words("full");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().text(), "full");
}

} // namespace
} // namespace playcount
