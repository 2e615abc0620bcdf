#pragma once

// The server's side of the cluster: the gate that worker nodes register at.

#include <caf/fwd.hpp>

#include <cstdint>
#include <string>

namespace playcount {

/// Spawns the gate: published on the cluster port instead of the coordinator,
/// so that a peer that connects can do nothing but register. A node with the
/// right token (compared in constant time; empty if the server has none) is
/// announced to the coordinator and gets the coordinator's handle and its
/// node id; any other is refused, logged, and never given work.
caf::actor spawn_gate(caf::actor_system& system, caf::actor coordinator,
                      std::string token);

/// Publishes `gate` on `host:port` (host "0.0.0.0" for every interface).
/// Returns the port, or sets `error`: e.g. the port is taken.
[[nodiscard]] uint16_t open_cluster_port(caf::actor_system& system,
                                         const caf::actor& gate,
                                         const std::string& host, uint16_t port,
                                         std::string& error);

} // namespace playcount
