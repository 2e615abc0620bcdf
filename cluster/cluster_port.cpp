#include "cluster/cluster_port.hpp"

#include "cluster/handshake.hpp"
#include "cluster/sockets.hpp"

#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace playcount {

namespace {

using clock_type = std::chrono::steady_clock;

// BASP 0.17: u8 operation, u8, u8, u8 flags, u32 payload length, u64
// operation data, u64 source actor, u64 destination actor; big-endian.
constexpr size_t basp_header_size = 32;
constexpr uint8_t basp_client_handshake = 0x01;
constexpr uint8_t basp_routed_message = 0x03;
constexpr uint8_t basp_heartbeat = 0x06;

void set_nonblocking(int fd) {
  (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// At most `per_window` warnings about peers each 10 s: what strangers do
// must not fill the log (and the disk). The rest are counted and said once
// the window is over.
class warning_budget {
public:
  template <class... Ts>
  void warn(spdlog::format_string_t<Ts...> format, Ts&&... args) {
    const auto now = clock_type::now();
    if (now - window_start_ > std::chrono::seconds(10)) {
      if (unlogged_ > 0)
        spdlog::warn("cluster port: {} more refused or dropped connections "
                     "were not logged",
                     unlogged_);
      window_start_ = now;
      used_ = 0;
      unlogged_ = 0;
    }
    if (used_ < per_window) {
      ++used_;
      spdlog::warn(format, std::forward<Ts>(args)...);
    } else {
      ++unlogged_;
    }
  }

private:
  static constexpr int per_window = 20;
  clock_type::time_point window_start_{};
  int used_ = 0;
  uint64_t unlogged_ = 0;
};

// A connection that has not finished the handshake.
struct waiting_peer {
  int fd = -1;
  std::string address;
  handshake::nonce server_nonce{};
  unsigned char answer[handshake::answer_size] = {};
  size_t got = 0;
  clock_type::time_point deadline;
};

// Bytes on their way in one direction, at most relay_buffer_size.
struct relay_buffer {
  std::vector<char> bytes = std::vector<char>(relay_buffer_size);
  size_t begin = 0;
  size_t end = 0;
  [[nodiscard]] bool empty() const { return begin == end; }
  [[nodiscard]] bool full() const { return end == bytes.size(); }
  [[nodiscard]] size_t size() const { return end - begin; }
  void compact() {
    if (begin == end) {
      begin = end = 0;
    } else if (begin > 0 && end == bytes.size()) {
      std::memmove(bytes.data(), bytes.data() + begin, end - begin);
      end -= begin;
      begin = 0;
    }
  }
};

// Where the peer's stream is: in a header (header_got of 32 bytes) or in a
// payload (payload_left bytes to go).
struct basp_reader {
  unsigned char header[basp_header_size] = {};
  size_t header_got = 0;
  uint64_t payload_left = 0;

  // Follows `size` bytes; false with `why` at the first bad header.
  bool follow(const char* data, size_t size, std::string& why) {
    while (size > 0) {
      if (payload_left > 0) {
        const size_t n = std::min<uint64_t>(payload_left, size);
        payload_left -= n;
        data += n;
        size -= n;
        continue;
      }
      const size_t n = std::min(basp_header_size - header_got, size);
      std::memcpy(header + header_got, data, n);
      header_got += n;
      data += n;
      size -= n;
      if (header_got < basp_header_size)
        continue;
      header_got = 0;
      const uint8_t operation = header[0];
      uint32_t length = 0;
      for (int i = 4; i < 8; ++i)
        length = (length << 8) | header[i];
      // A node sends the client handshake and messages, never the
      // server's handshake (0) or an operation CAF 0.17 does not know.
      if (operation < basp_client_handshake || operation > basp_heartbeat) {
        why = "a BASP header with operation " + std::to_string(operation);
        return false;
      }
      // Nor a routed message: a node talks to the server only, and a routed
      // one may name one of the server's own actors as its sender, which
      // the coordinator would take for one of its own (coordinator.hpp).
      if (operation == basp_routed_message) {
        why = "a routed BASP message";
        return false;
      }
      if (operation == basp_heartbeat && length != 0) {
        why = "a BASP heartbeat with a payload";
        return false;
      }
      if (length > max_basp_payload) {
        why = "a BASP message of " + std::to_string(length) +
              " bytes (at most " + std::to_string(max_basp_payload) + ")";
        return false;
      }
      payload_left = length;
    }
    return true;
  }
};

// A node that has joined: its socket, CAF's end of the socketpair, and
// what is on its way between them.
struct relayed_peer {
  int peer_fd = -1;
  int caf_fd = -1; // our end; CAF has the other
  std::string address;
  uint64_t session = 0;
  relay_buffer up;   // peer -> CAF
  relay_buffer down; // CAF -> peer
  basp_reader reader;
};

// Reads what fits into `into` from `fd`: false when the side is gone.
bool fill(int fd, relay_buffer& into, size_t& got) {
  into.compact();
  got = 0;
  if (into.full())
    return true;
  const ssize_t n =
      ::recv(fd, into.bytes.data() + into.end, into.bytes.size() - into.end, 0);
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  if (n == 0)
    return false;
  got = static_cast<size_t>(n);
  into.end += got;
  return true;
}

// Writes what it can from `from` to `fd`: false when the side is gone.
bool drain(int fd, relay_buffer& from) {
  if (from.empty())
    return true;
  const ssize_t n = ::send(fd, from.bytes.data() + from.begin, from.size(),
                           MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  from.begin += static_cast<size_t>(n);
  from.compact();
  return true;
}

} // namespace

struct cluster_port::impl {
  caf::actor_system& system;
  caf::actor basp; // CAF's BASP broker
  std::string token;
  int listen_fd = -1;
  int wake_fd = -1; // eventfd: stop()
  uint16_t port = 0;
  caf::actor gate;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::list<waiting_peer> waiting;
  std::list<relayed_peer> peers;
  // Admitted during this round of the loop: join `peers` after it, which
  // must match the round's poll entries.
  std::list<relayed_peer> admitted;
  mutable std::mutex sessions_mutex;
  std::map<uint64_t, std::string> sessions; // session -> address
  warning_budget warnings;
  // Out of descriptors: the listening socket stays readable, so it is left
  // alone for a while instead of being polled in a tight loop.
  clock_type::time_point accept_paused_until{};

  impl(caf::actor_system& sys)
      : system(sys) {}

  void run();
  void accept_peers();
  // false: the peer is done with (admitted or refused), remove it.
  bool on_answer(waiting_peer& w);
  void admit(waiting_peer& w);
  // false: drop the peer.
  bool relay(relayed_peer& p, short peer_events, short caf_events);
  void close_peer(relayed_peer& p) {
    ::close(p.peer_fd);
    ::close(p.caf_fd);
    std::lock_guard<std::mutex> guard{sessions_mutex};
    sessions.erase(p.session);
  }
};

cluster_port::cluster_port(std::unique_ptr<impl> state)
    : impl_(std::move(state)) {}

cluster_port::~cluster_port() {
  stop();
}

result<std::shared_ptr<cluster_port>>
cluster_port::open(caf::actor_system& system, const std::string& host,
                   uint16_t port, std::string token) {
  auto listening = open_socket(host, port, /*listening=*/true);
  if (!listening)
    return std::move(listening).error();
  auto state = std::make_unique<impl>(system);
  state->token = std::move(token);
  state->listen_fd = *listening;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(state->listen_fd, reinterpret_cast<sockaddr*>(&addr),
                    &len) == 0)
    state->port = ntohs(addr.ss_family == AF_INET6
                            ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                            : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  set_nonblocking(state->listen_fd);
  state->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  state->basp =
      system.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  return std::shared_ptr<cluster_port>(new cluster_port(std::move(state)));
}

uint16_t cluster_port::port() const noexcept {
  return impl_->port;
}

void cluster_port::start(const caf::actor& gate) {
  impl_->gate = gate;
  impl_->thread = std::thread([s = impl_.get()] { s->run(); });
}

void cluster_port::stop() {
  if (!impl_ || impl_->stopping.exchange(true))
    return;
  const uint64_t one = 1;
  (void)!::write(impl_->wake_fd, &one, sizeof one);
  if (impl_->thread.joinable())
    impl_->thread.join();
  impl_->gate = caf::actor{}; // the gate holds this port: no cycle
  for (auto& w : impl_->waiting)
    ::close(w.fd);
  for (auto& p : impl_->peers)
    impl_->close_peer(p);
  impl_->waiting.clear();
  impl_->peers.clear();
  ::close(impl_->listen_fd);
  ::close(impl_->wake_fd);
}

std::string cluster_port::address_of(uint64_t session) const {
  std::lock_guard<std::mutex> guard{impl_->sessions_mutex};
  auto i = impl_->sessions.find(session);
  return i == impl_->sessions.end() ? std::string{} : i->second;
}

void cluster_port::impl::run() {
  std::vector<pollfd> fds;
  while (!stopping) {
    fds.clear();
    fds.push_back({wake_fd, POLLIN, 0});
    const auto now = clock_type::now();
    const bool accepting = now >= accept_paused_until;
    fds.push_back({listen_fd, static_cast<short>(accepting ? POLLIN : 0), 0});
    for (auto& w : waiting)
      fds.push_back({w.fd, POLLIN, 0});
    for (auto& p : peers) {
      fds.push_back({p.peer_fd,
                     static_cast<short>((p.up.full() ? 0 : POLLIN) |
                                        (p.down.empty() ? 0 : POLLOUT)),
                     0});
      fds.push_back({p.caf_fd,
                     static_cast<short>((p.down.full() ? 0 : POLLIN) |
                                        (p.up.empty() ? 0 : POLLOUT)),
                     0});
    }
    // Wake for the next handshake deadline (or accepting again) at the
    // latest.
    int timeout = -1;
    const auto wake_at = [&](clock_type::time_point t) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(t - now)
              .count() +
          1;
      const int ms = static_cast<int>(std::max<int64_t>(left, 0));
      timeout = timeout < 0 ? ms : std::min(timeout, ms);
    };
    for (auto& w : waiting)
      wake_at(w.deadline);
    if (!accepting)
      wake_at(accept_paused_until);
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
      spdlog::error("cluster port: poll failed: {}", std::strerror(errno));
      return;
    }
    if (stopping)
      return;
    size_t at = 2;
    const auto after = clock_type::now();
    for (auto w = waiting.begin(); w != waiting.end(); ++at) {
      bool keep = true;
      if (fds[at].revents != 0)
        keep = on_answer(*w);
      else if (after >= w->deadline) {
        warnings.warn("cluster port: {} did not finish the handshake in {} s",
                      w->address, handshake::deadline.count());
        ::close(w->fd);
        keep = false;
      }
      w = keep ? std::next(w) : waiting.erase(w);
    }
    for (auto p = peers.begin(); p != peers.end(); at += 2) {
      if (relay(*p, fds[at].revents, fds[at + 1].revents)) {
        ++p;
      } else {
        close_peer(*p);
        p = peers.erase(p);
      }
    }
    peers.splice(peers.end(), admitted);
    if (fds[1].revents != 0)
      accept_peers(); // last: the lists above match `fds`
  }
}

void cluster_port::impl::accept_peers() {
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr),
                             &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        spdlog::warn("cluster port: out of file descriptors; not accepting "
                     "for 1 s");
        accept_paused_until = clock_type::now() + std::chrono::seconds(1);
      }
      return;
    }
    if (waiting.size() >= max_waiting_peers) {
      warnings.warn("cluster port: {} connections wait for their handshake "
                    "already; closed {}",
                    max_waiting_peers, peer_of(addr));
      ::close(fd);
      continue;
    }
    waiting_peer w;
    w.fd = fd;
    w.address = peer_of(addr);
    w.deadline = clock_type::now() + handshake::deadline;
    unsigned char hello[handshake::hello_size];
    std::memcpy(hello, handshake::magic().data(), handshake::magic_size);
    if (!handshake::random_nonce(w.server_nonce)) {
      ::close(fd);
      continue;
    }
    std::memcpy(hello + handshake::magic_size, w.server_nonce.data(),
                handshake::nonce_size);
    // 40 bytes always fit in a new connection's send buffer.
    if (::send(fd, hello, sizeof hello, MSG_NOSIGNAL | MSG_DONTWAIT) !=
        static_cast<ssize_t>(sizeof hello)) {
      ::close(fd);
      continue;
    }
    waiting.push_back(std::move(w));
  }
}

