#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace playcount {

/// A file mapped read-only. Readers touch it range by range and hand each
/// range back with `release`, so resident memory stays bounded by the ranges
/// in flight, not by the file size.
class mapped_file {
public:
  mapped_file() = default;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  mapped_file(mapped_file&& other) noexcept;
  mapped_file& operator=(mapped_file&& other) noexcept;
  ~mapped_file();

  /// Maps `path`; on failure returns false and sets `error` to a message
  /// naming the file and the reason.
  [[nodiscard]] bool open(const std::string& path, std::string& error);

  [[nodiscard]] std::string_view bytes() const noexcept {
    return {data_, size_};
  }
  [[nodiscard]] uint64_t size() const noexcept { return size_; }

private:
  const char* data_ = nullptr;
  uint64_t size_ = 0;
};

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

  /// Maps [begin, end); on failure sets `error` and returns an empty window.
  [[nodiscard]] mapped_window map(uint64_t begin, uint64_t end,
                                  std::string& error) const;

private:
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_;
};

} // namespace playcount
