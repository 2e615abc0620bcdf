#pragma once

// Who may call what (docs/security.md): bearer tokens, checked before a
// request's body is read. Pure code, no sockets.
//
// What holds:
// - With no token configured, everything is open (the server listens on
//   loopback by default).
// - `/healthz` and `/readyz` are always open, so that a load balancer can
//   probe them.
// - `/admin/*` takes the admin token when one is set, else the API token.
//   Every other path (unknown ones too, so that they say nothing of what
//   exists) takes the API token; the admin token is accepted there as well.
// - Tokens are compared in time that depends on the configured token's
//   length only, never on how much of it a guess got right.

#include "http/api.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace playcount::http {

struct access_tokens {
  std::string api;   ///< empty: the API is open
  std::string admin; ///< empty: /admin/* takes the API token
};

/// The token of an `Authorization: Bearer <token>` value (the scheme in any
/// case); nullopt for anything else.
[[nodiscard]] std::optional<std::string_view>
bearer_token(std::string_view value) noexcept;

/// nullopt when a request for `path` with this Authorization header value
/// (nullptr: none) may go on; else the 401 to answer.
[[nodiscard]] std::optional<api_error>
check_access(const access_tokens& tokens, std::string_view path,
             const std::string* authorization);

} // namespace playcount::http
