#pragma once

// `playcount serve` as a child process on a free loopback port, its output
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
  /// `--cluster-port` in `args`, the cluster port is off (tests run at once);
  /// without a `--shutdown-grace`, SIGTERM stops it at once.
  server_process(const std::string& binary, std::vector<std::string> args,
                 std::string log_path,
                 const std::vector<std::string>& env = {})
      : child_(command(binary, args), std::move(log_path), env) {
    const std::string marker = "listening on http://127.0.0.1:";
    if (const size_t at = child_.wait_for_log(marker); at != std::string::npos)
      port_ = static_cast<uint16_t>(
          std::stoi(log().substr(at + marker.size())));
  }

  /// 0 when the server did not come up (see log()).
  [[nodiscard]] uint16_t port() const noexcept { return port_; }
  /// The server's process id (-1 once stopped).
  [[nodiscard]] pid_t pid() const noexcept { return child_.pid(); }
  [[nodiscard]] std::string log() const { return child_.log(); }
  [[nodiscard]] child_process& process() noexcept { return child_; }

  /// SIGKILL: no chance to clean up, as in a crash.
  void kill9() { child_.kill9(); }

  /// SIGTERM and the exit status (-1 when killed by a signal).
  int stop() { return child_.stop(); }

private:
  static std::vector<std::string> command(const std::string& binary,
                                          const std::vector<std::string>& args) {
    std::vector<std::string> all = {binary,      "serve",  "--host",
                                    "127.0.0.1", "--port", "0"};
    if (std::find(args.begin(), args.end(), "--cluster-port") == args.end())
      all.insert(all.end(), {"--cluster-port", "0"});
    // Tests stop servers with SIGTERM: without a `--shutdown-grace` of
    // their own, at once, as before warm shutdown.
    if (std::find(args.begin(), args.end(), "--shutdown-grace") == args.end())
      all.insert(all.end(), {"--shutdown-grace", "0"});
    all.insert(all.end(), args.begin(), args.end());
    return all;
  }

  child_process child_;
  uint16_t port_ = 0;
};

} // namespace playcount::test
