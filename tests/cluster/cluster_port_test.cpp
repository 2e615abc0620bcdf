// The cluster port under attack, as real processes on loopback: hostile
// bytes before and after the handshake (the server's memory stays small and
// it keeps serving), refused tokens, the token never on the wire, the port
// closed by default, and a job of millions of groups on a node that is
// never taken for dead.

#include "actors/messages.hpp"
#include "cluster/byte_feed.hpp"
#include "cluster/cluster_port.hpp"
#include "cluster/gate.hpp"
#include "cluster/handshake.hpp"
#include "cluster/sockets.hpp"
#include "tests/support/api_client.hpp"
#include "tests/support/binary.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/loopback.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <caf/io/all.hpp>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace playcount {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using test::child_process;
using test::eventually;
using test::str;

using test::binary;
const std::string port_token = "cluster-port-test-secret-7f3a9c";

// -- sockets and /proc ------------------------------------------------------

bool send_bytes(int fd, const void* data, size_t size) {
  return ::send(fd, data, size, MSG_NOSIGNAL) == static_cast<ssize_t>(size);
}

// Exactly `size` bytes within `limit`.
bool read_exactly(int fd, unsigned char* into, size_t size,
                  std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (size_t got = 0; got < size;) {
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return false;
    const ssize_t n = ::recv(fd, into + got, size - got, 0);
    if (n <= 0)
      return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

// True when the server closes `fd` within `limit` (whatever it sent first).
bool closed_by_server(int fd, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  char sink[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return false;
    const ssize_t n = ::recv(fd, sink, sizeof sink, 0);
    if (n <= 0)
      return true; // EOF or reset
  }
}

// The BASP header of CAF 0.17 (32 bytes, big-endian numbers).
std::string basp_header(uint8_t operation, uint32_t payload_len,
                        uint64_t dest_actor = 1) {
  std::string h(32, '\0');
  h[0] = static_cast<char>(operation);
  for (int i = 0; i < 4; ++i)
    h[4 + i] = static_cast<char>(payload_len >> (8 * (3 - i)));
  for (int i = 0; i < 8; ++i)
    h[24 + i] = static_cast<char>(dest_actor >> (8 * (7 - i)));
  return h;
}

// The node's side of the handshake, written out here so that a test can
// do what no node does afterwards. Returns the verdict's status byte (-1
// when the exchange broke); `server_proven` when the server's proof holds.
int authenticate(int fd, const std::string& with_token, bool& server_proven) {
  server_proven = false;
  unsigned char hello[handshake::hello_size];
  if (!read_exactly(fd, hello, sizeof hello))
    return -1;
  handshake::nonce server_nonce{};
  std::memcpy(server_nonce.data(), hello + handshake::magic_size,
              handshake::nonce_size);
  handshake::nonce node_nonce{};
  node_nonce.fill(0x5a);
  const auto proof =
      handshake::node_proof(with_token, server_nonce, node_nonce);
  std::string answer(hello, hello + handshake::magic_size);
  answer.append(reinterpret_cast<const char*>(node_nonce.data()),
                node_nonce.size());
  answer.append(reinterpret_cast<const char*>(proof.data()), proof.size());
  if (!send_bytes(fd, answer.data(), answer.size()))
    return -1;
  unsigned char verdict[handshake::verdict_size];
  if (!read_exactly(fd, verdict, sizeof verdict))
    return -1;
  server_proven = handshake::same(
      handshake::server_proof(with_token, server_nonce, node_nonce),
      verdict + 1);
  return verdict[0];
}

uint64_t vm_rss_kb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoull(line.substr(6));
  return 0;
}

// The TCP ports `pid` listens on (its sockets' inodes in /proc/net/tcp{,6}).
std::set<uint16_t> listening_ports(pid_t pid) {
  std::set<std::string> inodes;
  const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = ::opendir(fd_dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      char target[256] = {};
      const std::string path = fd_dir + "/" + e->d_name;
      const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
      const std::string t(target, n > 0 ? static_cast<size_t>(n) : 0);
      if (t.rfind("socket:[", 0) == 0)
        inodes.insert(t.substr(8, t.size() - 9));
    }
    ::closedir(d);
  }
  std::set<uint16_t> ports;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream rows(test::read_file(table));
    std::string row;
    std::getline(rows, row); // the heading
    while (std::getline(rows, row)) {
      std::istringstream f(row);
      std::string slot, local, remote, state, queues, timer, retr, uid, timeout,
          inode;
      f >> slot >> local >> remote >> state >> queues >> timer >> retr >> uid >>
          timeout >> inode;
      if (state == "0A" && inodes.count(inode) != 0)
        ports.insert(static_cast<uint16_t>(
            std::stoul(local.substr(local.rfind(':') + 1), nullptr, 16)));
    }
  }
  return ports;
}

