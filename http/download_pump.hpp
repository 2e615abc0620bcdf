#pragma once

// Sends result files to clients on one thread of its own, driven by epoll,
// so that a download costs no HTTP thread.
//
// Why: Pistache 0.0.5's Transport::asyncWriteImpl (transport.cc) retries a
// write that got EAGAIN in a loop without returning to its reactor: a
// client reading a large file slowly keeps a reactor thread busy at 100 %
// CPU until the last byte, and every connection assigned to that thread
// (fd modulo threads) waits. Five slow readers stopped a server with four
// HTTP threads.
//
// So the server hands a download over: it writes nothing through Pistache;
// the pump gets a duplicate of the socket and the open file, writes the
// head and then the file with non-blocking sendfile whenever the socket
// can take more (level-triggered EPOLLOUT, a bounded piece per socket per
// turn, so readers share the thread fairly), and ends the response by
// shutting down its side and closing its descriptors. The client's socket
// buffer is the back-pressure: a slow reader costs a few idle descriptors,
// no thread and no memory beyond the kernel's buffers. A reader that takes
// nothing for `stall_timeout` is dropped.

#include "core/failure.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace playcount::http {

class download_pump {
public:
  explicit download_pump(std::chrono::milliseconds stall_timeout);
  download_pump(const download_pump&) = delete;
  download_pump& operator=(const download_pump&) = delete;
  /// Stops the thread; downloads not finished are cut off.
  ~download_pump();

  /// Starts the thread, or says why it cannot.
  result<void> start();

  /// Sends `head` then `length` bytes of `file_fd` from byte `offset` on
  /// (a Range; 0 for the whole file) on `socket_fd`, then closes both. Takes
  /// ownership of both descriptors (closed at once when the pump is stopped).
  /// `slot` is held until the download ends (see connection_slots); `label`
  /// names it in the log.
  void hand_over(int socket_fd, int file_fd, std::string head, uint64_t offset,
                 uint64_t length, std::shared_ptr<void> slot,
                 std::string label);

  /// Downloads in progress.
  [[nodiscard]] size_t active() const noexcept { return active_; }

private:
  struct download;
  void run();
  // One turn of sending on `d`: false when it is over (done or failed).
  bool send_some(download& d);
  void finish(download& d, const char* outcome);

  std::chrono::milliseconds stall_timeout_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> active_{0};
  std::mutex mutex_;
  std::vector<std::unique_ptr<download>> incoming_; // guarded by mutex_
  std::thread thread_;
};

} // namespace playcount::http
