#pragma once

#include "actors/messages.hpp"
#include "actors/range_feed.hpp"

#include <caf/typed_actor.hpp>

#include <chrono>
#include <memory>

namespace playcount {

/// When a worker is a straggler for a job, and when a remote worker may
/// fetch ahead. The defaults are the rule docs/cluster.md states
/// (Stragglers); tests shorten the times.
struct straggler_policy {
  /// A range being read for more than max(min_bound, slow_factor x the
  /// median time of this job's ranges so far, per byte, times its size)
  /// while a worker that may take it sits idle is dispatched again.
  std::chrono::milliseconds min_bound{2000};
  double slow_factor = 4;
  /// A range with no report for max(silent_bound, slow_factor x the
  /// median) is dispatched again whether or not a worker is idle.
  std::chrono::milliseconds silent_bound{30000};
  /// A remote worker's ask for its next range while it still holds one (it
  /// fetches ahead) is answered only when its last range took no more than
  /// ask_ahead_factor x the job's median; else it waits for the report.
  double ask_ahead_factor = 2;
  /// How often ranges in flight are checked while a job reads.
  std::chrono::milliseconds tick{250};
};

/// What the coordinator runs jobs for (the job registry, `count`):
///   job_request          => job_result, when the job is done
///   cancel_atom, id      => bool: whether it knew the job (which then ends
///                           as canceled: its request is answered so)
///   status_atom, id      => job_status, the job's progress
///   stats_atom           => coordinator_stats
using job_runner_actor = caf::typed_actor<
    caf::replies_to<job_request>::with<job_result>,
    caf::replies_to<cancel_atom, std::string>::with<bool>,
    caf::replies_to<status_atom, std::string>::with<job_status>,
    caf::replies_to<stats_atom>::with<coordinator_stats>>;

/// The coordinator whole: a job runner and a work source
/// (actors/messages.hpp) with what its helpers in this process send it:
///   planned_atom, id, job_plan, error   a planner thread's plan of the job
///   finished_atom, job_result           a finisher's merged, written job
///   node_up_atom, node_record => node id  the gate (cluster/gate.hpp)
///                                       let a worker node in
/// Only work_source_actor's messages are taken from other nodes: the
/// coordinator's handle reaches nodes (as the sender of work items and
/// drops), so anything else a node sends it is refused at its mailbox
/// (coordinator.cpp, admitted), whatever handle type the node holds.
using coordinator_actor =
    job_runner_actor::extend_with<work_source_actor>::extend<
        caf::reacts_to<planned_atom, std::string, job_plan, std::string>,
        caf::reacts_to<finished_atom, job_result>,
        caf::replies_to<node_up_atom, node_record>::with<std::string>>;

/// Spawns the coordinator: the one actor that knows the workers and the jobs
/// being run, and the nodes they run on. For each job_request a planner
/// thread reads the header and plans the byte ranges (core/job_plan.hpp);
/// the coordinator hands ranges to workers as they ask (pull: fast workers
/// take more; a worker on another node gets the range's bytes on its feed
/// from `feeds`, null when there are no worker nodes), stops
/// handing out ranges past the first bad record, then has the partials
/// collected, merged and written, and answers the request with a job_result.
/// Workers that go down have their work handed out again; so do workers
/// that straggle (`policy`), which are then out of that job.
coordinator_actor
spawn_coordinator(caf::actor_system& system,
                  std::shared_ptr<range_sender> feeds = nullptr,
                  straggler_policy policy = {});

} // namespace playcount