// -- the fixture ------------------------------------------------------------

class cluster_port_test : public test::served_test {
protected:
  void start_server(std::vector<std::string> args = {}) {
    if (std::find(args.begin(), args.end(), "--workers") == args.end())
      args.insert(args.end(), {"--workers", "0"});
    args.insert(args.end(),
                {"--cluster-port", "0", "--cluster-token", port_token});
    server_ = start(args);
    ASSERT_NE(server_->port(), 0) << server_->log();
    ASSERT_NE(server_->cluster_port(), 0) << server_->log();
    port_ = server_->port();
    cluster_port_ = server_->cluster_port();
  }

  child_process& start_node(const std::string& name, uint16_t at,
                            std::vector<std::string> args = {}) {
    std::vector<std::string> all = {binary,
                                    "worker",
                                    "--join",
                                    "127.0.0.1:" + std::to_string(at),
                                    "--name",
                                    name,
                                    "--cluster-token",
                                    port_token};
    if (std::find(args.begin(), args.end(), "--workers") == args.end())
      all.insert(all.end(), {"--workers", "1"});
    all.insert(all.end(), args.begin(), args.end());
    nodes_.push_back(std::make_unique<child_process>(
        all,
        dir_.file("node-" + name + "-" + std::to_string(++logs_) + ".log")));
    return *nodes_.back();
  }

  json::object node_stats(const std::string& name) {
    json::object found;
    const json::object stats = test::admin_stats(port_);
    for (const auto& n : stats.at("nodes").as_array())
      if (str(n.as_object(), "name") == name)
        found = n.as_object();
    return found;
  }

  bool node_up(const std::string& name) {
    const auto n = node_stats(name);
    return !n.empty() && str(n, "state") == "up";
  }

  /// A real node joins and a small job gives the bytes of `count`.
  void a_node_still_joins_and_counts(const std::string& name) {
    child_process& node = start_node(name, cluster_port_);
    ASSERT_TRUE(eventually([&] { return node_up(name); }))
        << node.log() << server_->log();
    test::csv_shape shape;
    shape.rows = 3000;
    shape.seed = 11;
    const std::string csv = test::make_csv(shape);
    const std::string id = test::submit(port_, csv);
    test::wait_for_state(port_, id, "finished");
    EXPECT_EQ(test::http_get(port_, "/jobs/" + id + "/result/").body,
              count_alone(csv));
  }

  uint64_t rss_kb() { return vm_rss_kb(server_->pid()); }

  std::unique_ptr<test::server_process> server_;
  std::vector<std::unique_ptr<child_process>> nodes_;
  uint16_t cluster_port_ = 0;
  uint16_t port_ = 0;
  int logs_ = 0;
};

