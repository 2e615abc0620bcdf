#pragma once

// Input that cannot be mapped as it is (standard input, a pipe, a
// compressed file) copied into a file that the job reads while it grows
// (gzip and zstd decoded on the way, core/compression.hpp)
// (core/growing_file.hpp). The copy runs on a thread of its own, so the
// planner and the workers start on the first bytes while the rest still
// arrives: a pipe is counted about as fast as a file.

#include "core/failure.hpp"
#include "core/growing_file.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace playcount {

/// The name of a spool file in its directory (a spill directory of this
/// process: what a killed run leaves is swept with its spills).
inline constexpr const char* spool_file_name = "input.spool";

class spool {
public:
  /// Starts copying what `fd` gives until its end into `dir`/input.spool
  /// (made new, 0600). Takes `fd`. `source` names the input in messages
  /// ("standard input", a path). A gzip or zstd stream (by its magic bytes)
  /// is decoded. At most `limit` bytes are spooled (decoded): more fails the
  /// input, so that a stream without end or a bomb cannot fill the disk.
  static result<std::unique_ptr<spool>>
  start(int fd, std::string source, const std::string& dir, uint64_t limit);
  spool(const spool&) = delete;
  spool& operator=(const spool&) = delete;
  /// Stops the copy if it still runs, waits for it and removes the file.
  ~spool();

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] const std::shared_ptr<growing_file>& file() const noexcept {
    return file_;
  }

private:
  spool() = default;
  void copy();

  int in_ = -1;
  int out_ = -1;
  std::string source_;
  std::string path_;
  uint64_t limit_ = 0;
  std::shared_ptr<growing_file> file_ = std::make_shared<growing_file>();
  std::thread thread_;
};

} // namespace playcount
