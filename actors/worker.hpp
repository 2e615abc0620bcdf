#pragma once

#include "actors/messages.hpp"
#include "actors/range_feed.hpp"

#include <caf/typed_actor.hpp>

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>

namespace playcount {

/// A worker node's own memory budget (`playcount worker --memory-limit`,
/// `--temp-dir`), shared by its workers. The spill_at and spill_dir of a
/// work item are the server's and mean nothing on another node.
struct node_spill {
  /// The node's directory (mkdtemp); a worker spills a job into a
  /// directory of its own in it, `<job id>-w<actor id>`.
  std::string dir;
  /// A worker's share of the node's limit: limit / 3 / workers, as count's.
  uint64_t spill_at = 0;
  /// Held shared while a worker writes or reads under `dir`, exclusively
  /// by whoever removes `dir` (the node when it stops), so that nothing is
  /// written into a directory being removed.
  std::shared_mutex writing;
};

/// What a worker takes, besides the answers to its own asks: from the
/// finisher of a job it read ranges of, and from the coordinator.
///   collect_atom, job id  => partial_blob: its partial of the job, which it
///                            then forgets (from another node a large one
///                            first comes in pieces: finisher_actor)
///   drop_atom, job id     forget the job (canceled, or the worker is out
///                         of it: a straggler)
using worker_actor = caf::typed_actor<
    caf::replies_to<collect_atom, std::string>::with<partial_blob>,
    caf::reacts_to<drop_atom, std::string>>;

/// Spawns a reader/aggregator worker on its own thread (reading is CPU-bound
/// and must not hold up the scheduler's other actors). It joins
/// `coordinator`, then asks it for work forever: reads ranges (mapped from
/// the file, or received on `feed` when it runs on another node) into one
/// partial aggregate per job, and hands the partial over when the
/// coordinator collects it. `node` is the id of its node (local_node_id in
/// the server's process, else the id the gate gave the node). On another node,
/// `spill` (if any) is the node's budget: past it, the worker's partial of
/// a job goes to disk, and it is sent back partition by partition.
worker_actor spawn_worker(caf::actor_system& system,
                          const work_source_actor& coordinator,
                          std::string node,
                          std::unique_ptr<range_source> feed = nullptr,
                          std::shared_ptr<node_spill> spill = nullptr);

} // namespace playcount
