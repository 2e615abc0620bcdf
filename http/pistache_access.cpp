// Compiled with -fno-access-control (see pistache_access.hpp): nothing else
// belongs in this file.

#include "http/pistache_access.hpp"

namespace playcount::http {

void pistache_on_input(Pistache::Http::Handler& handler, const char* data,
                       size_t size,
                       const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
  // Qualified: Pistache's implementation, not the override that calls us.
  handler.Pistache::Http::Handler::onInput(data, size, peer);
}

int pistache_take_listener(Pistache::Http::Endpoint& endpoint) {
  auto& listener = endpoint.listener;
  listener.poller.removeFd(Pistache::Fd(listener.listen_fd));
  return listener.listen_fd;
}

void pistache_dispatch(Pistache::Http::Endpoint& endpoint,
                       const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
  endpoint.listener.dispatchPeer(peer);
}

} // namespace playcount::http
