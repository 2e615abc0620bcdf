#include "cluster/gate.hpp"

#include "actors/messages.hpp"
#include "cluster/byte_feed.hpp"
#include "cluster/no_delay.hpp"
#include "core/constant_time.hpp"

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
        disable_nagle_on_tcp_sockets(); // the node's connection is one
        spdlog::info("worker node {} joined: {} at {}, {} workers", id,
                     record.name, record.address, workers);
        promise.deliver(registration_reply{true, {}, coordinator, id,
                                           feeds->port(), feeds->admit(id)});
      },
      [=](const caf::error& e) mutable {
        promise.deliver(registration_reply{
          false, "the server could not add the node: " + to_string(e), {}, {},
          0, {}});
      });
}

caf::behavior gate(caf::event_based_actor* self, caf::actor coordinator,
                   std::string token, std::shared_ptr<byte_feed> feeds) {
  return {
    [=](register_atom, node_registration reg) {
      reg.name = printable_name(reg.name);
      const auto sender = self->current_sender();
      auto promise = self->make_response_promise();
      if (!sender) {
        promise.deliver(registration_reply{false, "anonymous", {}, {}, 0, {}});
        return promise;
      }
      const caf::node_id node = sender->node();
      const auto agent = caf::actor_cast<caf::actor>(sender);
      // The address the connection comes from, for the log and the stats.
      auto middleman = self->system().middleman().actor_handle();
      auto decide = [=](const std::string& address) mutable {
        if (!constant_time_equal(reg.token, token)) {
          spdlog::warn("refused worker node {} at {}: {} cluster token",
                       reg.name, address, reg.token.empty() ? "no" : "wrong");
          promise.deliver(registration_reply{
            false, "wrong or missing cluster token", {}, {}, 0, {}});
          return;
        }
        admit(self, coordinator, feeds, promise,
              node_record{reg.name, address, caf::to_string(node), agent},
              reg.workers);
      };
      self
        ->request(middleman, std::chrono::seconds(5), caf::get_atom::value,
                  node)
        .then(
          [=](const caf::node_id&, const std::string& host,
              uint16_t port) mutable {
            decide(host + ":" + std::to_string(port));
          },
          [=](const caf::error&) mutable { decide("unknown address"); });
      return promise;
    },
  };
}

} // namespace

caf::actor spawn_gate(caf::actor_system& system, caf::actor coordinator,
                      std::string token, std::shared_ptr<byte_feed> feeds) {
  return system.spawn(gate, std::move(coordinator), std::move(token),
                      std::move(feeds));
}

uint16_t open_cluster_port(caf::actor_system& system, const caf::actor& gate,
                           const std::string& host, uint16_t port,
                           std::string& error) {
  auto published =
    system.middleman().publish(gate, port, host.c_str(), /*reuse=*/true);
  if (!published) {
    error = system.render(published.error());
    return 0;
  }
  return *published;
}

} // namespace playcount
