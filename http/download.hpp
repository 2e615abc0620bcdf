#pragma once

// `GET /jobs/<id>/result/` by the book (RFC 9110): which status, headers
// and bytes a finished result is answered with, given what the client
// asked (Range, If-None-Match, If-Modified-Since, If-Range, HEAD) and the
// file's identity. Pure: no sockets, no files; hand_over (handlers.hpp)
// stats the file and sends what this decides.
//
// What holds:
// - A result is immutable once finished, so the job id, its size and its
//   mtime in nanoseconds identify its bytes: a strong ETag. The gzip
//   variant (result.csv.gz, made once) has the same tag with "-gz".
// - One range at most: several ranges, or a Range that does not parse,
//   get the whole body with 200, as RFC 9110 §14.2 allows.
// - Range is for GET only; HEAD answers as a GET without it would.

#include "http/status.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace playcount::http {

/// A `Range` header against a representation of `size` bytes.
struct range_request {
  enum kind_type : uint8_t {
    whole,        ///< no Range, several ranges, or one that does not parse
    part,         ///< one satisfiable range: [first, first + length)
    unsatisfiable ///< 416
  };
  kind_type kind = whole;
  uint64_t first = 0;
  uint64_t length = 0;
};

[[nodiscard]] range_request parse_range(std::string_view header, uint64_t size);

/// The file a download sends, as fstat saw it.
struct file_identity {
  uint64_t size = 0;
  int64_t mtime_ns = 0; ///< nanoseconds since the epoch
};

/// A strong entity tag, quotes included: "<id>-<size hex>-<mtime_ns hex>",
/// plus "-gz" for the gzip variant.
[[nodiscard]] std::string strong_etag(std::string_view id,
                                      const file_identity& file, bool gzip);

/// Seconds since the epoch as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37
/// GMT").
[[nodiscard]] std::string http_date(int64_t seconds);

/// An HTTP date back to seconds: IMF-fixdate, and the obsolete RFC 850 and
/// asctime forms a recipient must take (RFC 9110 §5.6.7); nullopt else.
[[nodiscard]] std::optional<int64_t> parse_http_date(std::string_view text);

/// Whether an If-None-Match value (a list of tags, or "*") matches `etag`
/// by the weak comparison (W/ prefixes ignored), as §13.1.2 says.
[[nodiscard]] bool none_match_hits(std::string_view if_none_match,
                                   std::string_view etag);

/// Whether `Accept-Encoding` takes gzip: "gzip" or "x-gzip" or "*" with a
/// q-value above 0 ("gzip;q=0" refuses it; an explicit gzip entry wins
/// over "*").
[[nodiscard]] bool accepts_gzip(std::string_view accept_encoding);

/// What the client asked of a download.
struct download_request {
  bool head_only = false;
  std::optional<std::string> range;
  std::optional<std::string> if_none_match;
  std::optional<std::string> if_modified_since;
  std::optional<std::string> if_range;
};

/// How it is answered.
struct download_plan {
  http_status status = http_status::ok;
  /// ETag, Last-Modified, Accept-Ranges, Content-Length, Content-Range:
  /// the headers that depend on the request and the file.
  std::vector<std::pair<std::string, std::string>> headers;
  uint64_t offset = 0; ///< the first byte of the file to send
  uint64_t length = 0; ///< bytes of the file to send (0: no body)
};

/// The answer to `req` for a file of identity `file` whose validators are
/// `etag` and `last_modified` (seconds).
[[nodiscard]] download_plan plan_download(const download_request& req,
                                          const file_identity& file,
                                          const std::string& etag,
                                          int64_t last_modified);

} // namespace playcount::http
