#pragma once

// The log of the long-running commands (`serve`, `worker`): spdlog on stderr,
// one line per event.
//
// - On a terminal or into a file: the time, the level, the message.
// - Under journald (stderr is the stream $JOURNAL_STREAM names, as
//   systemd.exec(5) documents): a syslog priority prefix (`<6>`, sd-daemon(3)
//   style) and no time of our own; the journal stamps each line itself.
// - With --log-format json: one JSON object per line: time, level, message,
//   and job_id or the request's method, target, status and duration_ms where
//   the line has them. Under journald it too gets the priority prefix (the
//   journal strips it and keeps the object as the message).

#include "core/log_fields.hpp"

#include <spdlog/common.h>
#include <spdlog/formatter.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace playcount {

enum class log_format { text, json };

/// True when `level` is one of debug, info, warn, error (or off).
[[nodiscard]] bool is_log_level(const std::string& level);

/// True when `format` is "text" or "json".
[[nodiscard]] bool is_log_format(const std::string& format);

/// Whether stderr is the journal's stream: $JOURNAL_STREAM is
/// "<device>:<inode>" of the very file stderr is (a child whose stderr was
/// redirected inherits the variable but not the stream).
[[nodiscard]] bool stderr_is_journal();

/// The syslog priority of a level (sd-daemon(3): <2> critical, <3> error,
/// <4> warning, <6> info, <7> debug).
[[nodiscard]] int syslog_priority(spdlog::level::level_enum level) noexcept;

/// One line as the log writes it, with its newline (not for the coloured
/// text format on a terminal, which is spdlog's own pattern).
[[nodiscard]] std::string
format_log_line(log_format format, bool journald,
                spdlog::level::level_enum level,
                std::chrono::system_clock::time_point time,
                std::string_view message, const log_request_fields* request);

/// The formatter of that line, for a sink.
[[nodiscard]] std::unique_ptr<spdlog::formatter>
make_log_formatter(log_format format, bool journald);

/// Sends the default spdlog logger to stderr at `level` in `format` ("text"
/// or "json"), the journal's way when stderr is the journal.
void start_logging(const std::string& level,
                   const std::string& format = "text");

} // namespace playcount
