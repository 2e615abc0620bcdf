#pragma once

// The job registry: the single owner of job states. The HTTP handlers ask it
// (job_registry_actor below), and it hands jobs to the coordinator
// (job_runner_actor, actors/coordinator.hpp), which answers each with its
// job_result.
//
// What holds:
// - Jobs start in arrival order, at most `max_running` at a time; a job that
//   would have to wait is refused when `max_queued` jobs already wait.
// - Every change of state is on disk (actors/job_store.hpp) before anyone is
//   told about it: after a crash, queued and started jobs run again and
//   ended jobs are served as they were.
// - A job counts its attempts on disk: `attempts` is incremented and saved
//   (fsync) before the job is handed to the coordinator, and taken back when
//   the registry is stopped with exit_reason::user_shutdown (a clean stop,
//   not a crash). A job found started at start-up with `max_attempts`
//   attempts fails with a reason saying so; others queue again.
// - A record that could not be saved (a full disk) is saved again every
//   `rss_interval` and on each sweep until it is; until then the upload is
//   kept, so that a restart in between runs the job again instead of finding
//   its input gone.
// - Ended jobs (finished, failed, canceled) are kept for `result_ttl` after
//   they ended, then removed with their files; an expired job is "not found"
//   even before the sweep has removed it.

#include "actors/coordinator.hpp"
#include "actors/messages.hpp"
#include "core/failure.hpp"
#include "core/job_plan.hpp"

#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace playcount {

struct job_registry_config {
  std::string data_dir = "data";
  uint64_t max_running = 2;
  uint64_t max_queued = 100;
  std::chrono::milliseconds result_ttl = std::chrono::hours(24);
  uint64_t range_size = default_range_size;
  /// Memory for the running jobs' totals together, shared equally among
  /// max_running jobs; beyond its share a job spills to disk (spill.hpp).
  /// 0: no limit.
  uint64_t memory_limit = 0;
  /// What a refused client is told to wait, in seconds.
  uint32_t retry_after = 5;
  /// A job found `started` at start-up (the server stopped while it ran)
  /// that has been started this many times fails instead of running again:
  /// a job that takes the server down cannot do it forever.
  uint32_t max_attempts = 2;
  /// How often the server's peak memory is looked at (and written into
  /// running jobs' records when it grew) for the reason given when
  /// max_attempts is reached.
  std::chrono::milliseconds rss_interval = std::chrono::milliseconds(250);
  /// Called (on the registry's thread) once a job's files are removed
  /// (DELETE, expiry), so that whatever holds them open lets go.
  std::function<void(const std::string& id)> on_removed;
};

/// What the registry answers, all of it in this process (never published):
///   admit_atom              => uint32_t: 0 when a job would be taken now,
///                              else the seconds a client should wait
///   submit_atom, job_submission => submit_reply: queued, or why not. With
///                              `growing` set the upload still arrives: the
///                              job runs as it lands, its record is kept in
///                              memory only (a crash meanwhile leaves an
///                              interrupted upload, removed at start-up)
///   uploaded_atom, job_submission, error => submit_reply: the upload of a
///                              job submitted while growing is whole (error
///                              empty: its record is saved now, and only
///                              then may the input be declared whole) or was
///                              cut off (error says how: the job fails with
///                              it and its input goes)
///   lookup_atom, id         => job_lookup (a started job with its progress)
///   delete_atom, id         => job_deletion: a running job is canceled, an
///                              ended one removed with its files
///   list_atom, job_query    => job_list: a page of the jobs that match,
///                              newest first, with how many match
///   stats_atom              => registry_stats, the coordinator's within
///   drain_atom              => uint32_t: jobs still running; from now on
///                              none starts (the server is stopping)
using job_registry_actor = caf::typed_actor<
    caf::replies_to<admit_atom>::with<uint32_t>,
    caf::replies_to<submit_atom, job_submission>::with<submit_reply>,
    caf::replies_to<uploaded_atom, job_submission,
                    std::string>::with<submit_reply>,
    caf::replies_to<lookup_atom, std::string>::with<job_lookup>,
    caf::replies_to<delete_atom, std::string>::with<job_deletion>,
    caf::replies_to<list_atom, job_query>::with<job_list>,
    caf::replies_to<stats_atom>::with<registry_stats>,
    caf::replies_to<drain_atom>::with<uint32_t>>;

/// Loads the jobs of `config.data_dir` (queued and started ones queue again,
/// expired ones are removed), then spawns the registry; or says why not
/// (the data directory cannot be read or written).
result<job_registry_actor>
spawn_job_registry(caf::actor_system& system,
                   const job_runner_actor& coordinator,
                   job_registry_config config);

} // namespace playcount
