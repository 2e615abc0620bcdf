#pragma once

// Every message the actors exchange, each with its `inspect` right after it
// so that it can cross process boundaries unchanged (cluster/), and the
// atoms that name requests. job_record, with the one list of its fields, is
// in actors/job_record.hpp. Every type here that configure_actor_system
// registers has a round-trip case in tests/actors/messages_test.cpp.
//
// Who sends what to whom is said once, beside each actor's typed interface:
//   work_source_actor  (below)                     what a worker may send
//   coordinator_actor  (actors/coordinator.hpp)    jobs, plans, nodes
//   worker_actor       (actors/worker.hpp)         collect, drop
//   finisher_actor     (actors/finisher.hpp)       a partial's pieces
//   job_registry_actor (actors/job_registry.hpp)   the HTTP side's questions
//   gate_actor         (cluster/gate.hpp)          a node's registration

#include "actors/job_record.hpp"
#include "core/aggregate.hpp"
#include "core/growing_file.hpp"
#include "core/histogram.hpp"
#include "core/job_plan.hpp"
#include "core/range_reader.hpp"
#include "core/split.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace playcount {

using ask_work_atom = caf::atom_constant<caf::atom("askwork")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using collect_atom = caf::atom_constant<caf::atom("collect")>;
using partial_piece_atom = caf::atom_constant<caf::atom("piece")>;
using drop_atom = caf::atom_constant<caf::atom("drop")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using finished_atom = caf::atom_constant<caf::atom("finished")>;
using admit_atom = caf::atom_constant<caf::atom("admit")>;
using submit_atom = caf::atom_constant<caf::atom("submit")>;
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using delete_atom = caf::atom_constant<caf::atom("delete")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using planned_atom = caf::atom_constant<caf::atom("planned")>;
using uploaded_atom = caf::atom_constant<caf::atom("uploaded")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using node_up_atom = caf::atom_constant<caf::atom("nodeup")>;

// -- inspect for the core types the messages carry --------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, byte_range& x) {
  return f(caf::meta::type_name("byte_range"), x.begin, x.end);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, csv_layout& x) {
  return f(caf::meta::type_name("csv_layout"), x.data_begin, x.first_data_line,
           x.columns, x.song, x.date, x.count);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, row_problem& x) {
  return f(caf::meta::type_name("row_problem"), x.line, x.what);
}

// CAF 0.17 knows caf::optional only: a std::optional as a flag and a value.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        std::optional<row_problem>& x) {
  if constexpr (Inspector::reads_state) {
    bool present = x.has_value();
    row_problem value = present ? *x : row_problem{};
    return f(present, value);
  } else {
    bool present = false;
    row_problem value;
    auto result = f(present, value);
    if (present)
      x = std::move(value);
    else
      x.reset();
    return result;
  }
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, range_report& x) {
  return f(caf::meta::type_name("range_report"), x.lines, x.rows, x.bad_rows,
           x.first_bad, x.error, x.overflow);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_plan& x) {
  return f(caf::meta::type_name("job_plan"), x.layout, x.file_size, x.ranges,
           x.more);
}

// -- messages ----------------------------------------------------------------

/// A job for the coordinator: count `input_path` into `output_path`.
struct job_request {
  std::string id;
  std::string input_path;
  std::string output_path;
  uint64_t range_size = default_range_size;
  bad_row_policy on_bad_rows = bad_row_policy::fail;
  bool durable = false; ///< flush the result to disk before it counts
  /// Where partials spill when they outgrow their share of memory_limit
  /// (spill.hpp); empty: they never spill. Removed when the job ends.
  std::string spill_dir;
  uint64_t memory_limit = 0; ///< bytes for the job's partials; 0: no limit
  /// Set when the input is still being written (standard input, a
  /// compressed file being decoded): the job reads it as it lands. In this
  /// process only: not part of the message's serialized form.
  std::shared_ptr<growing_file> growing = nullptr;
  /// Written with the result when set (issue 15): the summary.json and the
  /// songs.idx of the result, all or nothing with it.
  std::string summary_path;
  std::string index_path;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_request& x) {
  return f(caf::meta::type_name("job_request"), x.id, x.input_path,
           x.output_path, x.range_size, x.on_bad_rows, x.durable, x.spill_dir,
           x.memory_limit, x.summary_path, x.index_path);
}

