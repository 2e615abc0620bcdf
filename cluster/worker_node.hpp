#pragma once

// The worker node's side of the cluster: `playcount worker --join`.

#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace playcount {

struct node_spill; // actors/worker.hpp

struct worker_node_config {
  std::string host; ///< the server's cluster address
  uint16_t port = 4242;
  unsigned workers = 1;
  std::string token;
  std::string name; ///< for the server's stats and log: the host name
  std::chrono::seconds max_backoff{30};
  /// The node's memory budget and spill directory (nullptr: never spills).
  std::shared_ptr<node_spill> spill;
};

/// Joins the server at host:port with `workers` worker actors and keeps
/// them working for it. When the server cannot be reached or goes away, the
/// node logs it and tries again, waiting 1 s, 2 s, 4 s ... up to
/// `max_backoff` between tries. Returns only when the server refuses the
/// node (a wrong or missing token): the exit status, 1.
int run_worker_node(caf::actor_system& system, const worker_node_config& cfg);

} // namespace playcount
