#pragma once

#include <caf/fwd.hpp>

#include <string>

namespace playcount {

/// Spawns a reader/aggregator worker on its own thread (reading is CPU-bound
/// and must not hold up the scheduler's other actors). It joins
/// `coordinator`, then asks it for work forever: scans chunks, reads ranges
/// into one partial aggregate per job, and hands the partial over when the
/// coordinator collects it. `node` names the machine in stats.
caf::actor spawn_worker(caf::actor_system& system, const caf::actor& coordinator,
                        std::string node);

} // namespace playcount
