#pragma once

// The log of the long-running commands (`serve`, `worker`): spdlog on stderr,
// one line per event with its time and level.

#include <string>

namespace playcount {

/// True when `level` is one of debug, info, warn, error (or off).
[[nodiscard]] bool is_log_level(const std::string& level);

/// Sends the default spdlog logger to stderr at `level`.
void start_logging(const std::string& level);

} // namespace playcount
