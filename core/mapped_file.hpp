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

  /// Drops the page-table entries of the whole pages inside [begin, end):
  /// the bytes stay in the page cache, but no longer count as resident here.
  void release(uint64_t begin, uint64_t end) const noexcept;

private:
  const char* data_ = nullptr;
  uint64_t size_ = 0;
};

} // namespace playcount
