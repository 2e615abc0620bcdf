#pragma once

// The HTTP statuses playcount answers with, by name. Which error and which
// job state gets which one is decided in one place: status_of in api.hpp.
//
// No 408 here: a request that does not arrive in time is cut off by
// Pistache's own idle check (TransportImpl::checkIdlePeers), which writes a
// bare `408 Request Timeout` itself; nothing of ours answers it. No 100
// either: `100 Continue` is an interim line (upload_session.cpp), not a reply.

#include <cstdint>
#include <iosfwd>
#include <string>

namespace playcount::http {

enum class http_status : uint16_t {
  ok = 200,
  accepted = 202,
  partial_content = 206,
  not_modified = 304,
  bad_request = 400,
  unauthorized = 401,
  not_found = 404,
  method_not_allowed = 405,
  gone = 410,
  length_required = 411,
  payload_too_large = 413,
  unsupported_media_type = 415,
  range_not_satisfiable = 416,
  unprocessable_entity = 422,
  header_fields_too_large = 431,
  internal_server_error = 500,
  not_implemented = 501,
  service_unavailable = 503,
  http_version_not_supported = 505,
};

/// The number on the wire (202 for accepted).
[[nodiscard]] constexpr int code(http_status status) noexcept {
  return static_cast<int>(status);
}

/// The reason phrase of a status ("Accepted" for 202).
[[nodiscard]] const char* reason_phrase(http_status status) noexcept;

/// "HTTP/1.1 202 Accepted\r\n"
[[nodiscard]] std::string status_line(http_status status);

/// The number, for test output and log lines.
std::ostream& operator<<(std::ostream& out, http_status status);

} // namespace playcount::http
