#pragma once
// The phases of a running job that other threads than the coordinator's
// advance: the planner's quote scan, the finisher's merging and writing.
// One per job, shared by them and read for the job's status.

#include "core/phase_meter.hpp"

namespace playcount {

struct job_meter {
  phase_meter scanning; ///< data bytes scanned for quotes (plan_job)
  phase_meter merging;  ///< partials collected and merged
  phase_meter writing;  ///< parts of the result written
  phase_meter spilling; ///< bytes of totals and partials written to disk
};

} // namespace playcount
