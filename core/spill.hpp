#pragma once

// Spilling partials to disk under a memory budget, and writing a result
// from what was spilled (issue 11: a job never runs out of memory).
//
// A worker whose partial outgrows its share writes it out partition by
// partition (spill) and starts afresh. The job's end then merges each
// partition (two at a time, one per core): that partition's spilled pieces
// and its part of the partials still in memory, by sorting their (song,
// day, total) entries (16 bytes a group; songs looked up by name, groups
// not hashed), and writes it as text in order of first appearance; a merge
// of those sorted texts gives the result, the same bytes as without
// spilling. Peak memory: two partitions' entries, not the job.

#include "core/aggregate.hpp"
#include "core/failure.hpp"
#include "core/phase_meter.hpp"
#include "core/result_summary.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace playcount {

/// Writes `totals` into `dir` as one file per partition, named
/// `<name>-p<NN>.pca`, and empties it; returns the bytes written. Fails
/// with "cannot spill to disk" and errno (the file in the failure, not in
/// its text) when a file cannot be written; what was written is removed.
result<uint64_t> spill(partial_aggregate& totals, const std::string& dir,
                       const std::string& name);

/// Whether `dir` holds spilled partials.
[[nodiscard]] bool has_spills(const std::string& dir);

/// The bytes of the partials spilled into `dir`.
[[nodiscard]] uint64_t spilled_bytes(const std::string& dir);

/// Writes the result CSV to `path` (as write_result: all or nothing) from
/// the partials spilled into `dir` whose names start with one of `owners`
/// (the spill names of the workers whose partials count: a worker taken off
/// the job, whose ranges were read again by others, may have spilled too)
/// and those in `in_memory` (emptied),
/// partition by partition (two at a time), with its text pieces kept in `dir`.
/// Fails when a file cannot be written or read back; a total over 2^63-1 is
/// no failure but an `overflow` (and no file). `written`, when given,
/// counts the parts done: each partition merged, then the file written.
/// `summary`, when given: summary.json and songs.idx too, as write_result
/// (each partition's songs sorted by name into a run in `dir`, the runs
/// merged into songs.idx: the names are never all in memory).
struct spilled_write {
  uint64_t groups = 0;
  bool overflow = false;
};
result<spilled_write> write_spilled_result(
    std::vector<partial_aggregate>& in_memory, const std::string& dir,
    const std::vector<std::string>& owners, const std::string& path,
    bool durable, phase_meter* written = nullptr,
    summary_files* summary = nullptr);

/// Removes `dir` and the files spilling left in it; other files stay (it
/// is not ours then), and so does the directory.
void remove_spills(const std::string& dir);

/// Removes the files spilled into `dir` under names that start with `name`
/// (spill's `name`), and nothing else: the directory stays.
void remove_spills_named(const std::string& dir, const std::string& name);

/// The memory a process may use by default: half of its cgroup's limit
/// (memory.max, or v1 memory.limit_in_bytes) where one is set, else half
/// of physical memory.
[[nodiscard]] uint64_t default_memory_limit();

/// Merges into `part` what was spilled into `dir` for partition `p` (the
/// `-pNN` files of spill), removing each file once read: a worker node
/// sends its partial partition by partition. Fails when a file cannot be
/// read or does not decode; false when a total exceeds 2^63-1 (`part` is
/// then incomplete).
result<bool> merge_spilled_partition(const std::string& dir, uint32_t p,
                                     partial_aggregate& part);

/// remove_spills on `dir` and on each directory in it (one level: a worker
/// node's directory of per-job directories); other files stay, and so do
/// the directories that hold them.
void remove_spill_tree(const std::string& dir);

/// Where a process spills by default: $TMPDIR, else /tmp.
[[nodiscard]] std::string default_temp_dir();

/// A spill directory of this process's own (count, a worker node):
/// `<temp_dir>/playcount-spill-XXXXXX`, 0700, holding `owner.lock`, which
/// stays locked (flock) while the process lives. First it sweeps what such
/// directories of processes that are gone (killed) left: their lock is free
/// and nothing was written in them for a minute; only spilling's own files
/// go (remove_spill_tree), and directories without an `owner.lock` are
/// never touched. `swept` counts them. Fails ("cannot make a directory in
/// <temp_dir>" and errno) when it cannot be made.
result<std::string> make_spill_dir(const std::string& temp_dir,
                                   unsigned& swept);

} // namespace playcount
