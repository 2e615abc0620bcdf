#pragma once

#include "actors/range_feed.hpp"

#include <caf/fwd.hpp>

#include <memory>
#include <string>

namespace playcount {

/// Spawns a reader/aggregator worker on its own thread (reading is CPU-bound
/// and must not hold up the scheduler's other actors). It joins
/// `coordinator`, then asks it for work forever: reads ranges (mapped from
/// the file, or received on `feed` when it runs on another node) into one
/// partial aggregate per job, and hands the partial over when the
/// coordinator collects it. `node` is the id of its node ("local" in the
/// server's process, else the id the gate gave the node).
caf::actor spawn_worker(caf::actor_system& system, const caf::actor& coordinator,
                        std::string node,
                        std::unique_ptr<range_source> feed = nullptr);

} // namespace playcount
