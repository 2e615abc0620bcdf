#include "http/web.hpp"

#include <algorithm>

namespace playcount::http {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
}

} // namespace

const char* content_type_of(std::string_view name) noexcept {
  if (ends_with(name, ".html"))
    return "text/html; charset=utf-8";
  if (ends_with(name, ".js"))
    return "text/javascript; charset=utf-8";
  if (ends_with(name, ".css"))
    return "text/css; charset=utf-8";
  if (ends_with(name, ".json"))
    return "application/json";
  if (ends_with(name, ".svg"))
    return "image/svg+xml";
  if (ends_with(name, ".png"))
    return "image/png";
  return "application/octet-stream";
}

reply web_reply(std::string_view name) {
  const auto& files = embedded_files();
  const auto f =
      std::find_if(files.begin(), files.end(),
                   [&](const embedded_file& e) { return name == e.name; });
  if (f == files.end())
    return to_reply({api_errc::no_route, "no such page: " + std::string(name)});
  reply r;
  r.status = http_status::ok;
  r.content_type = content_type_of(name);
  r.body.assign(reinterpret_cast<const char*>(f->data), f->size);
  // The pages load only their own scripts and styles and talk only to this
  // server: an injected script or a file name in markup cannot run.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; "
                         "object-src 'none'; base-uri 'none'; "
                         "frame-ancestors 'none'; form-action 'self'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  // Small, and a new build may change them: always asked again.
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

} // namespace playcount::http