TEST_F(cluster_port_test,
       port_0_picks_a_free_cluster_port_and_no_cluster_opens_none) {
  // Port 0 means "any free port" for the cluster port as for the others;
  // the log names the ports bound, and they are the ones listening.
  start_server();
  EXPECT_NE(server_->cluster_port(), 0);
  EXPECT_NE(server_->feed_port(), 0);
  EXPECT_EQ(listening_ports(server_->pid()),
            (std::set<uint16_t>{port_, server_->cluster_port(),
                                server_->feed_port()}))
      << server_->log();
  // --no-cluster: nothing but HTTP, even with a token in the environment.
  child_process off({binary, "serve", "--host", "127.0.0.1", "--port", "0",
                     "--no-cluster", "--data-dir", dir_.file("data-off")},
                    dir_.file("off.log"),
                    {"PLAYCOUNT_CLUSTER_TOKEN=" + port_token});
  const std::string marker = "listening on http://127.0.0.1:";
  const size_t at = off.wait_for_log(marker);
  ASSERT_NE(at, std::string::npos) << off.log();
  const auto http_port =
      static_cast<uint16_t>(std::stoi(off.log().substr(at + marker.size())));
  EXPECT_EQ(listening_ports(off.pid()), std::set<uint16_t>{http_port})
      << off.log();
  EXPECT_EQ(off.log().find("worker nodes join"), std::string::npos);
  EXPECT_EQ(off.stop(), 0);
  // Both at once is a usage error, not a guess.
  const auto both =
      test::run({binary, "serve", "--no-cluster", "--cluster-port", "0",
                 "--data-dir", dir_.file("data-both")});
  EXPECT_EQ(both.exit_code, 2) << both.err;
  EXPECT_NE(both.err.find("--no-cluster and --cluster-port"), std::string::npos)
      << both.err;
}

// Well below the 4 GiB the attack asks for, well above a server's own size.
constexpr uint64_t rss_margin_kb = 64 * 1024;

TEST_F(cluster_port_test, a_default_server_listens_on_its_http_port_only) {
  child_process server({binary, "serve", "--host", "127.0.0.1", "--port", "0",
                        "--data-dir", dir_.file("data")},
                       dir_.file("default.log"));
  const std::string marker = "listening on http://127.0.0.1:";
  const size_t at = server.wait_for_log(marker);
  ASSERT_NE(at, std::string::npos) << server.log();
  const auto http_port =
      static_cast<uint16_t>(std::stoi(server.log().substr(at + marker.size())));
  EXPECT_EQ(listening_ports(server.pid()), std::set<uint16_t>{http_port})
      << server.log();
  EXPECT_EQ(server.log().find("worker nodes join"), std::string::npos);
  EXPECT_EQ(server.stop(), 0);
  // A token alone opens the cluster port, on 4242 (or says it is taken).
  child_process with_token({binary, "serve", "--host", "127.0.0.1", "--port",
                            "0", "--data-dir", dir_.file("data2")},
                           dir_.file("token.log"),
                           {"PLAYCOUNT_CLUSTER_TOKEN=" + port_token});
  EXPECT_TRUE(eventually([&] {
    const std::string log = with_token.log();
    return log.find("worker nodes join at 127.0.0.1:4242") !=
               std::string::npos ||
           log.find("cannot open the cluster port 127.0.0.1:4242") !=
               std::string::npos;
  })) << with_token.log();
}

