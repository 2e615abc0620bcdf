#pragma once

// A program run in the background for a test (a server, a worker node),
// its stdout and stderr in a log file the test can read and wait on.

#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace playcount::test {

class child_process {
public:
  /// Starts `args` (args[0] is the program path); `env` entries
  /// ("NAME=value") are added to this process's environment.
  child_process(const std::vector<std::string>& args, std::string log_path,
                const std::vector<std::string>& env = {})
      : log_path_(std::move(log_path)) {
    std::vector<std::string> all = args;
    std::vector<char*> argv;
    for (auto& a : all)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_text;
    for (char** e = environ; *e != nullptr; ++e)
      env_text.emplace_back(*e);
    env_text.insert(env_text.end(), env.begin(), env.end());
    std::vector<char*> envp;
    for (auto& e : env_text)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    const int log_fd = ::open(log_path_.c_str(),
                              O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, log_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, log_fd, STDERR_FILENO);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(),
                    envp.data()) != 0)
      pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(log_fd);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    if (pid_ > 0)
      ::kill(pid_, SIGCONT); // a stopped child cannot take SIGTERM
    stop();
  }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] std::string log() const { return read_file(log_path_); }

  /// Waits until the log holds `text` (counting from byte `from`); returns
  /// where it starts, or npos when the time ran out or the child exited.
  size_t
  wait_for_log(const std::string& text,
               std::chrono::milliseconds limit = std::chrono::seconds(20),
               size_t from = 0) {
    size_t at = std::string::npos;
    eventually(
        [&] {
          at = log().find(text, from);
          if (at == std::string::npos && !running())
            at = log().find(text, from); // what it wrote before it exited
          return at != std::string::npos || pid_ <= 0;
        },
        limit, std::chrono::milliseconds(10));
    return at;
  }

  /// False once the child has exited (its status is then exit_code()).
  bool running() {
    if (pid_ <= 0)
      return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      record(status);
      return false;
    }
    return true;
  }

  /// Waits for the child to exit by itself; false when it did not in time.
  bool wait_exit(std::chrono::milliseconds limit) {
    return eventually([&] { return !running(); }, limit,
                      std::chrono::milliseconds(10));
  }

  /// -1 while running or when killed by a signal.
  [[nodiscard]] int exit_code() const noexcept { return exit_code_; }

  /// SIGKILL: no chance to clean up, as in a crash.
  void kill9() { signal_and_wait(SIGKILL); }

  /// SIGSTOP / SIGCONT: the process falls silent, then goes on.
  void pause() {
    if (pid_ > 0)
      ::kill(pid_, SIGSTOP);
  }
  void resume() {
    if (pid_ > 0)
      ::kill(pid_, SIGCONT);
  }

  /// SIGTERM and the exit status (-1 when killed by a signal).
  int stop() {
    signal_and_wait(SIGTERM);
    return exit_code_;
  }

private:
  void record(int status) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pid_ = -1;
  }

  void signal_and_wait(int sig) {
    if (pid_ <= 0)
      return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    record(status);
  }

  std::string log_path_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

} // namespace playcount::test