/// The end of a job. `error` is empty on success; on bad input it is the
/// `line N: ...` message.
struct job_result {
  std::string id;
  bool ok = false;
  bool canceled = false;
  std::string error;
  uint64_t rows = 0;
  uint64_t groups = 0;
  uint64_t bad_rows = 0;
  std::vector<std::string> first_bad; ///< `line N: ...` of skipped records
  /// Seconds spent in each phase: scanning quotes, reading ranges, collecting
  /// and merging partials, writing the result.
  double scan_seconds = 0;
  double read_seconds = 0;
  double merge_seconds = 0;
  double write_seconds = 0;
  uint64_t spilled_bytes = 0; ///< partials written to disk under the limit
  /// The errno of a result that could not be written (0: none, or not an
  /// errno): EPIPE is a reader of `-o -` that went away, which `count`
  /// does not call an error.
  int output_errno = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_result& x) {
  return f(caf::meta::type_name("job_result"), x.id, x.ok, x.canceled, x.error,
           x.rows, x.groups, x.bad_rows, x.first_bad, x.scan_seconds,
           x.read_seconds, x.merge_seconds, x.write_seconds, x.spilled_bytes,
           x.output_errno);
}

/// A job's progress while it runs.
struct job_status {
  std::string id;
  bool known = false;
  std::string phase; ///< scanning, reading, merging, writing
  uint64_t bytes_total = 0;
  uint64_t bytes_done = 0;
  uint64_t rows = 0;
  job_progress progress; ///< all but uploading (the registry knows that)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_status& x) {
  return f(caf::meta::type_name("job_status"), x.id, x.known, x.phase,
           x.bytes_total, x.bytes_done, x.rows, x.progress);
}

/// The node id of the server's own process: its workers join under it.
inline constexpr std::string_view local_node_id = "local";

/// What a worker tells the coordinator about itself when it joins.
struct worker_info {
  std::string node;  ///< the node's id: local_node_id for in-process workers
  uint64_t feed = 0; ///< on another node: the id of its byte feed
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_info& x) {
  return f(caf::meta::type_name("worker_info"), x.node, x.feed);
}

/// One piece of work: read range `index` of the job into the worker's
/// partial. A worker in the server's process maps the range from `path`; a
/// worker on another node receives its bytes on its feed as parcel
/// `parcel` (actors/range_feed.hpp).
struct work_item {
  std::string job;
  std::string path;
  uint32_t index = 0;
  byte_range range;
  csv_layout layout;
  bad_row_policy on_bad_rows = bad_row_policy::fail;
  uint64_t parcel = 0; ///< 0: read from the file
  /// Where a worker on the file's node spills its partial once it holds
  /// more than spill_at bytes (0: never; see job_request::spill_dir).
  std::string spill_dir;
  uint64_t spill_at = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, work_item& x) {
  return f(caf::meta::type_name("work_item"), x.job, x.path, x.index, x.range,
           x.layout, x.on_bad_rows, x.parcel, x.spill_dir, x.spill_at);
}

struct read_done {
  std::string job;
  uint32_t index = 0;
  range_report report;
  std::string failure;  ///< not empty: the file could not be read
  uint64_t mailbox = 0; ///< messages waiting at the worker when it reported
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_done& x) {
  return f(caf::meta::type_name("read_done"), x.job, x.index, x.report,
           x.failure, x.mailbox);
}

/// What a worker talks to, and all a worker may send (a worker in the
/// server's process gets the coordinator itself; one on another node gets
/// its node's relay from the gate, cluster/gate.hpp, which has nothing else):
///   join_atom, worker_info  once, first: the node it runs on and, on
///                           another node, the id of its byte feed
///   ask_work_atom           => work_item, held back until there is work
///                           (for a worker on another node the range's
///                           bytes follow on its feed)
///   read_done               the report of the item it read
/// The coordinator answers only a worker that joined, and takes a report
/// only of a range that worker holds.
using work_source_actor =
    caf::typed_actor<caf::reacts_to<join_atom, worker_info>,
                     caf::replies_to<ask_work_atom>::with<work_item>,
                     caf::reacts_to<read_done>>;

