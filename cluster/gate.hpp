#pragma once

// The server's side of the cluster: the gate that worker nodes register at,
// and the relay each registered node's workers talk to.

#include "actors/coordinator.hpp"
#include "actors/messages.hpp"

#include <caf/typed_actor.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace playcount {

class byte_feed;
class cluster_port;

/// What a node may send the gate, and all it may:
///   register_atom, node_registration => registration_reply: accepted with
///       the node's id, the node's relay (a work_source_actor) and the port
///       and secret of the byte feeds; or refused with a reason
using gate_actor = caf::typed_actor<caf::replies_to<
    register_atom, node_registration>::with<registration_reply>>;

/// Spawns the gate: published to each node that passed the cluster port's
/// handshake (cluster/cluster_port.hpp) instead of the coordinator, so that
/// a node can do nothing but register. A registered node is announced to
/// the coordinator (node_up_atom) and gets a relay of its own: an actor
/// whose behaviour is work_source_actor's and nothing else, which passes
/// each message on to the coordinator as the worker's own (delegate: the
/// coordinator sees the worker as the sender and answers it directly). The
/// relay goes when the node's connection or the coordinator does. `port`
/// tells the node's address by its handshake's session; `feeds` the port and
/// secret of the byte feeds.
gate_actor spawn_gate(caf::actor_system& system, coordinator_actor coordinator,
                      std::shared_ptr<cluster_port> port,
                      std::shared_ptr<byte_feed> feeds);

} // namespace playcount
