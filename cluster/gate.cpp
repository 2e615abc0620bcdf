#include "cluster/gate.hpp"

#include "actors/messages.hpp"
#include "cluster/byte_feed.hpp"
#include "cluster/cluster_port.hpp"

#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

namespace playcount {

namespace {

// A node's name as it may go into the log and the stats: what a peer sent,
// so printable ASCII only and not too long.
std::string printable_name(const std::string& name) {
  std::string out = name.substr(0, 64);
  for (char& c : out)
    if (c < 0x20 || c > 0x7e)
      c = '?';
  return out.empty() ? "unnamed" : out;
}

// Tells the coordinator of an admitted node and answers the node.
void admit(caf::event_based_actor* self, const caf::actor& coordinator,
           const std::shared_ptr<byte_feed>& feeds,
           caf::response_promise promise, node_record record,
           uint32_t workers) {
  self->request(coordinator, caf::infinite, node_up_atom::value, record)
      .then(
          [=](const std::string& id) mutable {
            spdlog::info("worker node {} joined: {} at {}, {} workers", id,
                         record.name, record.address, workers);
            promise.deliver(registration_reply{
                true, {}, coordinator, id, feeds->port(), feeds->admit(id)});
          },
          [=](const caf::error& e) mutable {
            promise.deliver(registration_reply{
                false,
                "the server could not add the node: " + to_string(e),
                {},
                {},
                0,
                {}});
          });
}

caf::behavior gate(caf::event_based_actor* self, const caf::actor& coordinator,
                   const std::shared_ptr<cluster_port>& port,
                   const std::shared_ptr<byte_feed>& feeds) {
  return {
      [=](register_atom, node_registration reg) {
        reg.name = printable_name(reg.name);
        const auto sender = self->current_sender();
        auto promise = self->make_response_promise();
        if (!sender) {
          promise.deliver(
              registration_reply{false, "anonymous", {}, {}, 0, {}});
          return promise;
        }
        // Every node here has proven the token at the cluster port.
        std::string address = port->address_of(reg.session);
        if (address.empty())
          address = "unknown address";
        admit(self, coordinator, feeds, promise,
              node_record{reg.name, address, caf::to_string(sender->node()),
                          caf::actor_cast<caf::actor>(sender)},
              reg.workers);
        return promise;
      },
  };
}

} // namespace

caf::actor spawn_gate(caf::actor_system& system, caf::actor coordinator,
                      std::shared_ptr<cluster_port> port,
                      std::shared_ptr<byte_feed> feeds) {
  return system.spawn(gate, std::move(coordinator), std::move(port),
                      std::move(feeds));
}

} // namespace playcount
