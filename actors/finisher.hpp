#pragma once

#include "actors/coordinator.hpp"
#include "actors/job_meter.hpp"
#include "actors/messages.hpp"
#include "actors/worker.hpp"
#include "core/job_outcome.hpp"

#include <caf/typed_actor.hpp>

#include <vector>

namespace playcount {

/// What a finisher takes, besides the answers to its collect requests: a
/// large partial from a holder on another node, in pieces (actors/
/// messages.hpp, partial_blob), only from that holder and only for its job:
///   partial_piece_atom, job id, bytes              a piece of a part
///   partial_piece_atom, job id, bytes, partitions  => bool: the last piece
///                                                  of a part; go on?
using finisher_actor = caf::typed_actor<
    caf::reacts_to<partial_piece_atom, std::string, std::string>,
    caf::replies_to<partial_piece_atom, std::string, std::string,
                    uint32_t>::with<bool>>;

/// A worker with a partial of the job, and the ranges read into it.
struct partial_holder {
  worker_actor worker;
  std::vector<uint32_t> ranges;
};

/// What the coordinator knows when every needed range has been read.
struct finish_input {
  job_request request;
  csv_layout layout;
  std::vector<byte_range> ranges;
  job_outcome outcome;
  std::vector<partial_holder> holders;
  double scan_seconds = 0;
  double read_seconds = 0;
  /// Advanced as partials are merged and the result is written.
  std::shared_ptr<job_meter> meter = std::make_shared<job_meter>();
};

/// Spawns a one-shot actor on its own thread that collects the partials,
/// merges them, places an overflow exactly (a sequential read), writes the
/// result file, and sends `finished_atom, job_result` to `coordinator`.
/// Merging and writing take long enough that the coordinator must not wait.
/// A holder lost meanwhile (a node gone) costs only time: its ranges are
/// read again here, from the file.
void spawn_finisher(caf::actor_system& system,
                    const coordinator_actor& coordinator, finish_input in);

} // namespace playcount
