#pragma once

// Pistache 0.0.5 declares Http::Handler::onInput private, so a handler
// that overrides it (to look at a request's head before Pistache buffers
// its body) cannot call the original. pistache_access.cpp, compiled with
// -fno-access-control, makes that one call, non-virtually. Access control
// changes neither layout nor calling convention, so this is the same call
// Pistache's own transport makes.

#include <pistache/http.h>
#include <pistache/peer.h>

#include <cstddef>
#include <memory>

namespace playcount::http {

/// Runs Pistache's own Http::Handler::onInput on `handler`.
void pistache_on_input(Pistache::Http::Handler& handler, const char* data,
                       size_t size,
                       const std::shared_ptr<Pistache::Tcp::Peer>& peer);

} // namespace playcount::http
