#pragma once

// Which endpoint a method and path name (docs/CONTRACT.md §2). Pure, so that
// the table can be tested row by row.
//
// What holds:
// - Paths match with or without their trailing slash, as the original
//   (Django) service's did; empty segments ("//") are ignored.
// - A job id is matched only as a whole segment and is checked by the
//   handler with is_job_id: anything else in the id position is "not
//   found", never a file name.
// - HEAD goes wherever GET goes (RFC 9110 §9.3.2).
// - A song's name is one segment, percent-encoded ('/' as %2F): a raw
//   slash makes another segment and no route.

#include <cstdint>
#include <string>
#include <string_view>

namespace playcount::http {

enum class endpoint : uint8_t {
  upload,      ///< POST or PUT /jobs/count/ and /jobs/count/<file name>
  job_result,  ///< GET /jobs/<id>/result/
  job_summary, ///< GET /jobs/<id>/summary: the result's summary.json
  job_songs,   ///< GET /jobs/<id>/songs?prefix=&limit=: songs by prefix
  job_song,    ///< GET /jobs/<id>/songs/<name>: one song's series
  job_view,    ///< GET /jobs/<id>/view: the page, opened on that job
  job,         ///< GET, DELETE /jobs/<id>/
  jobs,        ///< GET /jobs/
  stats,       ///< GET /admin/stats
  health,      ///< GET /healthz: liveness
  ready,       ///< GET /readyz: readiness (takes jobs)
  version,     ///< GET /version
  page,        ///< GET /, /admin, /web/<file>: the web pages (http/web.hpp);
               ///< /openapi.json: the API's description (web/openapi.json)
  metrics,     ///< GET /metrics: Prometheus text (http/metrics.hpp)
};

struct route_match {
  enum kind_type : uint8_t { found, no_route, bad_method };
  kind_type kind = no_route;
  endpoint target = endpoint::health;
  std::string id; ///< job_*, job: the id segment as given;
                  ///< page: the file name in web/; upload: the file
                  ///< name segment as given (percent-encoded), or empty
  /// job_song: the name segment as given (percent-encoded).
  std::string name;
  std::string allow; ///< bad_method: the methods the path takes
  /// found, bad_method: the route as written in the table, with its
  /// variable segment named ("/jobs/{id}/result/"): a bounded label.
  std::string_view pattern;
};

[[nodiscard]] route_match match_route(std::string_view method,
                                      std::string_view path);

} // namespace playcount::http
