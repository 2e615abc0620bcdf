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

// A node's workers' way to the coordinator: the worker's messages, and only
// those, passed on as the worker's own.
work_source_actor::behavior_type relay(work_source_actor::pointer self,
                                       const coordinator_actor& coordinator,
                                       const caf::actor& agent) {
  // Gone with the node's connection, or with the coordinator (the node's
  // workers and the node itself watch the relay for that).
  self->monitor(coordinator);
  self->monitor(agent);
  self->set_down_handler(
      [=](const caf::down_msg& msg) { self->quit(msg.reason); });
  return {
      [=](join_atom, worker_info& info) {
        return self->delegate(coordinator, join_atom::value, std::move(info));
      },
      [=](ask_work_atom) {
        return self->delegate(coordinator, ask_work_atom::value);
      },
      [=](read_done& done) {
        return self->delegate(coordinator, std::move(done));
      },
  };
}

// Tells the coordinator of an admitted node and answers the node.
void admit(gate_actor::pointer self, const coordinator_actor& coordinator,
           const std::shared_ptr<byte_feed>& feeds,
           caf::typed_response_promise<registration_reply> promise,
           node_record record, uint32_t workers) {
  self->request(coordinator, caf::infinite, node_up_atom::value, record)
      .then(
          [=](const std::string& id) mutable {
            spdlog::info("worker node {} joined: {} at {}, {} workers", id,
                         record.name, record.address, workers);
            auto work_source = self->spawn(relay, coordinator, record.agent);
            promise.deliver(registration_reply{
                true, {}, work_source, id, feeds->port(), feeds->admit(id)});
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

gate_actor::behavior_type gate(gate_actor::pointer self,
                               const coordinator_actor& coordinator,
                               const std::shared_ptr<cluster_port>& port,
                               const std::shared_ptr<byte_feed>& feeds) {
  return {
      [=](register_atom,
          node_registration reg) -> caf::result<registration_reply> {
        reg.name = printable_name(reg.name);
        const auto sender = self->current_sender();
        auto promise = self->make_response_promise<registration_reply>();
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

gate_actor spawn_gate(caf::actor_system& system, coordinator_actor coordinator,
                      std::shared_ptr<cluster_port> port,
                      std::shared_ptr<byte_feed> feeds) {
  return system.spawn(gate, std::move(coordinator), std::move(port),
                      std::move(feeds));
}

} // namespace playcount
