// core/deferred_close.hpp: descriptors handed over are all closed, on its
// thread or, past the bound, at once.

#include "core/deferred_close.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

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

TEST(deferred_close, closes_every_descriptor_handed_over_by_its_end) {
  const std::vector<int> fds = open_some(40);
  {
    deferred_close closer(4); // most of them past the bound: closed at once
    for (int fd : fds) {
      ASSERT_GE(fd, 0);
      closer.close(fd);
    }
    closer.close(-1); // ignored
  }
  for (int fd : fds)
    EXPECT_FALSE(is_open(fd)) << fd;
}

} // namespace
} // namespace playcount
