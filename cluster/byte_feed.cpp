#include "cluster/byte_feed.hpp"

#include "cluster/sockets.hpp"
#include "core/constant_time.hpp"
#include "core/write_all.hpp"

#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>

namespace playcount {

namespace {

// A feed opens with the magic and the node's secret; the server answers with
// the feed's id. Then each parcel: its number and size, then the bytes. Numbers
// are 8 bytes, little-endian.
constexpr char magic[8] = {'P', 'C', 'F', 'E', 'E', 'D', '1', '\n'};
constexpr size_t secret_size = 32;
constexpr size_t hello_size = sizeof magic + secret_size;
constexpr size_t header_size = 16;
// Connections that have not said hello yet: each has a thread for a while.
constexpr size_t max_greeting = 64;
constexpr int greeting_seconds = 5;
// A peer that takes no bytes (or sends none) for this long is gone.
constexpr int silent_seconds = 60;

void put_u64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get_u64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return v;
}

std::string error_text(const char* what) {
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    return std::string(what) + ": timed out";
  return std::string(what) + ": " + std::strerror(errno);
}

result<void> read_all(int fd, char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::recv(fd, data, size, MSG_WAITALL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0)
      return failure::words("the server closed the feed");
    if (n < 0)
      return (errno == EAGAIN || errno == EWOULDBLOCK
                  ? failure::words("timed out")
                  : failure::of_errno({}, {}, errno))
          .within("reading the feed");
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

struct parcel {
  uint64_t number = 0; // work_item::parcel
  std::shared_ptr<const file_handle> file;
  byte_range range;
};

struct feed_state {
  int fd = -1;
  std::string node;
  std::string peer;
  std::deque<parcel> queue;
  bool closed = false;
  std::condition_variable ready;
};

} // namespace

struct byte_feed::shared {
  mutable std::mutex mutex;
  std::map<std::string, std::string> secrets; // node id -> secret
  std::map<uint64_t, std::shared_ptr<feed_state>> feeds;
  uint64_t next_id = 1;
  size_t greeting = 0;
  bool stopping = false;
  int listener = -1;

  // Closes `feed` (under the lock): its thread ends when it next looks.
  static void close(feed_state& feed) {
    feed.closed = true;
    ::shutdown(feed.fd, SHUT_RDWR);
    feed.ready.notify_all();
  }
};

namespace {

using shared_ptr = std::shared_ptr<byte_feed::shared>;

// The node whose secret `given` is; "" for none. Every secret is compared,
// each in constant time.
std::string node_with(const byte_feed::shared& s, std::string_view given) {
  std::string found;
  for (const auto& [node, secret] : s.secrets)
    if (constant_time_equal(given, secret))
      found = node;
  return found;
}

// Sends `p` down `fd`: the header, then the bytes from the page cache.
bool send_parcel(int fd, const parcel& p) {
  char header[header_size];
  put_u64(header, p.number);
  put_u64(header + 8, p.range.size());
  if (!send_all(fd, {header, sizeof header}, MSG_MORE))
    return false;
  off_t offset = static_cast<off_t>(p.range.begin);
  uint64_t left = p.range.size();
  while (left > 0) {
    const ssize_t n = ::sendfile(fd, p.file->fd(), &offset,
                                 std::min<uint64_t>(left, 1u << 30));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    left -= static_cast<uint64_t>(n);
  }
  return true;
}

// One connection: its hello, then its parcels until it closes.
void serve(const shared_ptr& s, int fd, std::string peer) {
  // The whole hello within greeting_seconds, however slowly it drips: a
  // greeting slot is held no longer than that.
  set_timeouts(fd, greeting_seconds);
  char hello[hello_size];
  std::shared_ptr<feed_state> feed;
  uint64_t id = 0;
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::seconds(greeting_seconds);
  if (read_within(fd, hello, sizeof hello, until) &&
      std::memcmp(hello, magic, sizeof magic) == 0) {
    std::lock_guard<std::mutex> lock(s->mutex);
    std::string node =
        node_with(*s, std::string_view(hello + sizeof magic, secret_size));
    if (!node.empty() && !s->stopping) {
      feed = std::make_shared<feed_state>();
      feed->fd = fd;
      feed->node = std::move(node);
      feed->peer = peer;
      id = s->next_id++;
      s->feeds.emplace(id, feed);
    }
  }
  {
    std::lock_guard<std::mutex> lock(s->mutex);
    --s->greeting;
  }
  char reply[8];
  put_u64(reply, id);
  if (!feed) {
    spdlog::warn("refused a byte feed from {}: not a worker of a node that "
                 "joined",
                 peer);
    ::close(fd);
    return;
  }
  set_timeouts(fd, silent_seconds);
  const int on = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  bool ok = send_all(fd, {reply, sizeof reply});
  while (ok) {
    parcel next;
    {
      std::unique_lock<std::mutex> lock(s->mutex);
      feed->ready.wait(lock,
                       [&] { return feed->closed || !feed->queue.empty(); });
      if (feed->closed)
        break;
      next = std::move(feed->queue.front());
      feed->queue.pop_front();
    }
    ok = send_parcel(fd, next);
  }
  const std::string why = error_text("sending");
  std::lock_guard<std::mutex> lock(s->mutex);
  if (!ok && !feed->closed) // not closed by forget(): the peer went away
    spdlog::warn("byte feed {} of node {} at {} broke: {}", id, feed->node,
                 peer, why);
  feed->closed = true;
  s->feeds.erase(id);
  ::close(fd);
}

void accept_feeds(shared_ptr s) {
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int fd = ::accept4(s->listener, reinterpret_cast<sockaddr*>(&addr),
                             &len, SOCK_CLOEXEC);
    std::unique_lock<std::mutex> lock(s->mutex);
    if (s->stopping) {
      if (fd >= 0)
        ::close(fd);
      return;
    }
    if (fd < 0) {
      lock.unlock();
      if (errno != EINTR && errno != ECONNABORTED)
        std::this_thread::sleep_for(std::chrono::milliseconds(100)); // EMFILE
      continue;
    }
    if (s->greeting >= max_greeting) {
      ::close(fd);
      continue;
    }
    ++s->greeting;
    lock.unlock();
    std::thread(serve, s, fd, peer_of(addr)).detach();
  }
}

} // namespace