bool cluster_port::impl::on_answer(waiting_peer& w) {
  const ssize_t n = ::recv(w.fd, w.answer + w.got, sizeof w.answer - w.got, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return true;
  if (n <= 0) {
    spdlog::debug("cluster port: {} left during the handshake", w.address);
    ::close(w.fd);
    return false;
  }
  w.got += static_cast<size_t>(n);
  if (w.got < sizeof w.answer)
    return true;
  handshake::nonce node_nonce{};
  std::memcpy(node_nonce.data(), w.answer + handshake::magic_size,
              handshake::nonce_size);
  const bool magic_ok = std::memcmp(w.answer, handshake::magic().data(),
                                    handshake::magic_size) == 0;
  const bool proven =
      magic_ok &&
      handshake::same(handshake::node_proof(token, w.server_nonce, node_nonce),
                      w.answer + handshake::magic_size + handshake::nonce_size);
  if (!proven) {
    warnings.warn("cluster port: refused a worker node at {}: {}", w.address,
                  magic_ok ? "wrong or missing cluster token"
                           : "not a playcount node of this version");
    unsigned char verdict[handshake::verdict_size] = {};
    verdict[0] = static_cast<uint8_t>(handshake::status::refused);
    (void)!::send(w.fd, verdict, sizeof verdict, MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(w.fd);
    return false;
  }
  uint64_t session = 0;
  while (session == 0)
    if (::getrandom(&session, sizeof session, 0) != sizeof session)
      session = 0;
  unsigned char verdict[handshake::verdict_size];
  verdict[0] = static_cast<uint8_t>(handshake::status::accepted);
  const auto mine = handshake::server_proof(token, w.server_nonce, node_nonce);
  std::memcpy(verdict + 1, mine.data(), mine.size());
  for (size_t i = 0; i < 8; ++i)
    verdict[1 + handshake::mac_size + i] =
        static_cast<unsigned char>(session >> (8 * (7 - i)));
  if (::send(w.fd, verdict, sizeof verdict, MSG_NOSIGNAL | MSG_DONTWAIT) !=
      static_cast<ssize_t>(sizeof verdict)) {
    ::close(w.fd);
    return false;
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    spdlog::error("cluster port: cannot relay {}: {}", w.address,
                  std::strerror(errno));
    ::close(w.fd);
    return false;
  }
  set_nonblocking(pair[0]);
  set_nonblocking(pair[1]);
  set_no_delay(w.fd);
  relayed_peer p;
  p.peer_fd = w.fd;
  p.caf_fd = pair[0];
  p.address = w.address;
  p.session = session;
  {
    std::lock_guard<std::mutex> guard{sessions_mutex};
    sessions[session] = w.address;
  }
  admitted.push_back(std::move(p));
  // CAF takes the other end as if it had accepted it: it writes its server
  // handshake, and the node's requests go to the gate.
  auto scribe = system.middleman().backend().new_scribe(pair[1]);
  caf::anon_send(basp, caf::publish_atom::value, std::move(scribe), port,
                 caf::actor_cast<caf::strong_actor_ptr>(gate),
                 std::set<std::string>{});
  spdlog::debug("cluster port: {} proved the token", w.address);
  return false; // no longer waiting
}

bool cluster_port::impl::relay(relayed_peer& p, short peer_events,
                               short caf_events) {
  // A hang-up is reported whether asked for or not: with a full buffer it
  // would wake the loop at once, again and again. The side is gone anyway.
  if (((peer_events & (POLLHUP | POLLERR)) && p.up.full()) ||
      ((caf_events & (POLLHUP | POLLERR)) && p.down.full()))
    return false;
  size_t got = 0;
  if (peer_events & (POLLIN | POLLHUP | POLLERR)) {
    if (!fill(p.peer_fd, p.up, got)) {
      spdlog::debug("cluster port: {} closed its connection", p.address);
      return false;
    }
    std::string why;
    if (got > 0 &&
        !p.reader.follow(p.up.bytes.data() + p.up.end - got, got, why)) {
      warnings.warn("cluster port: dropped the worker node at {}: it sent {}",
                    p.address, why);
      return false;
    }
  }
  if (caf_events & (POLLIN | POLLHUP | POLLERR)) {
    if (!fill(p.caf_fd, p.down, got))
      return false; // CAF closed it: the node is gone for CAF already
  }
  if (!drain(p.caf_fd, p.up) || !drain(p.peer_fd, p.down))
    return false;
  return true;
}

} // namespace playcount