/// A worker's partial aggregate of a job. Inside one process it travels as
/// the object itself (CAF does not serialize local messages); only when it
/// crosses to another node is it turned into its byte form.
///
/// A partial of millions of groups encodes to hundreds of MB: in one BASP
/// message it would hold the link for seconds (the peer's heartbeats wait
/// behind it, and the server drops messages over max_basp_payload), and
/// encoded whole it would be in memory twice. So a worker on another node
/// sends it first, one part at a time: a part is one partition (its part
/// in memory and what the worker spilled of it), encoded on its own and cut
/// into messages of at most `partial_piece_size` (partial_piece_atom, job,
/// bytes); the last one is a request (partial_piece_atom, job, bytes,
/// uint32_t partitions: a bit per partition the part holds) whose answer,
/// true, asks for the next part. Then comes this blob with `pieces` (all
/// parts' pieces) set and no totals. The receiver decodes and merges each
/// part as it completes, on its own thread. A small partial that never
/// spilled comes in the blob itself.
struct partial_blob {
  std::string job;
  std::shared_ptr<partial_aggregate> totals;
  bool ok = false;     ///< false: the worker has no partial of that job
  uint32_t pieces = 0; ///< > 0: the bytes came before, in this many pieces
  uint64_t node_spilled = 0; ///< bytes the worker's node spilled of it
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partial_blob& x) {
  if constexpr (Inspector::reads_state) {
    std::string bytes =
        x.totals && x.pieces == 0 ? x.totals->encode() : std::string{};
    return f(caf::meta::type_name("partial_blob"), x.job, bytes, x.ok, x.pieces,
             x.node_spilled);
  } else {
    std::string bytes;
    auto result = f(caf::meta::type_name("partial_blob"), x.job, bytes, x.ok,
                    x.pieces, x.node_spilled);
    x.totals = std::make_shared<partial_aggregate>();
    if (x.ok && x.pieces == 0 && !partial_aggregate::decode(bytes, *x.totals))
      x.ok = false; // the finisher reports the part as lost
    return result;
  }
}

/// The largest piece of an encoded partial in one message (see
/// partial_blob): well under the cluster port's max_basp_payload.
inline constexpr size_t partial_piece_size = 4u << 20;

/// One worker actor as the coordinator sees it.
struct worker_stats {
  std::string id;
  std::string node;
  uint64_t ranges_done = 0;
  uint64_t bytes_done = 0;
  bool busy = false;
  uint64_t mailbox = 0; ///< as the worker last reported it
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_stats& x) {
  return f(caf::meta::type_name("worker_stats"), x.id, x.node, x.ranges_done,
           x.bytes_done, x.busy, x.mailbox);
}

/// One node: the server's own ("local") or a worker node that joined.
struct node_stats {
  std::string id;
  std::string name;    ///< the host name the node gave
  std::string address; ///< host:port the server sees it at
  bool local = false;
  bool up = false;
  uint64_t workers = 0; ///< worker actors alive
  uint64_t ranges_done = 0;
  uint64_t bytes_done = 0;
  int64_t joined_at = 0; ///< ms since the Unix epoch
  int64_t last_seen = 0; ///< ms since the Unix epoch: its last message
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_stats& x) {
  return f(caf::meta::type_name("node_stats"), x.id, x.name, x.address, x.local,
           x.up, x.workers, x.ranges_done, x.bytes_done, x.joined_at,
           x.last_seen);
}

/// A job's ranges as the coordinator's queue sees them.
struct job_queue_stats {
  std::string id;
  std::string phase;
  uint64_t ranges = 0;
  uint64_t queued = 0;    ///< waiting for a worker
  uint64_t in_flight = 0; ///< handed out, not yet reported
  uint64_t done = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_queue_stats& x) {
  return f(caf::meta::type_name("job_queue_stats"), x.id, x.phase, x.ranges,
           x.queued, x.in_flight, x.done);
}

