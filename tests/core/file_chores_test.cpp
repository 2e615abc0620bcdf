// core/file_chores.hpp: descriptors handed over are all closed, on its
// thread or, past the bound, at once; writeback works on a duplicate that
// is closed in turn, whatever the caller does with its own.

#include "core/file_chores.hpp"
#include "tests/support/page_cache.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace playcount {
namespace {

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

std::vector<int> open_some(size_t n) {
  std::vector<int> fds;
  for (size_t i = 0; i < n; ++i)
    fds.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  return fds;
}

TEST(file_chores, closes_every_descriptor_handed_over_by_its_end) {
  const std::vector<int> fds = open_some(40);
  {
    file_chores closer(4); // most of them past the bound: closed at once
    for (int fd : fds) {
      ASSERT_GE(fd, 0);
      closer.close(fd);
    }
    closer.close(-1); // ignored
  }
  for (int fd : fds)
    EXPECT_FALSE(is_open(fd)) << fd;
}

size_t open_descriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

TEST(file_chores, writes_back_through_a_duplicate_it_closes_by_its_end) {
  char path[] = "/tmp/file_chores_test-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string bytes(1 << 20, 'x');
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()),
            static_cast<ssize_t>(bytes.size()));
  const size_t before = open_descriptors();
  {
    file_chores chores(2);
    for (int i = 0; i < 10; ++i) // most past the bound: skipped
      chores.write_back(fd, 0, bytes.size());
    chores.write_back(-1, 0, 1);               // ignored
    chores.write_back(fd, 0, 0);               // nothing to write: ignored
    EXPECT_LE(open_descriptors(), before + 2); // a duplicate per chore
    ::close(fd);                               // theirs stay usable
  }
  EXPECT_EQ(open_descriptors(), before - 1); // ours and theirs closed
  EXPECT_EQ(std::filesystem::file_size(path), bytes.size());
  ::unlink(path);
}

TEST(file_chores, drops_written_pages_from_the_cache_and_keeps_the_bytes) {
  const char* dir = std::getenv("TMPDIR");
  std::string path =
      std::string(dir != nullptr ? dir : "/tmp") + "/file_chores_drop-XXXXXX";
  const int fd = ::mkstemp(path.data());
  ASSERT_GE(fd, 0);
  std::string bytes(8 << 20, 'x');
  for (size_t i = 0; i < bytes.size(); i += 4096)
    bytes[i] = static_cast<char>('a' + i / 4096 % 26);
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()),
            static_cast<ssize_t>(bytes.size()));
  const size_t pages = bytes.size() / 4096;
  ASSERT_EQ(test::resident_pages(fd, bytes.size()), pages) << "written: cached";
  {
    file_chores chores(2);
    // The second half, though dirty: written to disk first, then dropped.
    chores.drop_cached(fd, bytes.size() / 2, bytes.size() / 2);
    chores.drop_cached(fd, 0, 0); // nothing: ignored
  }                               // its end waits for what is pending
  const size_t left = test::resident_pages(fd, bytes.size());
  if (left == pages) {
    ::close(fd);
    ::unlink(path.c_str());
    GTEST_SKIP() << "the page cache of " << path << " keeps dropped pages";
  }
  EXPECT_GE(left, pages / 2);     // the first half stays
  EXPECT_LT(left, pages * 3 / 4); // most of the second is gone
  std::string back(bytes.size(), '\0');
  ASSERT_EQ(::pread(fd, back.data(), back.size(), 0),
            static_cast<ssize_t>(back.size()));
  EXPECT_TRUE(back == bytes) << "the bytes read back from disk differ";
  ::close(fd);
  ::unlink(path.c_str());
}

} // namespace
} // namespace playcount
