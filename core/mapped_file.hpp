#pragma once

#include "core/failure.hpp"

#include <atomic>
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

  /// Fails with the path and errno, or "not a regular file".
  result<void> open(const std::string& path);
  /// The size when opened, or when last seen larger by map.
  [[nodiscard]] uint64_t size() const noexcept { return size_; }
  [[nodiscard]] int fd() const noexcept { return fd_; }

  /// Maps [begin, end), clipped to the file's size. An `end` beyond the size
  /// seen so far looks again: a file still being written (growing_file) has
  /// grown since it was opened.
  result<mapped_window> map(uint64_t begin, uint64_t end) const;

private:
  int fd_ = -1;
  mutable std::atomic<uint64_t> size_{0};
  std::string path_;
};

/// A whole file mapped read-only, for reads that need all of it at once
/// (the header, a sequential re-read, tests). Workers map ranges instead.
class mapped_file {
public:
  /// Maps `path`.
  result<void> open(const std::string& path) {
    if (auto opened = file_.open(path); !opened)
      return opened;
    auto all = file_.map(0, file_.size());
    if (!all)
      return std::move(all).error();
    all_ = std::move(*all);
    return {};
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