struct coordinator_stats {
  std::vector<node_stats> nodes;
  std::vector<worker_stats> workers;
  std::vector<job_queue_stats> queue; ///< running jobs, oldest first
  uint64_t jobs_running = 0;
  uint64_t ranges_queued = 0;     ///< over all jobs
  uint64_t ranges_dispatched = 0; ///< since the start
  uint64_t ranges_redispatched =
      0;                      ///< handed out again after a worker was lost
  uint64_t bytes_read = 0;    ///< since the start, by every worker (a range
                              ///< read again after a loss counts again)
  uint64_t rows_read = 0;     ///< likewise
  uint64_t spilled_bytes = 0; ///< partials written to disk, since the start
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, coordinator_stats& x) {
  return f(caf::meta::type_name("coordinator_stats"), x.nodes, x.workers,
           x.queue, x.jobs_running, x.ranges_queued, x.ranges_dispatched,
           x.ranges_redispatched, x.bytes_read, x.rows_read, x.spilled_bytes);
}

/// What a worker node sends the gate to join.
struct node_registration {
  std::string name; ///< its host name, for people
  uint32_t workers = 0;
  /// What the cluster port's handshake said to this node's connection
  /// (cluster/handshake.hpp): tells the gate the node's address.
  uint64_t session = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_registration& x) {
  return f(caf::meta::type_name("node_registration"), x.name, x.workers,
           x.session);
}

struct registration_reply {
  bool accepted = false;
  std::string reason;            ///< why not
  work_source_actor work_source; ///< the node's relay to the coordinator
  std::string node_id;
  uint16_t feed_port = 0;  ///< where the node's workers open their feeds
  std::string feed_secret; ///< what they show there; never logged
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, registration_reply& x) {
  return f(caf::meta::type_name("registration_reply"), x.accepted, x.reason,
           x.work_source, x.node_id, x.feed_port, x.feed_secret);
}

/// A node the gate let in, for the coordinator.
struct node_record {
  std::string name;
  std::string address;
  std::string caf_node; ///< caf::to_string of its node_id: only its
                        ///< actors may join under the node's id
  caf::actor agent;     ///< lives as long as the node's connection
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_record& x) {
  return f(caf::meta::type_name("node_record"), x.name, x.address, x.caf_node,
           x.agent);
}

/// An upload on disk as `jobs/<id>/input.csv`, for the registry to queue.
struct job_submission {
  std::string id;
  std::string file_name;
  uint64_t bytes = 0; ///< while uploading: the bytes announced, 0: unknown
  bad_row_policy on_bad_rows = bad_row_policy::fail;
  int64_t upload_started_at = 0; ///< ms since the epoch; 0: not an upload
  /// Set when the upload is still arriving: the job runs as it lands, and
  /// the registry is told with uploaded_atom when it is whole (or cut off).
  /// In this process only: not part of the serialized form.
  std::shared_ptr<growing_file> growing = nullptr;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_submission& x) {
  return f(caf::meta::type_name("job_submission"), x.id, x.file_name, x.bytes,
           x.on_bad_rows, x.upload_started_at);
}

struct submit_reply {
  enum status_type : uint8_t { accepted = 0, queue_full = 1, failed = 2 };
  uint8_t status = failed;
  job_record record;
  std::string error;        ///< failed: why (the job state could not be saved)
  uint32_t retry_after = 0; ///< queue_full: seconds a client should wait
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, submit_reply& x) {
  return f(caf::meta::type_name("submit_reply"), x.status, x.record, x.error,
           x.retry_after);
}

struct job_lookup {
  bool found = false;
  job_record record;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_lookup& x) {
  return f(caf::meta::type_name("job_lookup"), x.found, x.record);
}

struct job_deletion {
  bool found = false;
  bool canceled = false; ///< true: the job was queued or started and is now
                         ///< canceled; false: its record and files are gone
  job_record record;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_deletion& x) {
  return f(caf::meta::type_name("job_deletion"), x.found, x.canceled, x.record);
}

