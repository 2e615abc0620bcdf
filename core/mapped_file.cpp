#include "core/mapped_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace playcount {

mapped_window::mapped_window(mapped_window&& other) noexcept {
  *this = std::move(other);
}

mapped_window& mapped_window::operator=(mapped_window&& other) noexcept {
  if (this != &other) {
    this->~mapped_window();
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    map_offset_ = other.map_offset_;
    offset_ = other.offset_;
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

mapped_window::~mapped_window() {
  if (map_ != nullptr)
    munmap(map_, map_size_);
  map_ = nullptr;
}

file_window mapped_window::window() const noexcept {
  if (map_ == nullptr)
    return {{}, offset_};
  return {{static_cast<const char*>(map_) + (offset_ - map_offset_), size_},
          offset_};
}

file_handle::~file_handle() {
  if (fd_ >= 0)
    ::close(fd_);
}

result<void> file_handle::open(const std::string& path) {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0)
    return failure::of_errno("cannot open", path, errno);
  struct stat st {};
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode))
    return failure::because("cannot read", path, "not a regular file");
  size_ = static_cast<uint64_t>(st.st_size);
  path_ = path;
  return {};
}

result<mapped_window> file_handle::map(uint64_t begin, uint64_t end) const {
  mapped_window out;
  if (end > size_) {
    struct stat st {};
    if (fstat(fd_, &st) == 0)
      size_ = std::max<uint64_t>(size_, static_cast<uint64_t>(st.st_size));
  }
  end = std::min<uint64_t>(end, size_);
  begin = std::min(begin, end);
  out.offset_ = begin;
  out.size_ = end - begin;
  if (begin == end)
    return out;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  out.map_offset_ = begin / page * page;
  out.map_size_ = end - out.map_offset_;
  void* p = mmap(nullptr, out.map_size_, PROT_READ, MAP_PRIVATE, fd_,
                 static_cast<off_t>(out.map_offset_));
  if (p == MAP_FAILED)
    return failure::of_errno("cannot map", path_, errno);
  out.map_ = p;
  return out;
}

} // namespace playcount
