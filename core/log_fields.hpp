#pragma once

// Fields of a log line beyond its message, for the machine-readable log
// (--log-format json, app/logging.hpp). The text log has them in the message
// already. A log call sets them for its own duration on its own thread: the
// loggers are synchronous, so the formatter runs inside the call.

#include <string_view>

namespace playcount {

/// An HTTP request's access-log line.
struct log_request_fields {
  std::string_view method;
  std::string_view target;
  int status = 0; ///< 0: not answered (the client went away first)
  double duration_ms = 0;
};

namespace detail {
inline thread_local const log_request_fields* request_fields = nullptr;
} // namespace detail

/// The fields of the log call in progress on this thread, or null.
[[nodiscard]] inline const log_request_fields* current_request_fields() {
  return detail::request_fields;
}

/// Sets `fields` for the log calls made while it lives.
class scoped_request_fields {
public:
  explicit scoped_request_fields(const log_request_fields& fields)
      : previous_(detail::request_fields) {
    detail::request_fields = &fields;
  }
  ~scoped_request_fields() { detail::request_fields = previous_; }
  scoped_request_fields(const scoped_request_fields&) = delete;
  scoped_request_fields& operator=(const scoped_request_fields&) = delete;

private:
  const log_request_fields* previous_;
};

} // namespace playcount
