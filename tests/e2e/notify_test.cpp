// sd_notify as systemd sees it (packaging/*.service are Type=notify): the
// test owns the $NOTIFY_SOCKET datagram socket and reads what `serve` and
// `worker` say there.

#include "tests/support/binary.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/slowdown.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace playcount {
namespace {

using namespace std::chrono_literals;

using test::binary;

// A unix datagram socket bound to a path, as systemd's notify socket is.
class notify_socket {
public:
  explicit notify_socket(std::string path)
      : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path)
      return; // bind() below fails; the test says so
    std::memcpy(addr.sun_path, path_.c_str(), path_.size());
    bound_ = fd_ >= 0 &&
             ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  notify_socket(const notify_socket&) = delete;
  notify_socket& operator=(const notify_socket&) = delete;
  ~notify_socket() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  [[nodiscard]] bool bound() const noexcept { return bound_; }
  [[nodiscard]] std::string env() const { return "NOTIFY_SOCKET=" + path_; }

  /// The first message holding `line` (one of its lines), with the messages
  /// read before it in `before`; empty when none came within `limit`.
  std::string await(const std::string& line, std::string* before = nullptr,
                    std::chrono::milliseconds limit = 20s) {
    const auto deadline =
        std::chrono::steady_clock::now() + test::scaled(limit);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) != 1)
        continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0)
        continue;
      const std::string message(buf, static_cast<size_t>(n));
      if (("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos)
        return message;
      if (before != nullptr)
        *before += message + "\n";
    }
    return {};
  }

private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

TEST(sd_notify,
     serve_says_ready_once_its_port_answers_and_stopping_on_sigterm) {
  test::temp_dir dir;
  notify_socket notify(dir.file("notify"));
  ASSERT_TRUE(notify.bound()) << std::strerror(errno);
  test::server_process server(binary, {"--data-dir", dir.file("data")},
                              dir.file("log"), {notify.env()});
  ASSERT_NE(server.port(), 0) << server.log();
  std::string before;
  const std::string ready = notify.await("READY=1", &before);
  ASSERT_FALSE(ready.empty()) << "no READY=1; got: " << before << server.log();
  EXPECT_EQ(before, ""); // nothing said before it is ready
  // Ready means answering: systemd starts what is ordered after it now.
  EXPECT_EQ(test::http_get(server.port(), "/healthz").status, 200);
  EXPECT_NE(ready.find("STATUS=listening on http://127.0.0.1:" +
                       std::to_string(server.port())),
            std::string::npos)
      << ready;

  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  const std::string stopping = notify.await("STOPPING=1");
  EXPECT_NE(stopping.find("STATUS=stopping on SIGTERM"), std::string::npos)
      << stopping << server.log();
  EXPECT_TRUE(server.process().wait_exit(20s)) << server.log();
  EXPECT_EQ(server.process().exit_code(), 0) << server.log();
}

TEST(sd_notify, serve_without_a_notify_socket_serves_as_before) {
  test::temp_dir dir;
  // A socket path that is not there: sd_notify fails, quietly, and the
  // server goes on (outside systemd there is no $NOTIFY_SOCKET at all).
  test::server_process server(binary, {"--data-dir", dir.file("data")},
                              dir.file("log"),
                              {"NOTIFY_SOCKET=" + dir.file("absent")});
  ASSERT_NE(server.port(), 0) << server.log();
  EXPECT_EQ(test::http_get(server.port(), "/healthz").status, 200);
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST(sd_notify, a_worker_node_is_ready_while_it_joins_and_says_stopping) {
  test::temp_dir dir;
  notify_socket notify(dir.file("notify"));
  ASSERT_TRUE(notify.bound()) << std::strerror(errno);
  // Nobody listens on port 1: the node keeps trying to join, and is
  // ready all the same (a start timeout must not cut an outage short).
  test::child_process worker({binary, "worker", "--join", "127.0.0.1:1",
                              "--workers", "1", "--temp-dir", dir.path()},
                             dir.file("log"), {notify.env()});
  const std::string ready = notify.await("READY=1");
  EXPECT_NE(ready.find("STATUS=joining 127.0.0.1:1"), std::string::npos)
      << ready << worker.log();
  ASSERT_EQ(::kill(worker.pid(), SIGTERM), 0);
  EXPECT_FALSE(notify.await("STOPPING=1").empty()) << worker.log();
  EXPECT_TRUE(worker.wait_exit(20s)) << worker.log();
}

} // namespace
} // namespace playcount