/// Which jobs `GET /jobs/` asks for: those matching the filter, newest
/// first (by created_at, then id), after the cursor, at most `limit`.
struct job_query {
  uint32_t limit = 100;
  /// Bit (1 << job_state) for each state wanted; 0: every state.
  uint8_t states = 0;
  /// A part of the file name or of the id, ASCII case-insensitive; empty:
  /// any job.
  std::string text;
  /// The cursor: the jobs after (older than) the job created at
  /// `before_created` with id `before_id`, in the list's order; 0: from
  /// the newest. A job need not exist any more to be a cursor.
  int64_t before_created = 0;
  std::string before_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_query& x) {
  return f(caf::meta::type_name("job_query"), x.limit, x.states, x.text,
           x.before_created, x.before_id);
}

struct job_list {
  std::vector<job_record> jobs; ///< newest first
  /// The jobs matching the query's filter (state, text), wherever the
  /// cursor stands.
  uint64_t total = 0;
  /// Jobs matching the filter come after the last of `jobs`.
  bool more = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_list& x) {
  return f(caf::meta::type_name("job_list"), x.jobs, x.total, x.more);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, seconds_histogram& x) {
  return f(caf::meta::type_name("seconds_histogram"), x.bounds, x.counts, x.sum,
           x.count);
}

/// Jobs that ended in this process, by outcome (finished, failed, canceled):
/// counters since the start, never lower as ended jobs expire. A job run
/// again after it failed ends, and counts, again.
struct job_end_stats {
  uint64_t finished = 0;
  uint64_t failed = 0;
  uint64_t canceled = 0;
  /// Start to end of the jobs that ran, by outcome (a job canceled or
  /// failed before it started has none).
  seconds_histogram finished_seconds = histogram_with(job_duration_bounds());
  seconds_histogram failed_seconds = histogram_with(job_duration_bounds());
  seconds_histogram canceled_seconds = histogram_with(job_duration_bounds());
  /// Submission to start, for each start.
  seconds_histogram queue_wait = histogram_with(queue_wait_bounds());
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_end_stats& x) {
  return f(caf::meta::type_name("job_end_stats"), x.finished, x.failed,
           x.canceled, x.finished_seconds, x.failed_seconds, x.canceled_seconds,
           x.queue_wait);
}

struct registry_stats {
  coordinator_stats coordinator;
  bool coordinator_answered = false;
  uint64_t queued = 0;
  uint64_t started = 0;
  uint64_t finished = 0;
  uint64_t failed = 0;
  uint64_t canceled = 0;
  uint64_t max_running = 0;
  uint64_t max_queued = 0;
  int64_t uptime_ms = 0;
  uint64_t mailbox = 0; ///< messages waiting for the registry
  /// Entries in DATA/damaged/ at start-up: what the store could not read
  /// and set aside (job_store.hpp); operators look, then remove by hand.
  uint64_t damaged = 0;
  job_end_stats ends;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, registry_stats& x) {
  return f(caf::meta::type_name("registry_stats"), x.coordinator,
           x.coordinator_answered, x.queued, x.started, x.finished, x.failed,
           x.canceled, x.max_running, x.max_queued, x.uptime_ms, x.mailbox,
           x.damaged, x.ends);
}

/// Announces every message type above, for sending them between nodes, and
/// sets the scheduler up for this kind of work: the heavy actors (workers,
/// finishers) run on threads of their own, so the scheduler needs only a few
/// threads, which sleep when idle ("sharing") rather than poll for work and
/// take CPU from the workers ("stealing", CAF's default).
/// With `network`, also loads CAF's middleman (worker nodes), with
/// heartbeats every second and a connection that stays silent for
/// `connection_timeout` closed, so a node that falls silent is seen as down.
void configure_actor_system(caf::actor_system_config& cfg,
                            bool network = false);

/// How long a silent connection between nodes is kept.
inline constexpr auto connection_timeout = std::chrono::seconds(5);

} // namespace playcount
