#pragma once

// What /proc says about a process (Linux): the CPU time it used, to check
// that a server under attack does not spin.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <sys/types.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace playcount::test {

/// User plus system CPU seconds `pid` used so far (fields 14 and 15 of
/// /proc/<pid>/stat); -1 when it cannot be read.
inline double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string text((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')'); // the name may hold spaces
  if (paren == std::string::npos)
    return -1;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After the name: state is field 3; utime and stime are 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14)
      utime = std::stoull(field);
    if (i == 15)
      stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// The share of one core `pid` used over `span` (1.0: a core at 100 %).
inline double cpu_share(pid_t pid, std::chrono::milliseconds span) {
  const double before = cpu_seconds(pid);
  const auto t0 = std::chrono::steady_clock::now();
  // The span measured, not a wait for a condition.
  std::this_thread::sleep_for(span);
  const double after = cpu_seconds(pid);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  return (after - before) / wall;
}

/// The niceness of each thread of `pid` by its name (field 19 of
/// /proc/<pid>/task/<tid>/stat; the name may hold spaces). Threads that end
/// meanwhile are left out.
inline std::vector<std::pair<std::string, int>> thread_niceness(pid_t pid) {
  std::vector<std::pair<std::string, int>> out;
  std::error_code gone;
  for (const auto& task : std::filesystem::directory_iterator(
           "/proc/" + std::to_string(pid) + "/task", gone)) {
    std::ifstream in(task.path() / "stat");
    const std::string stat((std::istreambuf_iterator<char>(in)),
                           std::istreambuf_iterator<char>());
    const size_t open = stat.find('(');
    const size_t close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos)
      continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 19 && fields >> field; ++i)
      if (i == 19)
        out.emplace_back(stat.substr(open + 1, close - open - 1),
                         std::stoi(field));
  }
  return out;
}

} // namespace playcount::test