TEST_F(cluster_port_test, hostile_bytes_before_the_handshake_cost_no_memory) {
  start_server();
  const uint64_t before = rss_kb();
  // The attack of issue 10: a BASP header that claims ~4 GiB, five times.
  for (int i = 0; i < 5; ++i) {
    const int fd = test::connect_loopback(cluster_port_);
    ASSERT_GE(fd, 0);
    const std::string attack =
        basp_header(1, 0xFFFFFFF0) + std::string(64, '\xff');
    (void)send_bytes(fd, attack.data(), attack.size());
    unsigned char hello[handshake::hello_size];
    EXPECT_TRUE(read_exactly(fd, hello, sizeof hello));
    unsigned char verdict[handshake::verdict_size];
    EXPECT_TRUE(read_exactly(fd, verdict, sizeof verdict));
    EXPECT_EQ(verdict[0], static_cast<uint8_t>(handshake::status::refused));
    EXPECT_TRUE(closed_by_server(fd));
    ::close(fd);
  }
  // A megabyte of garbage: the server reads its fixed answer size, no more.
  {
    const int fd = test::connect_loopback(cluster_port_);
    std::string garbage(1 << 20, '\0');
    for (size_t i = 0; i < garbage.size(); ++i)
      garbage[i] = static_cast<char>(i * 131 + 7);
    (void)::send(fd, garbage.data(), garbage.size(),
                 MSG_NOSIGNAL | MSG_DONTWAIT);
    EXPECT_TRUE(closed_by_server(fd));
    ::close(fd);
  }
  // Silent connections: at most max_waiting_peers wait, each for 5 s.
  std::vector<int> silent;
  for (size_t i = 0; i < max_waiting_peers + 8; ++i)
    silent.push_back(test::connect_loopback(cluster_port_));
  size_t closed_at_once = 0;
  for (size_t i = max_waiting_peers; i < silent.size(); ++i) {
    unsigned char hello[handshake::hello_size];
    if (!read_exactly(silent[i], hello, sizeof hello, 2s))
      ++closed_at_once;
  }
  EXPECT_EQ(closed_at_once, 8u);
  EXPECT_EQ(test::http_get(port_, "/healthz").status, 200);
  const auto waited = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_server(silent[0], 10s));
  EXPECT_GE(std::chrono::steady_clock::now() - waited, 1s);
  for (int fd : silent)
    ::close(fd);
  const uint64_t after = rss_kb();
  EXPECT_LT(after, before + rss_margin_kb) << before << " kB -> " << after;
  EXPECT_NE(server_->log().find("refused a worker node at 127.0.0.1:"),
            std::string::npos);
  EXPECT_NE(server_->log().find("did not finish the handshake"),
            std::string::npos);
  a_node_still_joins_and_counts("after-attack");
}

TEST_F(cluster_port_test,
       an_oversized_message_after_the_handshake_drops_the_peer) {
  start_server();
  // HTTP, the cluster port and the feed port: CAF listens on none of its own.
  const auto ports = listening_ports(server_->pid());
  EXPECT_EQ(ports.size(), 3u);
  EXPECT_EQ(ports.count(port_), 1u);
  EXPECT_EQ(ports.count(cluster_port_), 1u);
  const uint64_t before = rss_kb();
  for (const std::string& hostile :
       {basp_header(2, 0xFFFFFFF0), basp_header(2, max_basp_payload + 1),
        basp_header(0x42, 8), basp_header(6, 100)}) {
    const int fd = test::connect_loopback(cluster_port_);
    bool proven = false;
    ASSERT_EQ(authenticate(fd, port_token, proven),
              static_cast<int>(handshake::status::accepted));
    EXPECT_TRUE(proven);
    // What CAF expects first: a client handshake. Then the hostile header.
    const std::string bytes = basp_header(1, 0, 0) + hostile;
    EXPECT_TRUE(send_bytes(fd, bytes.data(), bytes.size()));
    EXPECT_TRUE(closed_by_server(fd));
    ::close(fd);
  }
  EXPECT_NE(server_->log().find("dropped the worker node at 127.0.0.1:"),
            std::string::npos)
      << server_->log();
  EXPECT_NE(server_->log().find("a BASP message of 4294967280 bytes"),
            std::string::npos)
      << server_->log();
  const uint64_t after = rss_kb();
  EXPECT_LT(after, before + rss_margin_kb) << before << " kB -> " << after;
  EXPECT_EQ(test::http_get(port_, "/healthz").status, 200);
  a_node_still_joins_and_counts("after-drop");
}

