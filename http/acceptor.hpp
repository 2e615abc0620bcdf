#pragma once

// Accepting connections in place of Pistache 0.0.5's acceptor, which
// (Listener::run, listener.cc) polls its listening socket level-triggered
// and only logs a failed accept: on EMFILE the pending connection stays, the
// socket stays readable, and the thread spins at 100 % CPU while nothing is
// served. It also has no limit on connections.
//
// This acceptor, on the socket Pistache bound (pistache_access.hpp):
// - counts connections (connection_slots) and answers `503` with
//   Retry-After beyond --max-connections, then closes;
// - on EMFILE/ENFILE frees a spare descriptor to accept the waiting
//   connections, answers them `503` and closes them, takes the spare again
//   and backs off (listening socket not polled) for a while, instead of
//   spinning;
// - hands every other connection to Pistache's reactor threads.

#include "core/failure.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <thread>

namespace playcount::http {

/// Counts open connections against a limit. A taken slot is a handle that
/// stays counted until its last copy is gone (a connection and a download
/// it hands to the sender hold one each), and may outlive this object.
class connection_slots {
public:
  explicit connection_slots(size_t max);

  /// A slot, or nullptr when `max` are taken.
  [[nodiscard]] std::shared_ptr<void> take();
  [[nodiscard]] size_t in_use() const noexcept;
  [[nodiscard]] size_t max() const noexcept { return max_; }

private:
  size_t max_;
  std::shared_ptr<std::atomic<size_t>> used_;
};

class acceptor {
public:
  /// Receives an accepted, non-blocking connection and its slot.
  using dispatch_fn = std::function<void(int fd, const sockaddr_storage& peer,
                                         std::shared_ptr<void> slot)>;

  /// `busy` and `exhausted` are whole HTTP responses (503, Connection:
  /// close) for a connection over the limit and for one accepted on the
  /// spare descriptor.
  acceptor(int listen_fd, std::shared_ptr<connection_slots> slots,
           dispatch_fn dispatch, std::string busy, std::string exhausted);
  acceptor(const acceptor&) = delete;
  acceptor& operator=(const acceptor&) = delete;
  ~acceptor();

  /// Starts the thread, or says why it cannot.
  result<void> start();
  /// Stops accepting (the listening socket stays open, Pistache's).
  void stop();

  /// Connections refused with 503 so far (over the limit or out of
  /// descriptors).
  [[nodiscard]] uint64_t refused() const noexcept { return refused_; }

private:
  void run();

  int listen_fd_;
  std::shared_ptr<connection_slots> slots_;
  dispatch_fn dispatch_;
  std::string busy_;
  std::string exhausted_;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
};

} // namespace playcount::http
