#include "http/download_pump.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

namespace playcount::http {

namespace {

using steady = std::chrono::steady_clock;

// Bytes sent to one socket per turn: enough to fill a socket buffer, small
// enough that one fast reader does not keep the others waiting.
constexpr size_t piece = size_t{256} * 1024;

} // namespace

struct download_pump::download {
  int socket = -1;
  int file = -1;
  std::string head;
  size_t head_sent = 0;
  uint64_t length = 0; // bytes of the file to send, from `first`
  off_t first = 0;
  off_t offset = 0; // the next byte to send
  [[nodiscard]] uint64_t sent() const noexcept {
    return static_cast<uint64_t>(offset - first);
  }
  std::shared_ptr<void> slot;
  std::string label;
  steady::time_point started = steady::now();
  steady::time_point progress = steady::now();
};

download_pump::download_pump(std::chrono::milliseconds stall_timeout)
    : stall_timeout_(stall_timeout) {}

download_pump::~download_pump() {
  if (thread_.joinable()) {
    stopping_ = true;
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    thread_.join();
  }
  for (auto& d : incoming_) {
    ::close(d->socket);
    ::close(d->file);
  }
  if (epoll_fd_ >= 0)
    ::close(epoll_fd_);
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

result<void> download_pump::start() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd_ < 0 || wake_fd_ < 0)
    return failure::of_errno({}, {}, errno).within("the download sender");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0)
    return failure::of_errno({}, {}, errno).within("the download sender");
  thread_ = std::thread([this] { run(); });
  return {};
}

void download_pump::hand_over(int socket_fd, int file_fd, std::string head,
                              uint64_t offset, uint64_t length,
                              std::shared_ptr<void> slot, std::string label) {
  auto d = std::make_unique<download>();
  d->socket = socket_fd;
  d->file = file_fd;
  d->head = std::move(head);
  d->length = length;
  d->first = static_cast<off_t>(offset);
  d->offset = d->first;
  d->slot = std::move(slot);
  d->label = std::move(label);
  ++active_;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    incoming_.push_back(std::move(d));
  }
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

bool download_pump::send_some(download& d) {
  if (d.head_sent < d.head.size()) {
    const ssize_t n = ::send(
        d.socket, d.head.data() + d.head_sent, d.head.size() - d.head_sent,
        MSG_DONTWAIT | MSG_NOSIGNAL | (d.length > 0 ? MSG_MORE : 0));
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    d.head_sent += static_cast<size_t>(n);
    d.progress = steady::now();
    if (d.head_sent < d.head.size())
      return true;
  }
  const uint64_t left = d.length - d.sent();
  if (left == 0)
    return false;
  const ssize_t n =
      ::sendfile(d.socket, d.file, &d.offset,
                 static_cast<size_t>(std::min<uint64_t>(left, piece)));
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  if (n == 0) // the file is shorter than it was: nothing more to send
    return false;
  d.progress = steady::now();
  return d.sent() < d.length;
}

void download_pump::finish(download& d, const char* outcome) {
  const bool complete = d.head_sent == d.head.size() && d.sent() == d.length;
  // The client reads to the end of the stream: our side ends here (the
  // connection's other descriptor is Pistache's, closed by it).
  if (complete)
    ::shutdown(d.socket, SHUT_WR);
  else
    ::shutdown(d.socket, SHUT_RDWR);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, d.socket, nullptr);
  ::close(d.socket);
  ::close(d.file);
  const double seconds =
      std::chrono::duration<double>(steady::now() - d.started).count();
  if (complete)
    spdlog::debug("download of {} done: {} bytes in {:.1f} s", d.label,
                  d.length, seconds);
  else
    spdlog::info("download of {} cut off ({}) after {} of {} bytes in "
                 "{:.1f} s",
                 d.label, outcome, d.sent(), d.length, seconds);
  --active_;
}

void download_pump::run() {
  std::map<int, std::unique_ptr<download>> downloads;
  std::vector<epoll_event> events(64);
  auto next_check = steady::now() + std::chrono::seconds(1);
  while (!stopping_) {
    const int n = ::epoll_wait(epoll_fd_, events.data(),
                               static_cast<int>(events.size()), 1000);
    if (stopping_)
      break;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd_) {
        uint64_t count = 0;
        (void)!::read(wake_fd_, &count, sizeof count);
        std::vector<std::unique_ptr<download>> fresh;
        {
          std::lock_guard<std::mutex> guard(mutex_);
          fresh.swap(incoming_);
        }
        for (auto& d : fresh) {
          epoll_event ev{};
          // Level-triggered: a socket that can take more is offered again
          // each turn until its piece is sent.
          ev.events = EPOLLOUT;
          ev.data.fd = d->socket;
          if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, d->socket, &ev) != 0) {
            spdlog::error("download of {}: cannot watch its socket: {}",
                          d->label, std::strerror(errno));
            finish(*d, "cannot watch the socket");
            continue;
          }
          downloads.emplace(d->socket, std::move(d));
        }
        continue;
      }
      const auto it = downloads.find(fd);
      if (it == downloads.end())
        continue;
      download& d = *it->second;
      if ((events[i].events & (EPOLLERR | EPOLLHUP)) != 0) {
        finish(d, "the client went away");
        downloads.erase(it);
        continue;
      }
      if (!send_some(d)) {
        const bool complete =
            d.head_sent == d.head.size() && d.sent() == d.length;
        finish(d, complete ? "done"
                           : (errno == EPIPE || errno == ECONNRESET
                                  ? "the client went away"
                                  : "a write failed"));
        downloads.erase(it);
      }
    }
    const auto now = steady::now();
    if (now < next_check)
      continue;
    next_check = now + std::chrono::seconds(1);
    for (auto it = downloads.begin(); it != downloads.end();) {
      if (now - it->second->progress > stall_timeout_) {
        finish(*it->second, "the client took nothing for too long");
        it = downloads.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [fd, d] : downloads) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, d->socket, nullptr);
    ::close(d->socket);
    ::close(d->file);
    --active_;
  }
}

} // namespace playcount::http
