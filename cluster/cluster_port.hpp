#pragma once

// The server's cluster port: our own listener in front of CAF's BASP.
//
// A peer must first prove the cluster token (cluster/handshake.hpp); until
// it has, the server reads at most `handshake::answer_size` bytes from it,
// waits at most `handshake::deadline`, and keeps at most
// `max_waiting_peers` such connections. Only then does CAF see the
// connection, and never the peer's socket itself: CAF gets one end of a
// socketpair, and one relay thread (poll, for every peer) copies bytes
// between the peer's socket and the other end through bounded buffers,
// reading each BASP header that comes from the peer. A header that is
// malformed or announces more than `max_basp_payload` bytes drops the peer,
// so no peer message makes CAF allocate more than that.

#include "core/failure.hpp"

#include <caf/fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace playcount {

/// The largest BASP payload a node may send. Partials travel in pieces of
/// `partial_piece_size` (actors/messages.hpp), well under it.
inline constexpr uint32_t max_basp_payload = 16u << 20;
/// Connections that have not finished the handshake; more are closed at
/// once.
inline constexpr size_t max_waiting_peers = 32;
/// Bytes held per direction per peer in the relay; a full buffer stops
/// reading from that side until the other takes them (back-pressure).
inline constexpr size_t relay_buffer_size = 256 << 10;

class cluster_port {
public:
  /// Listens on host:port (0: any free port). Nothing is accepted until
  /// start(). Why not when the port cannot be opened.
  static result<std::shared_ptr<cluster_port>> open(caf::actor_system& system,
                                                    const std::string& host,
                                                    uint16_t port,
                                                    std::string token);

  ~cluster_port();
  cluster_port(const cluster_port&) = delete;
  cluster_port& operator=(const cluster_port&) = delete;

  [[nodiscard]] uint16_t port() const noexcept;

  /// Accepts nodes from now on; each that proves the token is handed to
  /// CAF with `gate` published to it.
  void start(const caf::actor& gate);

  /// Closes the port and every peer's connection; waits for the thread.
  void stop();

  /// "ip:port" of the peer whose handshake gave it `session`; "" when no
  /// connected peer has it.
  [[nodiscard]] std::string address_of(uint64_t session) const;

  struct impl;

private:
  explicit cluster_port(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

} // namespace playcount
