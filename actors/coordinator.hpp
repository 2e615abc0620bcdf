#pragma once

#include "actors/range_feed.hpp"

#include <caf/fwd.hpp>

#include <memory>

namespace playcount {

/// Spawns the coordinator: the one actor that knows the workers and the jobs
/// being run, and the nodes they run on. For each job_request a planner
/// thread reads the header and plans the byte ranges (core/job_plan.hpp);
/// the coordinator hands ranges to workers as they ask (pull: fast workers
/// take more; a worker on another node gets the range's bytes on its feed
/// from `feeds`, null when there are no worker nodes), stops
/// handing out ranges past the first bad record, then has the partials
/// collected, merged and written, and answers the request with a job_result.
/// Workers that go down have their work handed out again.
caf::actor spawn_coordinator(caf::actor_system& system,
                             std::shared_ptr<range_sender> feeds = nullptr);

} // namespace playcount
