#pragma once

// TCP sockets of the cluster's ports (the cluster port and the byte feed):
// one place that resolves, listens, connects and names peers.

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace playcount {

/// Receive and send timeouts on a blocking socket (connect honours the
/// send timeout).
void set_timeouts(int fd, int seconds);

/// A TCP socket listening on host:port (`listening`) or connected to it
/// within `connect_seconds`; -1 with `error` when no address of the host
/// will do. `what` names the connection in errors ("a byte feed").
int open_socket(const std::string& host, uint16_t port, bool listening,
                std::string& error, const char* what = "a connection",
                int connect_seconds = 10);

/// Reads exactly `size` bytes from `fd` before `until`, however the peer
/// drips them; false with `error` ("... in time", "closed", errno) else.
[[nodiscard]] bool read_within(int fd, void* into, size_t size,
                               std::chrono::steady_clock::time_point until,
                               std::string& error);

/// "ip:port" of a peer's address, numeric.
std::string peer_of(const sockaddr_storage& addr);

/// TCP_NODELAY: small messages go out at once, not after the peer's delayed
/// ACK. Set on both ends of a node's cluster connection before CAF gets it:
/// with Nagle on, a worker's small report followed by its small ask for the
/// next range waited for a delayed ACK (40 ms) on every range (measured: a
/// 1 GB job on two nodes took 7 s instead of about 2).
void set_no_delay(int fd);

} // namespace playcount
