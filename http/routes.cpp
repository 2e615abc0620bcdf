#include "http/routes.hpp"

#include <vector>

namespace playcount::http {

namespace {

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    const std::string_view seg = path.substr(0, slash);
    if (!seg.empty())
      out.push_back(seg);
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

route_match match(endpoint target, std::string_view pattern,
                  std::string_view method, std::string_view allowed,
                  std::string_view id = {}) {
  route_match out;
  out.target = target;
  out.pattern = pattern;
  out.id = std::string(id);
  // `allowed` is a comma-separated list such as "GET, DELETE".
  for (std::string_view rest = allowed; !rest.empty();) {
    const size_t comma = rest.find(',');
    std::string_view m = rest.substr(0, comma);
    while (!m.empty() && m.front() == ' ')
      m.remove_prefix(1);
    if (m == method || (m == "GET" && method == "HEAD")) {
      out.kind = route_match::found;
      return out;
    }
    if (comma == std::string_view::npos)
      break;
    rest.remove_prefix(comma + 1);
  }
  out.kind = route_match::bad_method;
  out.allow = std::string(allowed);
  return out;
}

} // namespace

route_match match_route(std::string_view method, std::string_view path) {
  const auto s = segments(path);
  if (s.size() == 2 && s[0] == "jobs" && s[1] == "count")
    return match(endpoint::upload, "/jobs/count/", method, "POST, PUT");
  // What `curl -T plays.csv .../jobs/count/` sends (curl appends the name).
  if (s.size() == 3 && s[0] == "jobs" && s[1] == "count")
    return match(endpoint::upload, "/jobs/count/{name}", method, "POST, PUT",
                 s[2]);
  if (s.size() == 3 && s[0] == "jobs" && s[2] == "result")
    return match(endpoint::job_result, "/jobs/{id}/result/", method, "GET",
                 s[1]);
  if (s.size() == 3 && s[0] == "jobs" && s[2] == "summary")
    return match(endpoint::job_summary, "/jobs/{id}/summary", method, "GET",
                 s[1]);
  if (s.size() == 3 && s[0] == "jobs" && s[2] == "songs")
    return match(endpoint::job_songs, "/jobs/{id}/songs", method, "GET", s[1]);
  if (s.size() == 4 && s[0] == "jobs" && s[2] == "songs") {
    route_match m = match(endpoint::job_song, "/jobs/{id}/songs/{name}", method,
                          "GET", s[1]);
    m.name = std::string(s[3]);
    return m;
  }
  if (s.size() == 3 && s[0] == "jobs" && s[2] == "view")
    return match(endpoint::job_view, "/jobs/{id}/view", method, "GET", s[1]);
  if (s.size() == 2 && s[0] == "jobs")
    return match(endpoint::job, "/jobs/{id}/", method, "GET, DELETE", s[1]);
  if (s.size() == 1 && s[0] == "jobs")
    return match(endpoint::jobs, "/jobs/", method, "GET");
  if (s.size() == 2 && s[0] == "admin" && s[1] == "stats")
    return match(endpoint::stats, "/admin/stats", method, "GET");
  if (s.size() == 1 && s[0] == "healthz")
    return match(endpoint::health, "/healthz", method, "GET");
  if (s.size() == 1 && s[0] == "readyz")
    return match(endpoint::ready, "/readyz", method, "GET");
  if (s.size() == 1 && s[0] == "version")
    return match(endpoint::version, "/version", method, "GET");
  if (s.size() == 1 && s[0] == "openapi.json")
    return match(endpoint::page, "/openapi.json", method, "GET",
                 "openapi.json");
  if (s.size() == 1 && s[0] == "metrics")
    return match(endpoint::metrics, "/metrics", method, "GET");
  if (s.empty())
    return match(endpoint::page, "/", method, "GET", "index.html");
  if (s.size() == 1 && s[0] == "admin")
    return match(endpoint::page, "/admin", method, "GET", "admin.html");
  if (s.size() == 2 && s[0] == "web")
    return match(endpoint::page, "/web/{file}", method, "GET", s[1]);
  return {};
}

} // namespace playcount::http
