#pragma once

// The server's side of the cluster: the gate that worker nodes register at.

#include <caf/fwd.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace playcount {

class byte_feed;
class cluster_port;

/// Spawns the gate: published to each node that passed the cluster port's
/// handshake (cluster/cluster_port.hpp) instead of the coordinator, so that
/// a node can do nothing but register. A registered node is announced to
/// the coordinator and gets the coordinator's handle, its node id, and the
/// port and secret of `feeds` for its workers' byte feeds. `port` tells
/// the node's address by its handshake's session.
caf::actor spawn_gate(caf::actor_system& system, caf::actor coordinator,
                      std::shared_ptr<cluster_port> port,
                      std::shared_ptr<byte_feed> feeds);

} // namespace playcount
