#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace playcount {

/// Bytes of a file starting at absolute offset `offset`.
struct file_window {
  std::string_view bytes;
  uint64_t offset = 0;
};

/// A part of a file mapped read-only, unmapped when destroyed. Workers map
/// each range on its own: unmapping drops every page the kernel mapped for
/// it (fault-around maps whole large folios, beyond the bytes touched), so
/// resident memory stays bounded by the ranges in flight.
class mapped_window {
public:
  mapped_window() = default;
  mapped_window(const mapped_window&) = delete;
  mapped_window& operator=(const mapped_window&) = delete;
  mapped_window(mapped_window&& other) noexcept;
  mapped_window& operator=(mapped_window&& other) noexcept;
  ~mapped_window();

  [[nodiscard]] file_window window() const noexcept;

private:
  friend class file_handle;
  void* map_ = nullptr;
  uint64_t map_size_ = 0;
  uint64_t map_offset_ = 0; // page-aligned start of the mapping
  uint64_t offset_ = 0;     // the first byte asked for
  uint64_t size_ = 0;
};

/// An open file from which windows are mapped.
class file_handle {
public:
  file_handle() = default;
  file_handle(const file_handle&) = delete;
  file_handle& operator=(const file_handle&) = delete;
  ~file_handle();

  [[nodiscard]] bool open(const std::string& path, std::string& error);
  [[nodiscard]] uint64_t size() const noexcept { return size_; }
  [[nodiscard]] int fd() const noexcept { return fd_; }

  /// Maps [begin, end); on failure sets `error` and returns an empty window.
  [[nodiscard]] mapped_window map(uint64_t begin, uint64_t end,
                                  std::string& error) const;

private:
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_;
};

/// A whole file mapped read-only, for reads that need all of it at once
/// (the header, a sequential re-read, tests). Workers map ranges instead.
class mapped_file {
public:
  /// Maps `path`; on failure returns false and sets `error` to a message
  /// naming the file and the reason.
  [[nodiscard]] bool open(const std::string& path, std::string& error) {
    if (!file_.open(path, error))
      return false;
    error.clear();
    all_ = file_.map(0, file_.size(), error);
    return error.empty();
  }

  [[nodiscard]] std::string_view bytes() const noexcept {
    return all_.window().bytes;
  }
  [[nodiscard]] uint64_t size() const noexcept { return file_.size(); }

private:
  file_handle file_;
  mapped_window all_;
};

} // namespace playcount
