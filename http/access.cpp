#include "http/access.hpp"

#include "core/constant_time.hpp"
#include "http/routes.hpp"
#include "http/wire.hpp"

namespace playcount::http {

std::optional<std::string_view> bearer_token(std::string_view value) noexcept {
  constexpr std::string_view scheme = "Bearer";
  if (value.size() <= scheme.size() ||
      !equals_ignoring_case(value.substr(0, scheme.size()), scheme) ||
      (value[scheme.size()] != ' ' && value[scheme.size()] != '\t'))
    return std::nullopt;
  value.remove_prefix(scheme.size());
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
    value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
    value.remove_suffix(1);
  if (value.empty())
    return std::nullopt;
  return value;
}

std::optional<api_error> check_access(const access_tokens& tokens,
                                      std::string_view path,
                                      const std::string* authorization) {
  const route_match route = match_route("GET", path);
  // Health and readiness (probes carry no token), and the pages: they hold
  // no data, and their scripts send the token (asked of the user) with
  // every request for data.
  if (route.kind != route_match::no_route &&
      (route.target == endpoint::health || route.target == endpoint::ready ||
       route.target == endpoint::page || route.target == endpoint::job_view))
    return std::nullopt;
  // /admin/<anything> is the admin's, whether or not it exists; empty
  // segments are ignored, as the route table ignores them.
  const size_t first = path.find_first_not_of('/');
  const std::string_view segment =
      first == std::string_view::npos
          ? std::string_view{}
          : path.substr(first, path.find('/', first) - first);
  const bool admin_prefix = segment == "admin";
  const std::string& needed =
      admin_prefix && !tokens.admin.empty() ? tokens.admin : tokens.api;
  if (needed.empty())
    return std::nullopt;
  const std::string realm = admin_prefix ? "playcount-admin" : "playcount";
  if (authorization == nullptr)
    return api_error{api_errc::unauthorized,
                     "this endpoint needs Authorization: Bearer <token>",
                     0,
                     {},
                     "Bearer realm=\"" + realm + "\""};
  const auto token = bearer_token(*authorization);
  // Both comparisons always run: the time says nothing of which matched.
  const bool as_needed = token && constant_time_equal(*token, needed);
  const bool as_admin = token && !tokens.admin.empty() &&
                        constant_time_equal(*token, tokens.admin);
  if (as_needed || as_admin)
    return std::nullopt;
  return api_error{api_errc::unauthorized,
                   token ? "the bearer token is not valid"
                         : "Authorization must be Bearer <token>",
                   0,
                   {},
                   "Bearer realm=\"" + realm + "\", error=\"invalid_token\""};
}

} // namespace playcount::http