TEST_F(cluster_port_test, a_wrong_token_is_refused_at_the_handshake) {
  start_server();
  const int fd = test::connect_loopback(cluster_port_);
  bool proven = true;
  EXPECT_EQ(authenticate(fd, "guess", proven),
            static_cast<int>(handshake::status::refused));
  EXPECT_FALSE(proven); // a refusal proves nothing about the token
  EXPECT_TRUE(closed_by_server(fd));
  ::close(fd);
  // A real node with the wrong token is told so and stops.
  child_process& node =
      start_node("wrong", cluster_port_, {"--cluster-token", "guess"});
  ASSERT_TRUE(node.wait_exit(20s)) << node.log();
  EXPECT_EQ(node.exit_code(), 1);
  EXPECT_NE(node.log().find("refused this node: wrong or missing cluster "
                            "token"),
            std::string::npos)
      << node.log();
  EXPECT_EQ(server_->log().find("guess"), std::string::npos);
  EXPECT_EQ(server_->log().find(port_token), std::string::npos);
}

// A loopback relay between a node and the server that keeps every byte.
class wire_tap {
public:
  explicit wire_tap(uint16_t server_port)
      : server_port_(server_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    (void)::listen(listen_fd_, 4);
    socklen_t len = sizeof addr;
    (void)::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~wire_tap() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  [[nodiscard]] uint16_t port() const { return port_; }
  [[nodiscard]] std::string seen() {
    std::lock_guard<std::mutex> guard{mutex_};
    return seen_;
  }

private:
  void run() {
    std::vector<std::pair<int, int>> links; // node side, server side
    while (!stop_) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (auto [a, b] : links) {
        fds.push_back({a, POLLIN, 0});
        fds.push_back({b, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), 100) <= 0)
        continue;
      for (size_t i = 0; i < links.size(); ++i)
        for (int side = 0; side < 2; ++side) {
          if (fds[1 + 2 * i + side].revents == 0)
            continue;
          const int from = side == 0 ? links[i].first : links[i].second;
          const int to = side == 0 ? links[i].second : links[i].first;
          char buf[65536];
          const ssize_t n = ::recv(from, buf, sizeof buf, 0);
          if (n <= 0) {
            ::shutdown(to, SHUT_RDWR);
            continue;
          }
          {
            std::lock_guard<std::mutex> guard{mutex_};
            seen_.append(buf, static_cast<size_t>(n));
          }
          (void)send_bytes(to, buf, static_cast<size_t>(n));
        }
      if (fds[0].revents != 0) {
        const int node = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (node < 0)
          continue;
        links.emplace_back(node, test::connect_loopback(server_port_));
      }
    }
    for (auto [a, b] : links) {
      ::close(a);
      ::close(b);
    }
  }

  uint16_t server_port_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::string seen_;
  std::thread thread_;
};

TEST_F(cluster_port_test, the_token_never_crosses_the_wire) {
  start_server();
  wire_tap tap(cluster_port_);
  child_process& node = start_node("tapped", tap.port());
  ASSERT_TRUE(eventually([&] { return node_up("tapped"); }))
      << node.log() << server_->log();
  const std::string seen = tap.seen();
  EXPECT_GT(seen.size(), handshake::hello_size + handshake::answer_size);
  EXPECT_EQ(seen.find(port_token), std::string::npos);
  // Nor any long piece of it.
  EXPECT_EQ(seen.find(port_token.substr(0, 12)), std::string::npos);
  EXPECT_EQ(seen.find(port_token.substr(port_token.size() - 12)),
            std::string::npos);
}

// One row per (song, date) group: `groups` groups.
std::string many_groups_csv(size_t groups) {
  std::string out = "Song,Date,Number of Plays\n";
  out.reserve(groups * 28);
  for (size_t i = 0; i < groups; ++i) {
    out += "song-";
    out += std::to_string(i / 7);
    out += ",2020-01-0";
    out += static_cast<char>('1' + i % 7);
    out += ',';
    out += std::to_string(i % 997 + 1);
    out += '\n';
  }
  return out;
}

