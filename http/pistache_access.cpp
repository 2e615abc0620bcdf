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

} // namespace playcount::http
