#pragma once

// `playcount serve` as a child process on a free loopback port, its output
// in a log file the test can read.

#include "tests/support/temp_dir.hpp"

#include <chrono>
#include <csignal>
#include <cstdint>
#include <fcntl.h>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace playcount::test {

class server_process {
public:
  /// Starts `binary serve --port 0 --host 127.0.0.1 <args>` with stdout and
  /// stderr in `log_path`, and waits for its "listening on" line.
  server_process(const std::string& binary, std::vector<std::string> args,
                 std::string log_path)
      : log_path_(std::move(log_path)) {
    std::vector<std::string> all = {binary,      "serve",  "--host",
                                    "127.0.0.1", "--port", "0"};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    const int log_fd = ::open(log_path_.c_str(),
                              O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, log_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, log_fd, STDERR_FILENO);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) !=
        0)
      pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(log_fd);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(20);
    const std::string marker = "listening on http://127.0.0.1:";
    while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
      const std::string text = log();
      const size_t at = text.find(marker);
      if (at != std::string::npos) {
        port_ =
            static_cast<uint16_t>(std::stoi(text.substr(at + marker.size())));
        break;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;
  ~server_process() { stop(); }

  /// 0 when the server did not come up (see log()).
  [[nodiscard]] uint16_t port() const noexcept { return port_; }
  /// The server's process id (-1 once stopped).
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] std::string log() const { return read_file(log_path_); }

  /// SIGKILL: no chance to clean up, as in a crash.
  void kill9() { signal_and_wait(SIGKILL); }

  /// SIGTERM and the exit status (-1 when killed by a signal).
  int stop() {
    signal_and_wait(SIGTERM);
    return exit_code_;
  }

private:
  void signal_and_wait(int sig) {
    if (pid_ <= 0)
      return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pid_ = -1;
  }

  std::string log_path_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  int exit_code_ = -1;
};

} // namespace playcount::test
