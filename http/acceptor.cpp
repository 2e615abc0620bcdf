#include "http/acceptor.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <vector>

namespace playcount::http {

namespace {

using steady = std::chrono::steady_clock;

// How long the listening socket rests after EMFILE: long enough not to
// spin, short enough that /healthz answers soon after descriptors free up.
constexpr auto exhausted_backoff = std::chrono::milliseconds(100);
// Connections answered 503 on the spare descriptor per EMFILE round.
constexpr int spare_answers_per_round = 32;
// A refused connection is kept (its 503 sent, our side shut) until the
// client closes or this long, so that closing does not reset the
// connection before the client read the answer; at most this many.
constexpr auto linger_for = std::chrono::seconds(1);
constexpr size_t max_lingering = 64;
// Accepts per wakeup before the other fds get a look.
constexpr int accepts_per_round = 64;
// Warnings about refused connections at most this often.
constexpr auto warn_every = std::chrono::seconds(10);

int open_spare() {
  return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

// Reads what the client sent so far (so that close sends FIN, not RST,
// where it can); true while the client has not closed.
bool drain_input(int fd) {
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0)
      continue;
    if (n < 0 && errno == EINTR)
      continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

void send_text(int fd, const std::string& text) {
  // A few hundred bytes into an empty socket buffer: one call does it; a
  // client that cannot take them gets less.
  (void)::send(fd, text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

} // namespace

connection_slots::connection_slots(size_t max)
    : max_(max)
    , used_(std::make_shared<std::atomic<size_t>>(0)) {}

std::shared_ptr<void> connection_slots::take() {
  size_t now = used_->load();
  do {
    if (now >= max_)
      return nullptr;
  } while (!used_->compare_exchange_weak(now, now + 1));
  auto used = used_;
  return std::shared_ptr<void>(static_cast<void*>(used.get()),
                               [used](void*) { --*used; });
}

size_t connection_slots::in_use() const noexcept {
  return used_->load();
}

acceptor::acceptor(int listen_fd, std::shared_ptr<connection_slots> slots,
                   dispatch_fn dispatch, std::string busy,
                   std::string exhausted)
    : listen_fd_(listen_fd)
    , slots_(std::move(slots))
    , dispatch_(std::move(dispatch))
    , busy_(std::move(busy))
    , exhausted_(std::move(exhausted)) {}

acceptor::~acceptor() {
  stop();
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

result<void> acceptor::start() {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0)
    return failure::of_errno({}, {}, errno).within("eventfd");
  // Pistache made its listening socket non-blocking: accept4 returns EAGAIN
  // once the backlog is empty.
  thread_ = std::thread([this] { run(); });
  return {};
}

void acceptor::stop() {
  if (!thread_.joinable())
    return;
  stopping_ = true;
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  thread_.join();
}

void acceptor::run() {
  struct lingering {
    int fd;
    steady::time_point until;
  };
  std::deque<lingering> linger;
  int spare = open_spare();
  steady::time_point resume_at{}; // backing off until then
  steady::time_point last_warning{};
  uint64_t refused_since_warning = 0;
  const auto refused_one = [&](const char* why) {
    ++refused_;
    ++refused_since_warning;
    const auto now = steady::now();
    if (now - last_warning >= warn_every) {
      spdlog::warn("refused {} connection(s) with 503: {} ({} of {} "
                   "connections open)",
                   refused_since_warning, why, slots_->in_use(), slots_->max());
      last_warning = now;
      refused_since_warning = 0;
    }
  };
  std::vector<pollfd> fds;
  while (!stopping_) {
    const auto now = steady::now();
    // Lingering refusals whose time is up.
    while (!linger.empty() && linger.front().until <= now) {
      ::close(linger.front().fd);
      linger.pop_front();
    }
    const bool backing_off = now < resume_at;
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    if (!backing_off)
      fds.push_back({listen_fd_, POLLIN, 0});
    for (const auto& l : linger)
      fds.push_back({l.fd, POLLIN, 0});
    auto wait = std::chrono::milliseconds(-1);
    const auto until = [&](steady::time_point t) {
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - now);
      if (wait.count() < 0 || ms < wait)
        wait = std::max(ms, std::chrono::milliseconds(0));
    };
    if (backing_off)
      until(resume_at);
    if (!linger.empty())
      until(linger.front().until);
    const int ready =
        ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    if (ready < 0 && errno != EINTR) {
      spdlog::error("the acceptor cannot poll: {}", std::strerror(errno));
      std::this_thread::sleep_for(exhausted_backoff);
      continue;
    }
    if (stopping_)
      break;
    // Clients that closed (or sent more) after their 503.
    for (size_t i = backing_off ? 1 : 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0 || drain_input(fds[i].fd))
        continue;
      for (auto it = linger.begin(); it != linger.end(); ++it)
        if (it->fd == fds[i].fd) {
          ::close(it->fd);
          linger.erase(it);
          break;
        }
    }
    if (backing_off || (fds[1].revents & POLLIN) == 0)
      continue;
    for (int n = 0; n < accepts_per_round; ++n) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr),
                               &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED)
          continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          break;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
            errno == ENOMEM) {
          // Out of descriptors: answer the waiting clients on the spare
          // one rather than leave them hanging, then rest.
          const int why = errno;
          if (spare >= 0) {
            ::close(spare);
            for (int k = 0; k < spare_answers_per_round; ++k) {
              const int late = ::accept4(listen_fd_, nullptr, nullptr,
                                         SOCK_CLOEXEC | SOCK_NONBLOCK);
              if (late < 0)
                break;
              send_text(late, exhausted_);
              ::shutdown(late, SHUT_WR);
              drain_input(late);
              ::close(late);
              refused_one(std::strerror(why));
            }
            spare = open_spare();
          } else {
            spare = open_spare();
            refused_one(std::strerror(why));
          }
          resume_at = steady::now() + exhausted_backoff;
          break;
        }
        spdlog::error("accept failed: {}", std::strerror(errno));
        resume_at = steady::now() + exhausted_backoff;
        break;
      }
      auto slot = slots_->take();
      if (!slot) {
        send_text(fd, busy_);
        ::shutdown(fd, SHUT_WR);
        refused_one("--max-connections reached");
        if (linger.size() < max_lingering && drain_input(fd))
          linger.push_back({fd, steady::now() + linger_for});
        else
          ::close(fd);
        continue;
      }
      try {
        dispatch_(fd, addr, std::move(slot));
      } catch (const std::exception& e) {
        spdlog::error("cannot hand a connection to the HTTP threads: {}",
                      e.what());
        ::close(fd);
      }
    }
  }
  for (const auto& l : linger)
    ::close(l.fd);
  if (spare >= 0)
    ::close(spare);
}

} // namespace playcount::http
