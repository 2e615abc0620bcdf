// core/file_chores.hpp: descriptors handed over are all closed, on its
// thread or, past the bound, at once; writeback works on a duplicate that
// is closed in turn, whatever the caller does with its own.

#include "core/file_chores.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

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

} // namespace
} // namespace playcount
