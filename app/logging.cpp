#include "app/logging.hpp"

#include "core/utf8.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <sys/stat.h>

namespace playcount {

namespace {

// A JSON string of `s` (invalid UTF-8 bytes written \xFF first, as
// everywhere the service writes JSON).
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  const std::string text = printable_utf8(s);
  out += '"';
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 0xF];
    } else {
      out += ch;
    }
  }
  out += '"';
}

bool is_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

// The job id the message names: the log calls write "job <id> ...".
std::string_view job_id_in(std::string_view message) {
  constexpr std::string_view word = "job ";
  constexpr size_t id_size = 36; // 8-4-4-4-12 hex digits
  for (size_t at = message.find(word); at != std::string_view::npos;
       at = message.find(word, at + 1)) {
    if (at > 0 && message[at - 1] != ' ')
      continue;
    const std::string_view id = message.substr(at + word.size(), id_size);
    bool ok = id.size() == id_size;
    for (size_t i = 0; ok && i < id_size; ++i)
      ok = (i == 8 || i == 13 || i == 18 || i == 23) ? id[i] == '-'
                                                     : is_hex(id[i]);
    if (ok)
      return id;
  }
  return {};
}

std::string rfc3339_utc(std::chrono::system_clock::time_point time) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      time.time_since_epoch())
                      .count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char buf[80]; // room for any int, as the compiler checks
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                utc.tm_min, utc.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

class line_formatter final : public spdlog::formatter {
public:
  line_formatter(log_format format, bool journald)
      : format_(format)
      , journald_(journald) {}

  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    const std::string line = format_log_line(
        format_, journald_, msg.level, msg.time,
        std::string_view(msg.payload.data(), msg.payload.size()),
        current_request_fields());
    dest.append(line.data(), line.data() + line.size());
  }

  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<line_formatter>(format_, journald_);
  }

private:
  log_format format_;
  bool journald_;
};

} // namespace

bool is_log_level(const std::string& level) {
  return spdlog::level::from_str(level) != spdlog::level::off || level == "off";
}

bool is_log_format(const std::string& format) {
  return format == "text" || format == "json";
}

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr)
    return false;
  unsigned long long device = 0;
  unsigned long long inode = 0;
  char end = 0;
  // NOLINTNEXTLINE(cert-err34-c): exactly two numbers and nothing after
  if (std::sscanf(stream, "%llu:%llu%c", &device, &inode, &end) != 2)
    return false;
  struct stat st {};
  return ::fstat(2, &st) == 0 &&
         static_cast<unsigned long long>(st.st_dev) == device &&
         static_cast<unsigned long long>(st.st_ino) == inode;
}

int syslog_priority(spdlog::level::level_enum level) noexcept {
  switch (level) {
  case spdlog::level::critical:
    return 2;
  case spdlog::level::err:
    return 3;
  case spdlog::level::warn:
    return 4;
  case spdlog::level::info:
    return 6;
  default:
    return 7;
  }
}

std::string format_log_line(log_format format, bool journald,
                            spdlog::level::level_enum level,
                            std::chrono::system_clock::time_point time,
                            std::string_view message,
                            const log_request_fields* request) {
  std::string out;
  out.reserve(message.size() + 128);
  if (journald) {
    out += '<';
    out += static_cast<char>('0' + syslog_priority(level));
    out += '>';
  }
  if (format == log_format::text) {
    // Under journald only: elsewhere the text line is spdlog's pattern.
    const auto name = spdlog::level::to_string_view(level);
    out.append(name.data(), name.size());
    out += ' ';
    out.append(message.data(), message.size());
    out += '\n';
    return out;
  }
  out += "{\"time\":";
  append_json_string(out, rfc3339_utc(time));
  out += ",\"level\":";
  const auto name = spdlog::level::to_string_view(level);
  append_json_string(out, std::string_view(name.data(), name.size()));
  out += ",\"message\":";
  append_json_string(out, message);
  if (const std::string_view id = job_id_in(message); !id.empty()) {
    out += ",\"job_id\":";
    append_json_string(out, id);
  }
  if (request != nullptr) {
    out += ",\"method\":";
    append_json_string(out, request->method);
    out += ",\"target\":";
    append_json_string(out, request->target);
    out += ",\"status\":";
    out += std::to_string(request->status);
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.3f", request->duration_ms);
    out += ",\"duration_ms\":";
    out += ms;
  }
  out += "}\n";
  return out;
}

std::unique_ptr<spdlog::formatter> make_log_formatter(log_format format,
                                                      bool journald) {
  return std::make_unique<line_formatter>(format, journald);
}

void start_logging(const std::string& level, const std::string& format) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("playcount"));
  const log_format f = format == "json" ? log_format::json : log_format::text;
  const bool journald = stderr_is_journal();
  if (f == log_format::text && !journald)
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  else
    spdlog::set_formatter(make_log_formatter(f, journald));
  spdlog::set_level(spdlog::level::from_str(level));
}

} // namespace playcount
