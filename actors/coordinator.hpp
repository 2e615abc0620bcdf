#pragma once

#include <caf/fwd.hpp>

namespace playcount {

/// Spawns the coordinator: the one actor that knows the workers and the jobs
/// being run. For each job_request it maps the header, plans the byte ranges
/// (a parallel scan of quote counts first, see core/split.hpp), hands scan
/// and read items to workers as they ask (pull: fast workers take more),
/// stops handing out ranges past the first bad record, then has the partials
/// collected, merged and written, and answers the request with a job_result.
/// Workers that go down have their work handed out again.
caf::actor spawn_coordinator(caf::actor_system& system);

} // namespace playcount
