#pragma once

#include <cstdint>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace playcount::test {

// Loopback sockets for tests. (No "free port" helper: a port found free
// may be taken before the program binds it; every port option of playcount
// takes 0 for "any free port" and logs the one it bound.)

/// A TCP connection to 127.0.0.1:`port`, or -1. A `receive_buffer` over 0
/// is set as SO_RCVBUF before connecting, when it still shapes the window.
inline int connect_loopback(uint16_t port, int receive_buffer = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (receive_buffer > 0)
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer,
                       sizeof receive_buffer);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

} // namespace playcount::test
