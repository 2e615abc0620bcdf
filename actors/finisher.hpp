#pragma once

#include "actors/messages.hpp"
#include "core/job_outcome.hpp"

#include <caf/fwd.hpp>

#include <vector>

namespace playcount {

/// A worker with a partial of the job, and the ranges read into it.
struct partial_holder {
  caf::actor worker;
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
};

/// Spawns a one-shot actor on its own thread that collects the partials,
/// merges them, places an overflow exactly (a sequential read), writes the
/// result file, and sends `finished_atom, job_result` to `coordinator`.
/// Merging and writing take long enough that the coordinator must not wait.
/// A holder lost meanwhile (a node gone) costs only time: its ranges are
/// read again here, from the file.
void spawn_finisher(caf::actor_system& system, const caf::actor& coordinator,
                    finish_input in);

} // namespace playcount