TEST_F(cluster_port_test, a_job_of_millions_of_groups_on_a_node_keeps_it_up) {
  start_server({"--range-size", "16M", "--log-level", "debug"});
  child_process& node = start_node("big", cluster_port_);
  ASSERT_TRUE(eventually([&] { return node_up("big"); }))
      << node.log() << server_->log();
  const std::string node_id = str(node_stats("big"), "id");
  const std::string csv = many_groups_csv(2'500'000);
  const auto started = std::chrono::steady_clock::now();
  const std::string id = test::submit(port_, csv);
  const auto done = test::wait_for_state(port_, id, "finished", 240s);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  std::printf("2.5 M groups on one node: %.1f s\n", seconds);
  EXPECT_EQ(test::http_get(port_, "/jobs/" + id + "/result/").body,
            count_alone(csv));
  // Its partial came in pieces: in one message it is more than the
  // cluster port lets through.
  EXPECT_NE(server_->log().find(" pieces"), std::string::npos);
  EXPECT_EQ(server_->log().find("dropped the worker node"), std::string::npos);
  EXPECT_EQ(server_->log().find("is down"), std::string::npos)
      << server_->log();
  EXPECT_EQ(node.log().find("lost the server"), std::string::npos)
      << node.log();
  EXPECT_EQ(str(node_stats("big"), "id"), node_id); // never joined again
  EXPECT_TRUE(node_up("big"));
  // SIGTERM while a job like it runs: the server is gone within seconds.
  // (Stopping waits at most 3 s for busy actors, app/serve.cpp.)
  const std::string again = test::submit(port_, csv);
  EXPECT_TRUE(eventually(
      [&] {
        const auto j = test::job(port_, again);
        return str(j, "phase") == "merging" || str(j, "state") == "finished";
      },
      120s));
  const auto stopping = std::chrono::steady_clock::now();
  EXPECT_EQ(server_->stop(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, test::scaled(6s));
}

// -- a node that has the token and misbehaves -------------------------------

// Whether `to` refuses the request `xs...` (an answer of type Answer would
// be the coordinator's): CAF's unexpected_message, not a timeout.
template <class Answer, class Handle, class... Ts>
bool refuses(caf::scoped_actor& self, const Handle& to, Ts... xs) {
  bool refused = false;
  self->request(to, test::scaled(10s), xs...)
      .receive([](Answer&) { ADD_FAILURE() << "answered"; },
               [&](caf::error& e) {
                 refused = e.category() == caf::atom("system") &&
                           e.code() == static_cast<uint8_t>(
                                           caf::sec::unexpected_message);
                 EXPECT_TRUE(refused) << caf::to_string(e);
               });
  return refused;
}

// Every message only the server's own actors may send the coordinator.
template <class Handle>
void expect_local_only_refused(caf::scoped_actor& self, const Handle& to,
                               const std::string& job, const char* via) {
  job_request request;
  request.id = "from-a-node";
  request.input_path = "/etc/passwd";
  request.output_path = "/tmp/from-a-node.csv";
  EXPECT_TRUE(refuses<job_result>(self, to, request)) << via;
  EXPECT_TRUE(refuses<bool>(self, to, cancel_atom::value, job)) << via;
  EXPECT_TRUE(refuses<job_status>(self, to, status_atom::value, job)) << via;
  EXPECT_TRUE(refuses<coordinator_stats>(self, to, stats_atom::value)) << via;
  EXPECT_TRUE(
      refuses<std::string>(self, to, node_up_atom::value,
                           node_record{"ghost", "1.2.3.4:5", "ghost-node", {}}))
      << via;
  // No answer to wait for: a job said done, and a plan.
  job_result done;
  done.id = job;
  done.ok = true;
  self->send(to, finished_atom::value, done);
  self->send(to, planned_atom::value, job, job_plan{}, std::string{});
}

TEST_F(
    cluster_port_test,
    a_node_sending_what_only_the_server_may_is_refused_and_the_server_goes_on) {
  start_server();
  caf::actor_system_config cfg;
  configure_actor_system(cfg, /*network=*/true);
  caf::actor_system system{cfg};
  // Joins as `playcount worker` does (cluster/worker_node.cpp).
  const auto connected = open_socket("127.0.0.1", cluster_port_, false);
  ASSERT_TRUE(connected) << connected.error().text();
  const int fd = *connected;
  bool refused = false;
  const auto joined = handshake::join(fd, port_token, refused);
  ASSERT_TRUE(joined) << joined.error().text();
  const uint64_t session = *joined;
  set_timeouts(fd, 0);
  (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  auto basp =
      system.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  caf::scoped_actor self{system};
  gate_actor gate;
  self->request(basp, test::scaled(10s), caf::connect_atom::value,
                system.middleman().backend().new_scribe(fd), cluster_port_)
      .receive(
          [&](caf::node_id&, caf::strong_actor_ptr& whom,
              std::set<std::string>&) {
            gate = caf::actor_cast<gate_actor>(whom);
          },
          [&](caf::error& e) { ADD_FAILURE() << system.render(e); });
  ASSERT_TRUE(gate);
  registration_reply reply;
  self->request(gate, test::scaled(10s), register_atom::value,
                node_registration{"hostile", 1, session})
      .receive([&](registration_reply& r) { reply = std::move(r); },
               [&](caf::error& e) { ADD_FAILURE() << system.render(e); });
  ASSERT_TRUE(reply.accepted) << reply.reason;

  // What the node was given (its relay) takes none of it ...
  const std::string csv = test::make_csv(test::csv_shape{});
  const std::string id = test::submit(port_, csv);
  expect_local_only_refused(self,
                            caf::actor_cast<caf::actor>(reply.work_source), id,
                            "through the relay");
  // ... nor the gate.
  EXPECT_TRUE(refuses<coordinator_stats>(
      self, caf::actor_cast<caf::actor>(gate), stats_atom::value));

  // A worker of the node learns the coordinator's id: the coordinator
  // itself answers its ask (the server has no worker of its own).
  auto opened = open_feed("127.0.0.1", reply.feed_port, reply.feed_secret);
  ASSERT_TRUE(opened) << opened.error().text();
  auto feed = std::move(*opened);
  std::promise<caf::actor> learned;
  auto worker = system.spawn([&learned, relay = reply.work_source,
                              node = reply.node_id, feed_id = feed->id()](
                                 caf::event_based_actor* w) -> caf::behavior {
    w->send(relay, join_atom::value, worker_info{node, feed_id});
    w->request(relay, caf::infinite, ask_work_atom::value)
        .then([&learned, w](work_item&) {
          learned.set_value(caf::actor_cast<caf::actor>(w->current_sender()));
        });
    return {[](drop_atom, const std::string&) {}};
  });
  auto learning = learned.get_future();
  ASSERT_EQ(learning.wait_for(test::scaled(20s)), std::future_status::ready)
      << server_->log();
  const caf::actor coordinator = learning.get();
  ASSERT_TRUE(coordinator);
  EXPECT_NE(coordinator.node(), system.node());
  EXPECT_NE(coordinator.address(), reply.work_source.address());
  // Straight to the coordinator: refused at its mailbox, an exit too (a
  // node may end its own relay, not the coordinator).
  expect_local_only_refused(self, coordinator, id, "straight");
  self->send_exit(coordinator, caf::exit_reason::kill);
  EXPECT_EQ(str(test::job(port_, id), "state"), "started");
  EXPECT_NE(server_->log().find("the coordinator refused a message from"),
            std::string::npos)
      << server_->log();

  // The node goes; the server goes on: a real node finishes the job.
  self->send_exit(worker, caf::exit_reason::kill);
  child_process& node = start_node("honest", cluster_port_);
  ASSERT_TRUE(eventually([&] { return node_up("honest"); }))
      << node.log() << server_->log();
  test::wait_for_state(port_, id, "finished", test::scaled(30s));
  EXPECT_EQ(test::http_get(port_, "/jobs/" + id + "/result/").body,
            count_alone(csv));
  EXPECT_EQ(test::http_get(port_, "/healthz").status, 200);
}

} // namespace
} // namespace playcount
