#pragma once

// Network namespaces for cluster tests (root only): `ip` and `tc` as
// commands, and a guard that moves the calling thread into a namespace.

#include "tests/support/process.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace playcount::test {

inline const std::string ip_command = "/sbin/ip";
inline const std::string tc_command = "/sbin/tc";

/// Runs `program ARGS...`; the error text when it failed, else "".
inline std::string run_tool(const std::string& program,
                            std::vector<std::string> args) {
  args.insert(args.begin(), program);
  const auto r = run(args);
  return r.exit_code == 0 ? ""
                          : program + " failed (" +
                                std::to_string(r.exit_code) + "): " + r.err;
}

inline std::string run_ip(std::vector<std::string> args) {
  return run_tool(ip_command, std::move(args));
}

/// Puts the calling thread into a network namespace until destroyed.
class inside_namespace {
public:
  explicit inside_namespace(const std::string& name) {
    home_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    const int target =
        ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    ok_ = home_ >= 0 && target >= 0 && ::setns(target, CLONE_NEWNET) == 0;
    if (target >= 0)
      ::close(target);
  }
  ~inside_namespace() {
    if (ok_)
      (void)::setns(home_, CLONE_NEWNET);
    if (home_ >= 0)
      ::close(home_);
  }
  inside_namespace(const inside_namespace&) = delete;
  inside_namespace& operator=(const inside_namespace&) = delete;
  [[nodiscard]] bool ok() const noexcept { return ok_; }

private:
  int home_ = -1;
  bool ok_ = false;
};

} // namespace playcount::test
