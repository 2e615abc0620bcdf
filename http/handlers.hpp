#pragma once

// The third job: every endpoint but the upload turns a request into a
// reply, at once or, when the job registry must answer, later on a CAF thread.

#include "http/api.hpp"
#include "http/connection.hpp"
#include "http/routes.hpp"

#include <pistache/peer.h>

#include <functional>
#include <optional>
#include <string>

namespace playcount::http {

struct server_context;

/// What a handler needs of a request (Pistache's Request stays behind).
struct request_facts {
  std::string method;
  std::string path;
  query_params query = {}; ///< the query's parameters, as they came
  // The headers a download heeds (http/download.hpp).
  std::optional<std::string> range = std::nullopt;
  std::optional<std::string> if_none_match = std::nullopt;
  std::optional<std::string> if_modified_since = std::nullopt;
  std::optional<std::string> if_range = std::nullopt;
  std::optional<std::string> accept_encoding = std::nullopt;
};

/// The 404 or 405 for a request `match_route` found no endpoint for (or one
/// that does not take its method).
[[nodiscard]] api_error route_refusal(const route_match& route,
                                      const std::string& method,
                                      const std::string& path);

/// The reply to `req` when it is known at once; otherwise nullopt, and
/// `later` is called exactly once with it, on a CAF thread, within the
/// registry timeout. Never waits.
[[nodiscard]] std::optional<reply> handle(server_context& ctx,
                                          const request_facts& req,
                                          std::function<void(reply)> later);

/// Gives a file reply to the download pump (download_pump.hpp), which
/// sends it on a duplicate of the socket, as `req` asks (the whole file, a
/// range, only the head, or 304/416: download.hpp); Pistache's side of the
/// connection only drops what the client sends after its request, and is
/// closed by Pistache (idle) or when the client closes. nullopt when the
/// pump took it; otherwise the reply to send instead. Holds `c.mutex`.
[[nodiscard]] std::optional<reply>
hand_over(server_context& ctx, const reply& r, connection& c,
          const std::shared_ptr<Pistache::Tcp::Peer>& peer,
          const request_facts& req);

} // namespace playcount::http
