#pragma once

// Pistache 0.0.5 keeps a few things private that the server must reach:
// - Http::Handler::onInput, so that a handler that overrides it (to look at
//   a request's head before Pistache buffers its body) can call the
//   original;
// - the listener's accept loop, which spins on EMFILE (its listening socket
//   is level-triggered and a failed accept only logs) and has no connection
//   limit: the server takes the listening socket out of Pistache's poller,
//   accepts itself (http/acceptor.hpp) and hands each connection to
//   Pistache's transports as Pistache's own acceptor would.
// pistache_access.cpp, compiled with -fno-access-control, makes these calls.
// Access control changes neither layout nor calling convention, so these are
// the same calls Pistache makes itself.

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>

#include <cstddef>
#include <memory>

namespace playcount::http {

/// Runs Pistache's own Http::Handler::onInput on `handler`.
void pistache_on_input(Pistache::Http::Handler& handler, const char* data,
                       size_t size,
                       const std::shared_ptr<Pistache::Tcp::Peer>& peer);

/// Takes the endpoint's listening socket out of Pistache's accept loop (after
/// serveThreaded) and returns it; the caller accepts on it from now on. The
/// socket stays Pistache's to close.
int pistache_take_listener(Pistache::Http::Endpoint& endpoint);

/// Hands an accepted connection to one of the endpoint's reactor threads, as
/// Pistache's acceptor does (the peer's fd picks the thread).
void pistache_dispatch(Pistache::Http::Endpoint& endpoint,
                       const std::shared_ptr<Pistache::Tcp::Peer>& peer);

} // namespace playcount::http
