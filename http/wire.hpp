#pragma once

// HTTP/1.1 request framing for the streaming upload path: the request head
// (request line and headers) and the body, by Content-Length or chunked.
// Pistache buffers a whole request in memory before any handler sees it;
// the upload path reads the socket itself so that a multi-GB upload goes
// to disk as it arrives (see http/server.cpp). Pure code, no sockets.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace playcount::http {

/// A tchar of RFC 9110 §5.6.2: what method and header names (and multipart
/// parameter names) are made of. Inline: the multipart parser, a library of
/// its own, uses it too.
[[nodiscard]] inline bool is_token_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

/// The request line and the headers.
struct request_head {
  std::string method;
  /// Path and query (origin-form). An absolute-form target
  /// (`http://host:port/jobs/?x`, RFC 9112 §3.2.2) is taken as the path and
  /// query it names; `*` (asterisk-form, OPTIONS only) stays `*`.
  std::string target;
  std::string path;           ///< the target before '?'
  bool absolute_form = false; ///< the request line named a whole URI
  std::string query;          ///< the target after '?', without it
  std::string version;
  std::vector<std::pair<std::string, std::string>> headers;

  /// The first header with this name (case-insensitive), or nullptr.
  [[nodiscard]] const std::string* header(std::string_view name) const;
};

/// Parses `text`, the bytes of a request up to (not including) the empty
/// line that ends its head. False when it is not an HTTP/1.x request head.
[[nodiscard]] bool parse_request_head(std::string_view text, request_head& out);

/// The value of `name` in a query string such as "a=1&on_bad_rows=skip"
/// (no percent-decoding: the values the API takes are plain words).
[[nodiscard]] std::optional<std::string> query_param(std::string_view query,
                                                     std::string_view name);

/// A Content-Length value: decimal digits only, at most 19 of them;
/// nullopt for anything else.
[[nodiscard]] std::optional<uint64_t>
parse_content_length(std::string_view text);

/// Whether two header names or tokens are equal ignoring ASCII case.
/// Inline, as is_token_char.
[[nodiscard]] inline bool equals_ignoring_case(std::string_view a,
                                               std::string_view b) noexcept {
  const auto lower = [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

/// `s` without the spaces and tabs around it (optional whitespace, RFC 9110
/// §5.6.3).
[[nodiscard]] inline std::string_view trim_blanks(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// The body of one request, decoded as it arrives: either a fixed length
/// (Content-Length) or chunked transfer coding (RFC 9112 §7.1, extensions
/// and trailers skipped). Body bytes go to a sink, piece by piece; nothing
/// is buffered but a chunk-size line.
class body_decoder {
public:
  enum class status : uint8_t { more, done, error };

  /// Receives body bytes; returns false to stop (a write failed).
  using sink = std::function<bool(std::string_view)>;

  static body_decoder fixed(uint64_t length);
  static body_decoder chunked();

  /// Feeds bytes from the socket. Bytes after the end of the body are
  /// ignored (one request per connection on this path).
  status feed(std::string_view in, const sink& out);

  [[nodiscard]] uint64_t received() const noexcept { return received_; }
  /// The body's length as announced (Content-Length); 0 when chunked.
  [[nodiscard]] uint64_t announced() const noexcept { return announced_; }
  [[nodiscard]] bool is_done() const noexcept { return state_ == state::done; }
  /// Why feed returned error (a malformed chunk, or the sink refused).
  [[nodiscard]] const std::string& error() const noexcept { return error_; }

private:
  enum class state : uint8_t {
    fixed_body,
    chunk_size,
    chunk_data,
    chunk_data_end,
    trailer,
    done,
    failed
  };
  state state_ = state::done;
  uint64_t left_ = 0;     // bytes of the fixed body or current chunk
  std::string line_;      // a chunk-size or trailer line being read
  uint64_t received_ = 0; // body bytes passed to the sink
  uint64_t announced_ = 0;
  std::string error_;
};

} // namespace playcount::http
