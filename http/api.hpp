#pragma once

// What the HTTP API answers (docs/CONTRACT.md §2), as plain values: no
// Pistache, no sockets, so every status and body can be tested on its own. The
// server writes a `reply` either through Pistache's ResponseWriter or, on the
// streaming upload path, straight to the socket.
//
// `status_of` is the one place where errors and job states become HTTP
// statuses (docs/http-api.md has the table).

#include "actors/messages.hpp"
#include "core/failure.hpp"
#include "http/status.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace boost::json {
class value;
} // namespace boost::json

namespace playcount::http {

/// One answer, before it is written.
struct reply {
  http_status status = http_status::ok;
  std::string content_type = "application/json";
  std::string body;
  /// Extra headers (Retry-After, Allow, Content-Disposition).
  std::vector<std::pair<std::string, std::string>> headers;
  /// When not empty: the body is this file, sent with sendfile, by the
  /// book (http/download.hpp: Range, ETag, Last-Modified, HEAD).
  std::string file;
  /// A file reply's ETag starts with this (the job id).
  std::string file_tag;
  /// When `file` is the gzip variant of another file: that file, whose
  /// size and mtime make the ETag and Last-Modified (empty: `file`'s own).
  std::string file_origin;
  /// The answer to HEAD: the head as for GET (Content-Length included),
  /// no body.
  bool head_only = false;
};

enum class api_errc : uint8_t {
  file_required,        ///< 400 {"jobId": null, "message": "file is required."}
  bad_request,          ///< 400: a malformed request or option
  bad_multipart,        ///< 400: a multipart body that does not parse
  job_not_found,        ///< 404 {"message": "Job not found."}
  no_route,             ///< 404: no such endpoint
  unauthorized,         ///< 401 with WWW-Authenticate: Bearer (see access.hpp)
  method_not_allowed,   ///< 405 with Allow
  length_required,      ///< 411: an upload with neither length nor chunks
  too_large,            ///< 413: over --max-upload (or, decoded, over
                        ///< --max-input-size)
  bad_encoding,         ///< 400: a compressed upload that is corrupt or cut
  unsupported_encoding, ///< 415: a Content-Encoding other than gzip, zstd
  header_too_large,     ///< 431
  not_implemented,      ///< 501: a Transfer-Encoding other than chunked, an
                        ///< unknown method
  http_version,         ///< 505: not HTTP/1.0 or HTTP/1.1
  queue_full,           ///< 503 with Retry-After
  unavailable,          ///< 503: the registry did not answer in time
  storage,              ///< 500: the upload could not be stored
  internal,             ///< 500
};

struct api_error {
  api_error() = default;
  api_error(api_errc code_in, std::string message_in = {},
            uint32_t retry_after_in = 0, std::string allow_in = {},
            std::string challenge_in = {})
      : code(code_in)
      , message(std::move(message_in))
      , retry_after(retry_after_in)
      , allow(std::move(allow_in))
      , challenge(std::move(challenge_in)) {}

