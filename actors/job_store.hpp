#pragma once

// The jobs on disk: one directory per job in `<data>/jobs/<id>/`, so that a
// server killed at any moment and started again on the same data directory
// finds every job as it was.
//
//   job.json    the job_record (written to a temporary name, flushed, renamed)
//   input.csv   the upload (the HTTP layer writes it the same way), removed
//               once the job has ended
//   result.csv  the result (the finisher writes it the same way)
//   summary.json, songs.idx  the result's summary and song index, written
//               with it (the same way); rebuilt from result.csv when
//               missing or damaged (http/job_summaries.hpp)
//
//   damaged/    (beside jobs/) what start-up could not read, set aside
//
// What holds:
// - Nothing the server cannot read is deleted. A job directory whose
//   job.json is missing, unreadable or not a complete record is moved to
//   `<data>/damaged/<id>/` (with a suffix `.1`, `.2`, ... when taken); when a
//   complete result.csv is beside it, the result stays and is served under a
//   record rebuilt from the files (with the summary.json and songs.idx
//   made from it), and the rest goes to damaged/.
// - The only directories removed at start-up are the server's own: an
//   interrupted upload (no job.json, and nothing but body.tmp,
//   input.csv.tmp, input.csv, job.json.tmp; the 202 comes only after
//   job.json is in place) and a job caught halfway through its removal
//   (`<id>.removing`).
// - job.json is replaced, never rewritten in place: a reader sees the old
//   record or the new one, never a mix.
// - Nothing here throws; failures come back as false plus a message.

#include "actors/messages.hpp"
#include "core/failure.hpp"
#include "core/wall_clock.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace playcount {

/// Where a job's files live.
struct job_paths {
  std::string dir;
  std::string record;  ///< job.json
  std::string input;   ///< input.csv
  std::string result;  ///< result.csv
  std::string spill;   ///< spill/: partials on disk while the job runs
  std::string summary; ///< summary.json: the result's summary (issue 15)
  std::string index;   ///< songs.idx: the result's songs, sorted
};

/// `<data_dir>/jobs`
[[nodiscard]] std::string jobs_dir(const std::string& data_dir);

[[nodiscard]] job_paths paths_for(const std::string& data_dir,
                                  const std::string& id);

/// A job id as the service makes them: a random (version 4) UUID in its
/// canonical form, 36 characters, lowercase hex. Anything else is not a job
/// and never becomes part of a path.
[[nodiscard]] bool is_job_id(std::string_view text) noexcept;

/// A fresh random job id (Boost.UUID, OS entropy).
[[nodiscard]] std::string make_job_id();

/// The record as JSON text, and back, as job_record_fields
/// (actors/job_record.hpp) says: the fields in its order, each under its
/// key. `parse_record` fails (with a reason naming the first field that is
/// wrong) for anything that is not a complete record; a field marked
/// added_later may be missing.
[[nodiscard]] std::string record_to_json(const job_record& record);
[[nodiscard]] result<job_record> parse_record(std::string_view text);

/// Replaces `<dir>/job.json` atomically and durably: a temporary file,
/// fsync, rename, fsync of the directory.
result<void> save_record(const job_paths& paths, const job_record& record);

/// Flushes a directory's entries (after a rename into it).
result<void> sync_dir(const std::string& dir);

/// `<data_dir>/damaged`
[[nodiscard]] std::string damaged_dir(const std::string& data_dir);

/// Reads and parses one job.json (at most 1 MiB), or says why not (the
/// failure's path is `path`; it reads well as file names only, "cannot open
/// job.json: ...", beside the job's directory).
result<job_record> read_record(const std::string& path);

/// Whether `path` exists (stat succeeds).
[[nodiscard]] bool test_exists(const std::string& path) noexcept;

/// A directory removed at start-up, and why it was the server's to remove.
struct removed_entry {
  std::string path;
  std::string why;
};

/// Something in jobs/ that start-up could not read.
struct damaged_entry {
  std::string path;       ///< where it was
  std::string why;        ///< what is wrong (a parse error and where)
  std::string moved_to;   ///< under damaged/; empty: it could not be moved
  std::string error;      ///< why it could not be moved or recovered
  bool recovered = false; ///< its result.csv is served under a rebuilt record
};

/// What start-up finds in `<data_dir>/jobs`.
struct stored_jobs {
  std::vector<job_record> records; ///< oldest first (by created_at)
  std::vector<removed_entry> removed;
  std::vector<damaged_entry> damaged; ///< found at this start
  size_t damaged_total = 0; ///< entries in damaged/, earlier starts' too
};

/// Creates `<data_dir>/jobs` when missing, reads every job.json, sets aside
/// what cannot be read, removes the server's own interrupted uploads and
/// half-removed jobs, and removes leftovers of interrupted writes (`*.tmp`,
/// `*.partial-*`) inside job directories. Fails only when jobs/ itself
/// cannot be created or read.
result<stored_jobs> load_jobs(const std::string& data_dir);

/// Removes a job's directory with everything in it: renamed away first
/// (atomically), then removed, so that a crash midway leaves no part of a
/// job. Removing what is not there is no error.
result<void> remove_job_files(const job_paths& paths);

/// Removes one file; a missing file is no error.
result<void> remove_file(const std::string& path);

} // namespace playcount
