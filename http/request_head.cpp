#include "http/request_head.hpp"

#include "core/input_error.hpp"

namespace playcount::http {

bool pistache_knows(std::string_view method) {
  for (const char* m : {"OPTIONS", "GET", "POST", "HEAD", "PUT", "PATCH",
                        "DELETE", "TRACE", "CONNECT"})
    if (method == m)
      return true;
  return false;
}

std::string printable(std::string_view text) {
  text = text.substr(0, text.find("\r\n"));
  return escape_value(text, 60) + (text.size() > 60 ? "..." : "");
}

api_error malformed_head(std::string_view text) {
  const std::string_view line = text.substr(0, text.find("\r\n"));
  const size_t last = line.rfind(' ');
  if (last != std::string_view::npos &&
      line.substr(last + 1).rfind("HTTP/", 0) == 0 &&
      line.substr(last + 1).rfind("HTTP/1.", 0) != 0)
    return {api_errc::http_version, "this server speaks HTTP/1.1, not " +
                                        printable(line.substr(last + 1))};
  if (line.find(' ') == std::string_view::npos || line.find(' ') == last ||
      line.substr(last + 1).rfind("HTTP/1.", 0) != 0)
    return {api_errc::bad_request,
            "not an HTTP/1.1 request line: \"" + printable(line) + "\""};
  return {api_errc::bad_request, "a malformed request head (request line \"" +
                                     printable(line) + "\")"};
}

std::variant<std::optional<uint64_t>, api_error>
declared_length(const request_head& head) {
  std::optional<uint64_t> length;
  for (const auto& [name, value] : head.headers) {
    if (!equals_ignoring_case(name, "Content-Length"))
      continue;
    std::optional<uint64_t> v = parse_content_length(value);
    if (!v && !value.empty() &&
        value.find_first_not_of("0123456789") == std::string::npos)
      v = UINT64_MAX; // 20 digits or more: over every limit
    if (!v)
      return api_error{api_errc::bad_request, "a malformed Content-Length: \"" +
                                                  printable(value) + "\""};
    if (length && *length != *v)
      return api_error{api_errc::bad_request,
                       "two different Content-Length headers"};
    length = v;
  }
  if (length && head.header("Transfer-Encoding") != nullptr)
    return api_error{api_errc::bad_request,
                     "both Content-Length and Transfer-Encoding"};
  // Two headers are one list ("chunked, gzip"), which only the first would
  // be judged by: refused, as a proxy in front may read the body otherwise.
  size_t codings = 0;
  for (const auto& [name, value] : head.headers)
    if (equals_ignoring_case(name, "Transfer-Encoding") && ++codings == 2)
      return api_error{api_errc::bad_request,
                       "two Transfer-Encoding headers: send one, chunked"};
  return length;
}

namespace {

// The media type of a Content-Type, parameters and spaces aside.
std::string_view media_type(std::string_view content_type) {
  std::string_view trimmed = content_type.substr(0, content_type.find(';'));
  while (!trimmed.empty() && trimmed.back() == ' ')
    trimmed.remove_suffix(1);
  return trimmed;
}

} // namespace

bool is_csv_type(std::string_view content_type) {
  const std::string_view media = media_type(content_type);
  return equals_ignoring_case(media, "text/csv") ||
         equals_ignoring_case(media, "application/csv");
}

bool is_compressed_type(std::string_view content_type) {
  const std::string_view media = media_type(content_type);
  return equals_ignoring_case(media, "application/gzip") ||
         equals_ignoring_case(media, "application/x-gzip") ||
         equals_ignoring_case(media, "application/zstd");
}

} // namespace playcount::http
