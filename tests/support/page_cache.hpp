#pragma once

// How much of a file is in the page cache (mincore on a map of it).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

namespace playcount::test {

/// Pages of the first `size` bytes of `fd` that are in the page cache;
/// SIZE_MAX when that cannot be told.
inline size_t resident_pages(int fd, size_t size) {
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED)
    return SIZE_MAX;
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in((size + page - 1) / page);
  size_t n = SIZE_MAX;
  if (::mincore(map, size, in.data()) == 0)
    n = static_cast<size_t>(std::count_if(
        in.begin(), in.end(), [](unsigned char c) { return (c & 1) != 0; }));
  ::munmap(map, size);
  return n;
}

} // namespace playcount::test
