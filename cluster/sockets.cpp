#include "cluster/sockets.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace playcount {

void set_timeouts(int fd, int seconds) {
  const timeval t{seconds, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t);
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t, sizeof t);
}

std::string peer_of(const sockaddr_storage& addr) {
  char host[NI_MAXHOST] = "?";
  char port[NI_MAXSERV] = "?";
  (void)::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), sizeof addr,
                      host, sizeof host, port, sizeof port,
                      NI_NUMERICHOST | NI_NUMERICSERV);
  return std::string(host) + ":" + port;
}

result<void> read_within(int fd, void* into, size_t size,
                         std::chrono::steady_clock::time_point until) {
  auto* bytes = static_cast<char*>(into);
  size_t got = 0;
  while (got < size) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return failure::words("nothing more in time");
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready <= 0)
      continue; // interrupted or timed out: the check above decides
    const ssize_t n = ::recv(fd, bytes + got, size - got, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
      continue;
    if (n == 0)
      return failure::words(std::string(peer_closed));
    if (n < 0)
      return failure::of_errno({}, {}, errno);
    got += static_cast<size_t>(n);
  }
  return {};
}

void set_no_delay(int fd) {
  const int on = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

result<int> open_socket(const std::string& host, uint16_t port, bool listening,
                        const char* what, int connect_seconds) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = listening ? AI_PASSIVE : 0;
  addrinfo* found = nullptr;
  const int rc =
      ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0)
    return failure::because("cannot resolve", host, ::gai_strerror(rc));
  const std::string where = host + ":" + std::to_string(port);
  int fd = -1;
  failure why = failure::words("no address"); // when getaddrinfo gives none
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = failure::of_errno("cannot open a socket for", where, errno);
      continue;
    }
    bool ok;
    if (listening) {
      const int on = 1;
      (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
      ok = ::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 64) == 0;
    } else {
      set_timeouts(fd, connect_seconds);
      ok = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    }
    if (!ok) {
      why = failure::of_errno(listening
                                  ? std::string("cannot listen on")
                                  : std::string("cannot open ") + what + " to",
                              where, errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0)
    return why;
  return fd;
}

} // namespace playcount
