#include "http/status.hpp"

#include <ostream>

namespace playcount::http {

const char* reason_phrase(http_status status) noexcept {
  switch (status) {
  case http_status::ok:
    return "OK";
  case http_status::accepted:
    return "Accepted";
  case http_status::partial_content:
    return "Partial Content";
  case http_status::not_modified:
    return "Not Modified";
  case http_status::bad_request:
    return "Bad Request";
  case http_status::unauthorized:
    return "Unauthorized";
  case http_status::not_found:
    return "Not Found";
  case http_status::method_not_allowed:
    return "Method Not Allowed";
  case http_status::gone:
    return "Gone";
  case http_status::length_required:
    return "Length Required";
  case http_status::payload_too_large:
    return "Payload Too Large";
  case http_status::unsupported_media_type:
    return "Unsupported Media Type";
  case http_status::range_not_satisfiable:
    return "Range Not Satisfiable";
  case http_status::unprocessable_entity:
    return "Unprocessable Entity";
  case http_status::header_fields_too_large:
    return "Request Header Fields Too Large";
  case http_status::internal_server_error:
    return "Internal Server Error";
  case http_status::not_implemented:
    return "Not Implemented";
  case http_status::service_unavailable:
    return "Service Unavailable";
  case http_status::http_version_not_supported:
    return "HTTP Version Not Supported";
  }
  return "Unknown";
}

std::string status_line(http_status status) {
  return "HTTP/1.1 " + std::to_string(code(status)) + " " +
         reason_phrase(status) + "\r\n";
}

std::ostream& operator<<(std::ostream& out, http_status status) {
  return out << code(status);
}

} // namespace playcount::http
