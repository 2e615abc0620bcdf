#pragma once

// The server's side of the cluster: the gate that worker nodes register at.

#include <caf/fwd.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace playcount {

class byte_feed;

/// Spawns the gate: published on the cluster port instead of the coordinator,
/// so that a peer that connects can do nothing but register. A node with the
/// right token (compared in constant time; empty if the server has none) is
/// announced to the coordinator and gets the coordinator's handle, its node
/// id, and the port and secret of `feeds` for its workers' byte feeds; any
/// other is refused, logged, and never given work.
caf::actor spawn_gate(caf::actor_system& system, caf::actor coordinator,
                      std::string token, std::shared_ptr<byte_feed> feeds);

/// Publishes `gate` on `host:port` (host "0.0.0.0" for every interface).
/// Returns the port, or sets `error`: e.g. the port is taken.
[[nodiscard]] uint16_t open_cluster_port(caf::actor_system& system,
                                         const caf::actor& gate,
                                         const std::string& host, uint16_t port,
                                         std::string& error);

} // namespace playcount