result<std::shared_ptr<byte_feed>> byte_feed::open(const std::string& host,
                                                   uint16_t port) {
  const auto listening = open_socket(host, port, /*listening=*/true);
  if (!listening)
    return listening.error();
  const int fd = *listening;
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  (void)::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  std::shared_ptr<byte_feed> out(new byte_feed);
  out->port_ = ntohs(bound.ss_family == AF_INET6
                         ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                         : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  out->shared_ = std::make_shared<shared>();
  out->shared_->listener = fd;
  out->acceptor_ = std::thread(accept_feeds, out->shared_);
  return out;
}

byte_feed::~byte_feed() {
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->stopping = true;
    ::shutdown(shared_->listener, SHUT_RDWR); // wakes the acceptor
    for (auto& [id, feed] : shared_->feeds)
      shared::close(*feed);
  }
  acceptor_.join();
  ::close(shared_->listener);
}

std::string byte_feed::admit(const std::string& node) {
  std::string secret(secret_size, '\0');
  for (size_t got = 0; got < secret.size();) {
    const ssize_t n = ::getrandom(secret.data() + got, secret.size() - got, 0);
    if (n > 0)
      got += static_cast<size_t>(n);
  }
  std::lock_guard<std::mutex> lock(shared_->mutex);
  shared_->secrets[node] = secret;
  return secret;
}

void byte_feed::forget(const std::string& node) {
  std::lock_guard<std::mutex> lock(shared_->mutex);
  shared_->secrets.erase(node);
  for (auto& [id, feed] : shared_->feeds)
    if (feed->node == node)
      shared::close(*feed);
}

std::string byte_feed::node_of(uint64_t feed) const {
  std::lock_guard<std::mutex> lock(shared_->mutex);
  auto f = shared_->feeds.find(feed);
  return f == shared_->feeds.end() || f->second->closed ? std::string{}
                                                        : f->second->node;
}

bool byte_feed::send(uint64_t feed, uint64_t number,
                     std::shared_ptr<const file_handle> file,
                     byte_range range) {
  std::lock_guard<std::mutex> lock(shared_->mutex);
  auto f = shared_->feeds.find(feed);
  if (f == shared_->feeds.end() || f->second->closed)
    return false;
  f->second->queue.push_back(parcel{number, std::move(file), range});
  f->second->ready.notify_one();
  return true;
}

namespace {

class feed_client final : public range_source {
public:
  feed_client(int fd, uint64_t id)
      : fd_(fd)
      , id_(id) {}
  ~feed_client() override { ::close(fd_); }
  feed_client(const feed_client&) = delete;
  feed_client& operator=(const feed_client&) = delete;

  [[nodiscard]] uint64_t id() const override { return id_; }

  result<std::string_view> receive(uint64_t number, uint64_t size) override {
    char header[header_size];
    if (auto read = read_all(fd_, header, sizeof header); !read)
      return std::move(read).error();
    if (get_u64(header) != number || get_u64(header + 8) != size)
      return failure::words("the feed is out of step: bytes tagged " +
                            std::to_string(get_u64(header)) + " where " +
                            std::to_string(number) + " were expected");
    if (size > capacity_) {
      // Not a std::string: resizing one would first fill it with zeros.
      buffer_.reset(new char[size]);
      capacity_ = size;
    }
    if (auto read = read_all(fd_, buffer_.get(), size); !read)
      return std::move(read).error();
    return std::string_view(buffer_.get(), size);
  }

private:
  int fd_;
  uint64_t id_;
  std::unique_ptr<char[]> buffer_;
  uint64_t capacity_ = 0;
};

} // namespace

result<std::unique_ptr<range_source>>
open_feed(const std::string& host, uint16_t port, const std::string& secret) {
  const std::string where = host + ":" + std::to_string(port);
  if (secret.size() != secret_size)
    return failure::words("no feed secret from the server");
  const auto connected = open_socket(host, port, /*listening=*/false,
                                     "a byte feed", greeting_seconds * 2);
  if (!connected)
    return connected.error();
  const int fd = *connected;
  char hello[hello_size];
  std::memcpy(hello, magic, sizeof magic);
  std::memcpy(hello + sizeof magic, secret.data(), secret_size);
  char reply[8];
  if (!send_all(fd, {hello, sizeof hello}) ||
      !read_all(fd, reply, sizeof reply)) {
    ::close(fd);
    return failure::words("the server at " + where + " refused the byte feed");
  }
  set_timeouts(fd, silent_seconds);
  return std::unique_ptr<range_source>(
      std::make_unique<feed_client>(fd, get_u64(reply)));
}

} // namespace playcount
