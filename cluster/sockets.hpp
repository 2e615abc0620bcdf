#pragma once

// TCP sockets of the cluster's ports (the cluster port and the byte feed):
// one place that resolves, listens, connects and names peers.

#include "core/failure.hpp"

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace playcount {

/// Receive and send timeouts on a blocking socket (connect honours the
/// send timeout).
void set_timeouts(int fd, int seconds);

/// A TCP socket listening on host:port (`listening`) or connected to it
/// within `connect_seconds`; why not when no address of the host will do
/// (the last address's errno). `what` names the connection in failures
/// ("a byte feed").
result<int> open_socket(const std::string& host, uint16_t port, bool listening,
                        const char* what = "a connection",
                        int connect_seconds = 10);

/// Reads exactly `size` bytes from `fd` before `until`, however the peer
/// drips them; else why not: errno, or the words `peer_closed` or "nothing more
/// in time".
result<void> read_within(int fd, void* into, size_t size,
                         std::chrono::steady_clock::time_point until);

/// The reason read_within gives when the peer closed the connection.
inline constexpr std::string_view peer_closed = "closed";

/// "ip:port" of a peer's address, numeric.
std::string peer_of(const sockaddr_storage& addr);

/// TCP_NODELAY: small messages go out at once, not after the peer's delayed
/// ACK. Set on both ends of a node's cluster connection before CAF gets it:
/// with Nagle on, a worker's small report followed by its small ask for the
/// next range waited for a delayed ACK (40 ms) on every range (measured: a
/// 1 GB job on two nodes took 7 s instead of about 2).
void set_no_delay(int fd);

} // namespace playcount
