#pragma once

// Writing the whole of a buffer: write(2) and send(2) may take less than
// asked, or be interrupted by a signal.

#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace playcount {

namespace detail {

template <class WriteOnce>
bool until_all_written(std::string_view bytes, WriteOnce once) {
  while (!bytes.empty()) {
    const ssize_t n = once(bytes);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

} // namespace detail

/// Writes all of `bytes` to `fd`; false on an error (errno says which).
[[nodiscard]] inline bool write_all(int fd, std::string_view bytes) {
  return detail::until_all_written(bytes, [fd](std::string_view left) {
    return ::write(fd, left.data(), left.size());
  });
}

/// The same on a socket, with send(2) `flags`. MSG_NOSIGNAL always: a peer
/// that has gone is an error, not a SIGPIPE.
[[nodiscard]] inline bool send_all(int fd, std::string_view bytes,
                                   int flags = 0) {
  return detail::until_all_written(bytes, [fd, flags](std::string_view left) {
    return ::send(fd, left.data(), left.size(), flags | MSG_NOSIGNAL);
  });
}

} // namespace playcount