  api_errc code = api_errc::internal;
  std::string message;
  uint32_t retry_after = 0; ///< queue_full: seconds
  std::string allow;        ///< method_not_allowed: the methods that are
  /// unauthorized: the WWW-Authenticate value (empty: `Bearer`).
  std::string challenge;
};

/// An upload that could not be stored because of `err` (errno): the
/// client is told what went wrong ("no space left on device while saving
/// the upload"), never where; `what` (a path and an action, e.g. "cannot
/// write /srv/data/jobs/<id>/input.csv") goes to the server's log only.
[[nodiscard]] api_error storage_error(int err, const std::string& what);

/// The same for a failure: its errno for the client, its text for the log.
[[nodiscard]] api_error storage_error(const failure& why);

/// The HTTP status of an error.
[[nodiscard]] http_status status_of(api_errc code) noexcept;

/// The HTTP status of `GET /jobs/<id>/result/` for a job in `state`: 200
/// finished, 202 queued or started, 422 failed, 410 canceled.
[[nodiscard]] http_status status_of(job_state state) noexcept;

/// A reply of `status` whose body is `body` as JSON text.
[[nodiscard]] reply json_reply(http_status status,
                               const boost::json::value& body);

/// The reply for an error: its status, a JSON body {"message": ...} (with
/// "jobId": null for the upload's own errors), and its headers.
[[nodiscard]] reply to_reply(const api_error& error);

/// 202 {"jobId": id, "message": "file is being processed..."}
[[nodiscard]] reply accepted_reply(const std::string& id);

/// `GET /jobs/<id>/result/`: the file when finished (200, attachment
/// named after the upload: file_names.hpp; Vary: Accept-Encoding),
/// `Job: queued` / `Job: started ...` (202), `Job: failed: line N: ...`
/// (422), `Job: canceled` (410), or `Job not found.` (404), as text.
[[nodiscard]] reply result_reply(const job_lookup& lookup,
                                 const std::string& result_path);

/// A finished result's reply turned into its gzip variant at `gz_path`
/// (made from the result: result_gzip.hpp).
void use_gzip_variant(reply& r, const std::string& gz_path);

/// `GET /jobs/<id>/`: the job as JSON, or 404.
[[nodiscard]] reply job_reply(const job_lookup& lookup);

/// `DELETE /jobs/<id>/`
[[nodiscard]] reply deletion_reply(const job_deletion& deletion);

/// A request's query parameters, names and values as they came (not yet
/// percent-decoded).
using query_params = std::vector<std::pair<std::string, std::string>>;

/// The parameters `GET /jobs/` takes (state, q, limit, before) as a
/// registry query, or the 400 that names what is wrong (an unknown
/// parameter, a bad value).
[[nodiscard]] std::variant<job_query, api_error>
parse_job_query(const query_params& params);

/// `GET /jobs/<id>/songs`'s parameters.
struct song_query {
  std::string prefix; ///< decoded ('+' is a space, as in a form)
  size_t limit = 20;  ///< 1..1000
};

/// The parameters of `GET /jobs/<id>/songs` (prefix, limit), or the 400
/// that names what is wrong (an unknown parameter, a bad value).
[[nodiscard]] std::variant<song_query, api_error>
parse_song_query(const query_params& params);

/// A song's name from its path segment, percent-decoded strictly ('+' is
/// itself; "%2F" is '/'), or the 400 for a malformed escape.
[[nodiscard]] std::variant<std::string, api_error>
decode_song_name(std::string_view segment);

/// The cursor (`before=`) for the jobs after `r` in `GET /jobs/`'s order:
/// opaque to clients, stable while jobs come and go.
[[nodiscard]] std::string job_cursor(const job_record& r);

/// `GET /jobs/`: {"count": jobs on this page, "total": jobs matching the
/// filter, "next": the cursor of the next page or null, "jobs": [...]}
[[nodiscard]] reply jobs_reply(const job_list& list);

/// `GET /admin/stats`
[[nodiscard]] reply stats_reply(const registry_stats& stats);

/// `GET /healthz`: 200 `ok`; while the server shuts down, 503 with
/// Retry-After, so that a load balancer sends new clients elsewhere.
[[nodiscard]] reply health_reply(bool shutting_down = false);

/// `GET /readyz`: 200 `ready` once the server takes jobs (its registry
/// has loaded the data directory); 503 with Retry-After before (`ready`
/// false) and while it shuts down (`draining`).
[[nodiscard]] reply ready_reply(bool ready, bool draining);

/// `GET /version`: the version `playcount --version` prints and how the
/// binary was built (http/build_info.hpp).
[[nodiscard]] reply version_reply();

/// The 503 (with Retry-After) for an upload while the server shuts down.
[[nodiscard]] api_error shutting_down_error();

/// The JSON of one job (the keys of docs/CONTRACT.md §2 plus a few more).
[[nodiscard]] std::string job_json(const job_record& record);

/// Milliseconds since the epoch as ISO 8601 UTC, "2024-05-01T12:00:00.123Z".
[[nodiscard]] std::string iso_time(int64_t ms);

} // namespace playcount::http
