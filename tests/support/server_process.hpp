#pragma once

// `playcount serve` as a child process on free loopback ports, its output
// in a log file the test can read.

#include "tests/support/child_process.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace playcount::test {

class server_process {
public:
  /// Starts `binary serve --port 0 --host 127.0.0.1 <args>` with stdout and
  /// stderr in `log_path`, and waits for its "listening on" line. Without a
  /// `--cluster-port` in `args`, the cluster port is off (`--no-cluster`:
  /// even with PLAYCOUNT_CLUSTER_TOKEN in the environment); with
  /// `--cluster-port 0` it is a free one, which cluster_port() names. Without
  /// a `--shutdown-grace`, SIGTERM stops it at once.
  server_process(const std::string& binary, std::vector<std::string> args,
                 std::string log_path, const std::vector<std::string>& env = {})
      : child_(command(binary, args), std::move(log_path), env) {
    const std::string marker = "listening on http://127.0.0.1:";
    if (const size_t at = child_.wait_for_log(marker); at != std::string::npos)
      port_ =
          static_cast<uint16_t>(std::stoi(log().substr(at + marker.size())));
    // Logged before the "listening on" line, when the cluster port is open.
    const std::string text = log();
    const std::string nodes = "worker nodes join at ";
    if (const size_t at = text.find(nodes); at != std::string::npos) {
      const size_t end = text.find(' ', at + nodes.size());
      const size_t colon = text.rfind(':', end);
      cluster_port_ = static_cast<uint16_t>(std::stoi(text.substr(colon + 1)));
      const std::string feed = "range bytes on port ";
      if (const size_t f = text.find(feed, end); f != std::string::npos)
        feed_port_ =
            static_cast<uint16_t>(std::stoi(text.substr(f + feed.size())));
    }
  }

  /// 0 when the server did not come up (see log()).
  [[nodiscard]] uint16_t port() const noexcept { return port_; }
  /// The port worker nodes join, and the one they fetch range bytes from
  /// (0 when the cluster port is off).
  [[nodiscard]] uint16_t cluster_port() const noexcept { return cluster_port_; }
  [[nodiscard]] uint16_t feed_port() const noexcept { return feed_port_; }
  /// The server's process id (-1 once stopped).
  [[nodiscard]] pid_t pid() const noexcept { return child_.pid(); }
  [[nodiscard]] std::string log() const { return child_.log(); }
  [[nodiscard]] child_process& process() noexcept { return child_; }

  /// SIGKILL: no chance to clean up, as in a crash.
  void kill9() { child_.kill9(); }

  /// SIGTERM and the exit status (-1 when killed by a signal).
  int stop() { return child_.stop(); }

private:
  static std::vector<std::string>
  command(const std::string& binary, const std::vector<std::string>& args) {
    std::vector<std::string> all = {binary,      "serve",  "--host",
                                    "127.0.0.1", "--port", "0"};
    if (std::find(args.begin(), args.end(), "--cluster-port") == args.end())
      all.insert(all.end(), {"--no-cluster"});
    // Tests stop servers with SIGTERM: without a `--shutdown-grace` of
    // their own, at once, as before warm shutdown.
    if (std::find(args.begin(), args.end(), "--shutdown-grace") == args.end())
      all.insert(all.end(), {"--shutdown-grace", "0"});
    all.insert(all.end(), args.begin(), args.end());
    return all;
  }

  child_process child_;
  uint16_t port_ = 0;
  uint16_t cluster_port_ = 0;
  uint16_t feed_port_ = 0;
};

} // namespace playcount::test
