#pragma once

// Input that cannot be mapped as it is (standard input, a pipe, a
// compressed file) copied into a file that the job reads while it grows
// (gzip and zstd decoded on the way, core/compression.hpp)
// (core/growing_file.hpp). The copy runs on a thread of its own, so the
// planner and the workers start on the first bytes while the rest still
// arrives: a pipe is counted about as fast as a file. The bytes pass
// through this process (read, decode, write) rather than being spliced, so
// that their quotes are counted while in cache and the planner need not
// read them all again: 0.1 s of processor time less a GB than splice
// (docs/performance.md).

#include "core/failure.hpp"
#include "core/growing_file.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <sys/types.h>
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
  /// What the job has read is freed, and the copy waits while it is `ahead`
  /// bytes past it (growing_file::wait_for_reader). Where the file system
  /// cannot free it (punch holes), the whole input stays, and `kept_limit`
  /// bounds it too (count's default: the free space of `dir`).
  static result<std::unique_ptr<spool>> start(int fd, std::string source,
                                              const std::string& dir,
                                              uint64_t limit, uint64_t ahead,
                                              uint64_t kept_limit = UINT64_MAX);
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
  /// Punches out what the job has read (growing_file::done_below): a pipe
  /// of any size takes the memory and temp space of what is in flight. On
  /// machines whose hypervisor takes back free memory, fresh pages are dear
  /// (1 GiB first touched cost 1.2 s here, against 0.4 s when reused).
  void free_what_is_read();
  /// Waits while the spool is far enough ahead of the job.
  void keep_pace() const;

  int in_ = -1;
  int out_ = -1;
  std::string source_;
  std::string path_;
  uint64_t limit_ = 0;
  uint64_t ahead_ = 0;
  ssize_t pipe_size_ = 0;  // what the input pipe holds; 0: not a pipe
  uint64_t free_step_ = 0; // bytes freed at a time: whole pages
  uint64_t freed_ = 0;     // bytes [0, freed_) punched out
  std::shared_ptr<growing_file> file_ = std::make_shared<growing_file>();
  std::thread thread_;
};

} // namespace playcount
