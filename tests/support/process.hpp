#pragma once

// Runs the real binary as a child process and captures what it says.

#include <cstdio>
#include <fcntl.h>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace playcount::test {

struct process_result {
  int exit_code = -1; ///< -1: killed by a signal
  std::string out;
  std::string err;
};

inline std::string drain(int fd) {
  std::string s;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    s.append(buf, static_cast<size_t>(n));
  return s;
}

/// Runs `args` (args[0] is the program path) to completion. Standard error
/// goes to a temporary file so that neither pipe can fill up and block.
inline process_result run(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int out_pipe[2];
  if (pipe(out_pipe) != 0)
    return {};
  char err_name[] = "/tmp/playcount-stderr-XXXXXX";
  const int err_fd = mkstemp(err_name);
  unlink(err_name);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  pid_t pid = 0;
  process_result result;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) !=
      0) {
    result.err = "cannot start " + args[0];
    return result;
  }
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  result.out = drain(out_pipe[0]);
  close(out_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  lseek(err_fd, 0, SEEK_SET);
  result.err = drain(err_fd);
  close(err_fd);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

} // namespace playcount::test
