#include "actors/job_registry.hpp"

#include "actors/job_store.hpp"
#include "actors/messages.hpp"
#include "core/file_chores.hpp"
#include "core/spill.hpp"
#include "core/utf8.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

namespace playcount {

namespace {

using steady = std::chrono::steady_clock;

// How long the registry waits for the coordinator's progress or stats
// before it answers without them: a busy coordinator must not hold up the
// HTTP handlers.
constexpr auto coordinator_timeout = std::chrono::seconds(2);

// registry -> registry: write the server's peak memory into running jobs.
using sample_rss_atom = caf::atom_constant<caf::atom("samplerss")>;

// TEST ONLY: a job whose file name equals this environment variable's value
// kills the server (SIGKILL, as the kernel's OOM killer would) as soon as
// its start is counted on disk. The crash-loop tests use it; it is
// documented in docs/tests.md and never set by anything else.
constexpr const char* test_kill_env = "PLAYCOUNT_TEST_KILL_ON_FILE";

// The server's peak resident memory so far (VmHWM), in MiB; 0 if unknown.
uint64_t peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0)
      return std::strtoull(line.c_str() + 6, nullptr, 10) / 1024; // kB
  return 0;
}

// "once", "twice", "3 times"
std::string times(uint32_t n) {
  return n == 1 ? "once" : n == 2 ? "twice" : std::to_string(n) + " times";
}

// What a save failure says without the server's paths: the system's reason
// (save_record's messages end in ": <strerror>").
std::string save_failure(const std::string& error) {
  const size_t at = error.rfind(": ");
  return "the job's state could not be saved: " +
         (at == std::string::npos ? error : error.substr(at + 2));
}

struct registry_state {
  job_registry_config config;
  job_runner_actor coordinator;
  std::map<std::string, job_record> jobs;
  std::deque<std::string> queue; // queued ids, oldest first
  std::map<std::string, steady::time_point>
      running; // handed to the coordinator
  steady::time_point up_since = steady::now();
  /// Entries in DATA/damaged/ when the registry started.
  uint64_t damaged = 0;
  /// Jobs whose latest record is not on disk (a save failed): saved again
  /// on each sweep; their uploads are kept until it is.
  std::set<std::string> unsaved;
  /// TEST ONLY: see test_kill_env.
  std::string test_kill_file;
  bool draining = false; // warm shutdown: no queued job starts
  /// Where big inputs are closed once unlinked (see drop_input).
  std::unique_ptr<file_chores> closer = std::make_unique<file_chores>();
  /// Jobs whose upload still arrives (submitted with `growing`): their
  /// records are kept in memory only until the upload is whole.
  struct upload_under_way {
    std::shared_ptr<growing_file> growing;
    uint64_t announced = 0; // Content-Length; 0: unknown (chunked)
  };
  std::map<std::string, upload_under_way> uploading;
  /// Started jobs canceled to run again: the form's `on_bad_rows` came
  /// after its file and differs from the one they started with.
  std::set<std::string> rerun;
  /// Started jobs whose upload was cut: why, which is the reason they
  /// fail (not what the job makes of its input, removed meanwhile).
  std::map<std::string, std::string> cut;
  /// Ends and starts counted for GET /metrics (messages.hpp).
  job_end_stats ends;
  static inline const char* name = "playcount.job_registry";
};

// The registry's own interface: the public one and its timers.
using registry_impl_actor =
    job_registry_actor::extend<caf::reacts_to<expire_atom>,
                               caf::reacts_to<sample_rss_atom>>;
using registry_actor = registry_impl_actor::stateful_base<registry_state>;

bool has_ended(const job_record& r) {
  return r.state == job_state::finished || r.state == job_state::failed ||
         r.state == job_state::canceled;
}

// `r` has just ended in this process: counted by outcome, with how long it
// ran when it did (`ran`: it was started by this process, not found
// ended at start-up).
void count_end(registry_state& st, const job_record& r, bool ran = true) {
  seconds_histogram* seconds = nullptr;
  switch (r.state) {
  case job_state::finished:
    ++st.ends.finished;
    seconds = &st.ends.finished_seconds;
    break;
  case job_state::failed:
    ++st.ends.failed;
    seconds = &st.ends.failed_seconds;
    break;
  case job_state::canceled:
    ++st.ends.canceled;
    seconds = &st.ends.canceled_seconds;
    break;
  default:
    return;
  }
  if (ran && r.started_at > 0 && r.finished_at >= r.started_at)
    seconds->observe(static_cast<double>(r.finished_at - r.started_at) /
                     1000.0);
}

bool is_expired(const registry_state& st, const job_record& r, int64_t now) {
  return has_ended(r) && r.finished_at + st.config.result_ttl.count() <= now;
}

job_paths paths(const registry_state& st, const std::string& id) {
  return paths_for(st.config.data_dir, id);
}

// Saves the record; a failure is logged, not fatal: the record is saved
// again on each sweep (see unsaved), and after a crash in between the job
// is seen in its previous saved state (at worst it runs again).
bool save(registry_state& st, const job_record& r, std::string* why = nullptr) {
  if (st.uploading.count(r.id) != 0)
    return true; // saved when the upload is whole (uploaded)
  if (auto saved = save_record(paths(st, r.id), r); !saved) {
    const std::string error = saved.error().text();
    spdlog::error("job {}: cannot save its state: {}", r.id, error);
    st.unsaved.insert(r.id);
    if (why != nullptr)
      *why = error;
    return false;
  }
  st.unsaved.erase(r.id);
  return true;
}

// Saves again what could not be saved before; an ended job's upload goes
// once its end is on disk.
void save_again(registry_state& st) {
  const std::set<std::string> ids = st.unsaved;
  for (const auto& id : ids) {
    auto i = st.jobs.find(id);
    if (i == st.jobs.end()) {
      st.unsaved.erase(id);
      continue;
    }
    if (!save_record(paths(st, id), i->second))
      continue; // still failing: logged when it first failed
    st.unsaved.erase(id);
    spdlog::info("job {}: its state is saved now", id);
    if (has_ended(i->second))
      (void)remove_file(paths(st, id).input);
  }
}

// A job's error as API clients see it: its files by their names in the
// job's directory, not where the server keeps them (the coordinator's
// actors name whole paths, which the log keeps: on_result).
std::string without_job_dir(std::string error, const job_paths& p) {
  const std::string dir = p.dir + "/";
  for (size_t at = error.find(dir); at != std::string::npos;
       at = error.find(dir, at))
    error.erase(at, dir.size());
  return error;
}

void drop_file(const std::string& path) {
  if (auto removed = remove_file(path); !removed)
    spdlog::warn("{}", removed.error().text());
}

// Removes a job's input without waiting for the file system to free its
// blocks (up to a second for a big one, which would hold every answer of
// the registry): its name goes now, the last descriptor closes elsewhere.
void drop_input(registry_state& st, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  drop_file(path);
  st.closer->close(fd);
}

// A result that does not count, and what was made from it.
void drop_result(const job_paths& p) {
  drop_file(p.result);
  drop_file(p.summary);
  drop_file(p.index);
}

void drop_job(registry_state& st, const std::string& id) {
  if (auto removed = remove_job_files(paths(st, id)); !removed)
    spdlog::warn("{}", removed.error().text());
  if (st.config.on_removed) // e.g. its song index, mapped by the server
    st.config.on_removed(id);
  st.jobs.erase(id);
  st.unsaved.erase(id);
}

// Removes the jobs whose time to live has run out.
void expire(registry_state& st) {
  const int64_t now = now_ms();
  std::vector<std::string> gone;
  for (const auto& [id, r] : st.jobs)
    if (is_expired(st, r, now))
      gone.push_back(id);
  for (const auto& id : gone) {
    spdlog::info("job {} expired: removed", id);
    drop_job(st, id);
  }
}

// The record if the job exists and has not expired (an expired one is
// removed on the spot).
job_record* find(registry_state& st, const std::string& id) {
  auto i = st.jobs.find(id);
  if (i == st.jobs.end())
    return nullptr;
  if (is_expired(st, i->second, now_ms())) {
    spdlog::info("job {} expired: removed", id);
    drop_job(st, id);
    return nullptr;
  }
  return &i->second;
}

// The coordinator's view of a started job, kept in the registry's record:
// once the coordinator is done with it and its result is on the way, the
// last progress shown stays (never back to nothing).
void apply_progress(job_record& r, const job_status& s) {
  if (!s.known || r.state != job_state::started)
    return;
  r.phase = s.phase;
  r.rows = s.rows;
  r.progress = s.progress;
  if (r.upload_started_at != 0) // uploaded whole before it started
    r.progress.uploading = phase_progress{r.bytes_total, r.bytes_total};
  // Bytes of the file read so far (the header counts once planned): of
  // the upload's size while it arrives, so never more than that.
  r.bytes_done = std::min(std::max(r.bytes_total, s.bytes_total), s.bytes_done);
}

bool admits(const registry_state& st) {
  return st.running.size() < st.config.max_running ||
         st.queue.size() < st.config.max_queued;
}

void pump(registry_actor* self);

void on_result(registry_actor* self, const std::string& id, job_result& res) {
  remove_spills(paths(self->state, id).spill); // however it ended
  auto& st = self->state;
  const auto cut = st.cut.find(id);
  std::optional<std::string> cut_reason;
  if (cut != st.cut.end()) {
    cut_reason = std::move(cut->second);
    st.cut.erase(cut);
  }
  double seconds = 0;
  if (auto t = st.running.find(id); t != st.running.end()) {
    seconds = std::chrono::duration<double>(steady::now() - t->second).count();
    st.running.erase(t);
  }
  const job_paths p = paths(st, id);
  auto i = st.jobs.find(id);
  if (st.rerun.erase(id) != 0 && i != st.jobs.end() &&
      i->second.state == job_state::started) {
    job_record& r = i->second;
    r.state = job_state::queued;
    r.started_at = 0;
    r.bytes_done = 0;
    r.rows = 0;
    r.phase.clear();
    r.progress = {};
    save(st, r);
    st.queue.push_front(id);
    spdlog::info("job {} runs again: its form's on_bad_rows came after the "
                 "file, as {}",
                 id, to_string(r.on_bad_rows));
    return pump(self);
  }
  if (i == st.jobs.end()) {
    // Deleted while it ran: whatever the job left behind goes too.
    (void)remove_job_files(p);
  } else if (has_ended(i->second)) {
    // Canceled, or failed when its upload was cut (the reason that counts,
    // not what the job made of its missing input): a result that came too
    // late to count.
    drop_result(p);
    if (st.unsaved.count(id) == 0)
      drop_file(p.input);
  } else {
    job_record& r = i->second;
    r.finished_at = now_ms();
    r.phase.clear();
    r.progress = {};
    r.rows = res.rows;
    r.bad_rows = res.bad_rows;
    r.first_bad.clear();
    for (const auto& line : res.first_bad)
      r.first_bad.push_back(printable_utf8(line));
    if (res.ok) {
      r.state = job_state::finished;
      r.groups = res.groups;
      r.scan_seconds = res.scan_seconds;
      r.read_seconds = res.read_seconds;
      r.merge_seconds = res.merge_seconds;
      r.write_seconds = res.write_seconds;
      r.spilled_bytes = res.spilled_bytes;
      r.bytes_done = r.bytes_total;
      // The finisher renamed the result into the directory: make the name
      // durable before the record says the result is there.
      if (auto synced = sync_dir(p.dir); !synced)
        spdlog::warn("job {}: {}", id, synced.error().text());
      spdlog::info("job {} finished in {:.3f} s: {} rows, {} groups", id,
                   seconds, r.rows, r.groups);
    } else {
      r.state = job_state::failed;
      r.error = res.error.empty()
                    ? "the job failed"
                    : printable_utf8(without_job_dir(res.error, p));
      if (cut_reason)
        r.error = std::move(*cut_reason);
      drop_result(p);
      // The log names the whole path, where there was one.
      spdlog::warn("job {} failed after {:.3f} s: {}", id, seconds,
                   cut_reason || res.error.empty() ? r.error
                                                   : printable_utf8(res.error));
    }
    count_end(st, r);
    // The upload goes only once the end is on disk: a restart before then
    // runs the job again rather than finding its input gone. One still
    // arriving stays until it is whole (uploaded: the form may yet ask for
    // another on_bad_rows, and the job then runs again).
    if (st.uploading.count(id) == 0 && save(st, r))
      drop_input(st, p.input);
  }
  pump(self);
}

// Starts queued jobs, oldest first, while their pool has a free slot.
// Jobs whose upload still arrives run in a pool of their own, as many as
// max_running: a slow upload (it may take as long as --max-upload over
// --min-upload-rate) never keeps a job whose input is whole waiting.
bool has_slot(const registry_state& st, bool uploading) {
  size_t n = 0;
  for (const auto& run : st.running)
    n += static_cast<size_t>((st.uploading.count(run.first) != 0) == uploading);
  return n < st.config.max_running;
}

void pump(registry_actor* self) {
  auto& st = self->state;
  for (auto q = st.queue.begin(); !st.draining && q != st.queue.end();) {
    const std::string id = *q;
    auto i = st.jobs.find(id);
    if (i == st.jobs.end() || i->second.state != job_state::queued) {
      q = st.queue.erase(q);
      continue;
    }
    if (!has_slot(st, st.uploading.count(id) != 0)) {
      ++q; // its pool is full; the other's may not be
      continue;
    }
    q = st.queue.erase(q);
    job_record& r = i->second;
    r.state = job_state::started;
    r.started_at = now_ms();
    // The attempt is on disk before the job runs: a job that takes the
    // server down is counted even when nothing else gets written.
    ++r.attempts;
    r.peak_rss_mb = peak_rss_mb(); // this run's, not an earlier one's
    if (std::string error; !save(st, r, &error)) {
      // Running a job whose attempt is not counted could loop; and a full
      // disk would fail it anyway. The upload stays (the record on disk
      // still says queued: it runs at the next start).
      r.state = job_state::failed;
      r.error = save_failure(error);
      r.finished_at = now_ms();
      --r.attempts;
      count_end(st, r, false);
      spdlog::warn("job {} failed: {}", id, r.error);
      continue;
    }
    if (!st.test_kill_file.empty() && r.file_name == st.test_kill_file) {
      spdlog::warn("job {}: killing the server ({} is set: a test)", id,
                   test_kill_env);
      spdlog::default_logger()->flush();
      ::kill(::getpid(), SIGKILL);
    }
    st.running[id] = steady::now();
    if (r.created_at > 0 && r.started_at >= r.created_at)
      st.ends.queue_wait.observe(
          static_cast<double>(r.started_at - r.created_at) / 1000.0);
    spdlog::info("job {} started ({} bytes, {} waiting)", id, r.bytes_total,
                 st.queue.size());
    const job_paths p = paths(st, id);
    job_request request;
    request.id = id;
    request.input_path = p.input;
    request.output_path = p.result;
    // Written with the result, before the job is told finished (issue 15).
    request.summary_path = p.summary;
    request.index_path = p.index;
    request.range_size = st.config.range_size;
    request.on_bad_rows = r.on_bad_rows;
    request.durable = true;
    if (auto u = st.uploading.find(id); u != st.uploading.end())
      request.growing = u->second.growing;
    if (st.config.memory_limit > 0 &&
        (::mkdir(p.spill.c_str(), 0700) == 0 || errno == EEXIST)) {
      request.spill_dir = p.spill;
      request.memory_limit =
          st.config.memory_limit / std::max<uint64_t>(1, st.config.max_running);
    }
    self->request(st.coordinator, caf::infinite, std::move(request))
        .then([=](job_result& res) { on_result(self, id, res); },
              [=](caf::error& e) {
                job_result res;
                res.id = id;
                res.error = "the coordinator failed: " + to_string(e);
                on_result(self, id, res);
              });
  }
}

submit_reply submit(registry_actor* self, const job_submission& in) {
  auto& st = self->state;
  submit_reply out;
  if (!is_job_id(in.id) || st.jobs.count(in.id) != 0) {
    out.status = submit_reply::failed;
    out.error = "a job with this id exists";
    return out;
  }
  if (!admits(st)) {
    out.status = submit_reply::queue_full;
    out.retry_after = st.config.retry_after;
    spdlog::warn("job {} refused: {} jobs running, {} waiting", in.id,
                 st.running.size(), st.queue.size());
    return out;
  }
  if (in.growing && in.growing->now().failed) {
    // Cut off before this submission came (its uploaded_atom, sent by
    // another actor, was here first and found no job): the upload's files
    // are nobody's now.
    (void)remove_job_files(paths(st, in.id));
    out.status = submit_reply::failed;
    out.error = in.growing->now().failed->text();
    return out;
  }
  job_record r;
  r.id = in.id;
  r.state = job_state::queued;
  r.file_name = printable_utf8(in.file_name);
  r.on_bad_rows = in.on_bad_rows;
  r.bytes_total = in.bytes;
  r.created_at = now_ms();
  r.upload_started_at = in.upload_started_at;
  if (in.growing)
    st.uploading[r.id] = {in.growing, in.bytes};
  else if (auto saved = save_record(paths(st, r.id), r); !saved) {
    out.status = submit_reply::failed;
    out.error = saved.error().text();
    spdlog::error("job {} not queued: {}", r.id, out.error);
    return out;
  }
  st.jobs[r.id] = r;
  st.queue.push_back(r.id);
  spdlog::info("job {} queued ({} bytes{}{})", r.id, r.bytes_total,
               r.file_name.empty() ? "" : ", ", r.file_name);
  pump(self);
  out.status = submit_reply::accepted;
  out.record = st.jobs[r.id];
  return out;
}

// Cancels a started job in the coordinator; its answer (canceled) comes to
// on_result.
void cancel_running(registry_actor* self, const std::string& id) {
  self->request(self->state.coordinator, coordinator_timeout,
                cancel_atom::value, id)
      .then([](bool) {},
            [=](caf::error& e) {
              spdlog::warn(
                  "job {}: the coordinator did not take the cancel: {}", id,
                  to_string(e));
            });
}

// The upload of a job submitted while it arrived is whole, or was cut off
// (`error`).
submit_reply uploaded(registry_actor* self, const job_submission& in,
                      const std::string& error) {
  auto& st = self->state;
  submit_reply out;
  auto u = st.uploading.find(in.id);
  if (u == st.uploading.end()) {
    // Cut off before its submission was taken (or it was refused, the queue
    // being full): no job owns the upload's files.
    if (!error.empty() && is_job_id(in.id) && st.jobs.count(in.id) == 0)
      (void)remove_job_files(paths(st, in.id));
    out.error = "no upload of this job is under way";
    return out;
  }
  st.uploading.erase(u);
  auto i = st.jobs.find(in.id);
  if (i == st.jobs.end()) {
    out.error = "the job was deleted while it was uploaded";
    return out;
  }
  job_record& r = i->second;
  const job_paths p = paths(st, r.id);
  const auto unqueue = [&] {
    if (auto q = std::find(st.queue.begin(), st.queue.end(), r.id);
        q != st.queue.end())
      st.queue.erase(q);
  };
  if (!error.empty()) {
    // The input can never run: it goes first, so that a full disk that cut
    // the upload has room for the record that says so.
    drop_file(p.input);
    // A started job fails on its own, for this reason.
    if (r.state == job_state::started)
      st.cut[r.id] = printable_utf8(error);
    if (r.state == job_state::queued) {
      unqueue();
      r.state = job_state::failed;
      r.error = printable_utf8(error);
      r.finished_at = now_ms();
      count_end(st, r);
    }
    if (r.state != job_state::started)
      save(st, r);
    spdlog::warn("job {}: {}", r.id, error);
    out.error = error;
    return out;
  }
  r.bytes_total = in.bytes;
  r.file_name = printable_utf8(in.file_name);
  bool requeued = false;
  if (in.on_bad_rows != r.on_bad_rows) {
    // The form's on_bad_rows came after its file: the job runs again with
    // it, from the whole input.
    r.on_bad_rows = in.on_bad_rows;
    if (r.state == job_state::started) {
      st.rerun.insert(r.id);
      cancel_running(self, r.id);
    } else if (r.state == job_state::failed) {
      r.state = job_state::queued;
      r.error.clear();
      r.started_at = 0;
      r.finished_at = 0;
      r.bytes_done = 0;
      r.rows = 0;
      r.bad_rows = 0;
      r.first_bad.clear();
      r.phase.clear();
      r.progress = {};
      st.queue.push_front(r.id);
      requeued = true;
    }
  }
  if (std::string why; !save(st, r, &why)) {
    // As a submission that cannot be saved: the job was never taken.
    if (r.state == job_state::started)
      cancel_running(self, r.id); // on_result removes what it left
    unqueue();
    st.rerun.erase(r.id);
    drop_job(st, r.id);
    out.error = why;
    return out;
  }
  if (has_ended(r))
    drop_file(p.input); // a bad record ended it before the upload did
  spdlog::info("job {}: its upload is whole ({} bytes{}{})", r.id,
               r.bytes_total, r.file_name.empty() ? "" : ", ", r.file_name);
  out.status = submit_reply::accepted;
  out.record = r;
  if (requeued)
    pump(self);
  return out;
}

// How far the upload of a job still arriving is, as its progress.
void show_upload(const registry_state& st, job_record& r) {
  auto u = st.uploading.find(r.id);
  if (u == st.uploading.end() || has_ended(r))
    return;
  // bytesDone stays what the job has read: it only moves forward.
  r.phase = "uploading";
  const uint64_t landed = u->second.growing->now().size;
  r.bytes_total = std::max(u->second.announced, landed);
  r.progress.uploading = phase_progress{landed, r.bytes_total};
}

// Whether `text` holds `part`, ASCII letters in any case.
bool holds(std::string_view text, std::string_view part) {
  const auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  return std::search(text.begin(), text.end(), part.begin(), part.end(),
                     [&](char a, char b) { return lower(a) == lower(b); }) !=
         text.end();
}

// The page of GET /jobs/ that `q` asks for. The order (newest first, then
// by id) is total, so a cursor (created_at, id) splits the list in two
// however many jobs come meanwhile: a new job is created after the cursor's
// and sorts before it, never onto a later page.
job_list list_jobs(const registry_state& st, const job_query& q) {
  const auto newer = [](int64_t created_a, const std::string& id_a,
                        int64_t created_b, const std::string& id_b) {
    return created_a != created_b ? created_a > created_b : id_a < id_b;
  };
  job_list out;
  std::vector<const job_record*> page;
  for (const auto& [id, r] : st.jobs) {
    if (q.states != 0 &&
        (q.states & (1u << static_cast<unsigned>(r.state))) == 0)
      continue;
    if (!q.text.empty() && !holds(r.file_name, q.text) && !holds(r.id, q.text))
      continue;
    ++out.total;
    if (q.before_created != 0 &&
        !newer(q.before_created, q.before_id, r.created_at, r.id))
      continue;
    page.push_back(&r);
  }
  const auto by_age = [&](const job_record* a, const job_record* b) {
    return newer(a->created_at, a->id, b->created_at, b->id);
  };
  const size_t n = std::min<size_t>(page.size(), q.limit);
  std::partial_sort(page.begin(), page.begin() + static_cast<ptrdiff_t>(n),
                    page.end(), by_age);
  out.more = page.size() > n;
  out.jobs.reserve(n);
  for (size_t i = 0; i < n; ++i)
    out.jobs.push_back(*page[i]);
  return out;
}

job_deletion remove(registry_actor* self, const std::string& id) {
  auto& st = self->state;
  job_deletion out;
  job_record* r = find(st, id);
  if (r == nullptr)
    return out;
  out.found = true;
  const job_paths p = paths(st, id);
  if (r->state != job_state::queued && r->state != job_state::started) {
    out.record = *r;
    spdlog::info("job {} deleted with its files", id);
    drop_job(st, id);
    return out;
  }
  const bool was_queued = r->state == job_state::queued;
  if (was_queued) {
    if (auto q = std::find(st.queue.begin(), st.queue.end(), id);
        q != st.queue.end())
      st.queue.erase(q);
  } else {
    // Stops the job's outstanding ranges; the coordinator then answers the
    // job's request as canceled, which frees the slot and removes the
    // input (on_result).
    self->request(st.coordinator, coordinator_timeout, cancel_atom::value, id)
        .then([](bool) {},
              [=](caf::error& e) {
                spdlog::warn(
                    "job {}: the coordinator did not take the cancel: {}", id,
                    to_string(e));
              });
  }
  r->state = job_state::canceled;
  r->finished_at = now_ms();
  r->phase.clear();
  count_end(st, *r);
  if (save(st, *r) && was_queued)
    drop_file(p.input);
  spdlog::info("job {} canceled", id);
  out.canceled = true;
  out.record = *r;
  return out;
}

// Writes the server's peak memory into the running jobs' records when it
// grew by an eighth (and at least 8 MiB) since last written: memory that
// runs away is seen within a sample or two, and a job whose memory holds
// still costs no writes (VmHWM only grows).
void sample_rss(registry_state& st) {
  if (st.running.empty())
    return;
  const uint64_t mb = peak_rss_mb();
  for (const auto& [id, since] : st.running) {
    auto i = st.jobs.find(id);
    if (i == st.jobs.end() || i->second.state != job_state::started)
      continue;
    const uint64_t last = i->second.peak_rss_mb;
    if (mb < last + std::max<uint64_t>(8, last / 8))
      continue;
    i->second.peak_rss_mb = mb;
    save(st, i->second);
  }
}

// A clean stop (exit_reason::user_shutdown, what `serve` sends on SIGTERM
// or SIGINT): the jobs still running did not take the server down, so their
// attempts are taken back; they run again at the next start as before.
void stop_cleanly(registry_state& st) {
  for (const auto& [id, since] : st.running) {
    auto i = st.jobs.find(id);
    if (i == st.jobs.end() || i->second.state != job_state::started ||
        i->second.attempts == 0)
      continue;
    --i->second.attempts;
    if (save(st, i->second))
      spdlog::info("job {} stopped with the server: runs again at the next "
                   "start (a clean stop, not counted as an attempt)",
                   id);
  }
}

registry_impl_actor::behavior_type registry(registry_actor* self,
                                            job_runner_actor coordinator,
                                            job_registry_config config,
                                            stored_jobs stored) {
  auto& st = self->state;
  st.config = std::move(config);
  st.coordinator = std::move(coordinator);
  st.damaged = stored.damaged_total;
  if (const char* kill_file = std::getenv(test_kill_env))
    st.test_kill_file = kill_file;
  const int64_t now = now_ms();
  for (auto& r : stored.records) {
    const job_paths p = paths(st, r.id);
    if (is_expired(st, r, now)) {
      spdlog::info("job {} expired while the server was down: removed", r.id);
      (void)remove_job_files(p);
      continue;
    }
    if (r.state == job_state::started && r.attempts >= st.config.max_attempts) {
      // It took the server down max_attempts times: not once more.
      r.state = job_state::failed;
      r.error =
          "the server stopped " + times(r.attempts) + " while this job ran";
      if (r.peak_rss_mb > 0)
        r.error +=
            "; the last time it used " + std::to_string(r.peak_rss_mb) + " MB";
      r.finished_at = now;
      r.phase.clear();
      r.progress = {};
      count_end(st, r, false);
      spdlog::warn("job {} failed: {} (--max-attempts {})", r.id, r.error,
                   st.config.max_attempts);
      // A server killed after the result's rename but before the record
      // said finished left a result: a failed job keeps none.
      drop_result(p);
      if (save(st, r))
        drop_file(p.input);
    } else if (r.state == job_state::queued || r.state == job_state::started) {
      if (::access(p.input.c_str(), R_OK) != 0) {
        // Uploads go only after the job's end is saved: a started job
        // without one lost it another way (an older server dropped it
        // after failing to save the end, on a full disk; or a hand).
        r.error = r.state == job_state::queued
                      ? "the upload was lost before the job ran"
                      : "the upload was gone at restart: the job's last "
                        "state was not saved (a full disk?) or its files "
                        "were removed";
        r.state = job_state::failed;
        r.finished_at = now;
        count_end(st, r, false);
        drop_result(p); // as above: a failed job keeps no result
        spdlog::warn("job {} failed: {}", r.id, r.error);
      } else {
        if (r.state == job_state::started)
          spdlog::info("job {} was interrupted: queued again (attempt {} of "
                       "{} next)",
                       r.id, r.attempts + 1, st.config.max_attempts);
        r.state = job_state::queued;
        r.started_at = 0;
        r.bytes_done = 0;
        r.rows = 0;
        r.phase.clear();
        r.progress = {};
        st.queue.push_back(r.id); // records come oldest first
      }
      save(st, r);
    } else {
      // Died between saving the end and removing the upload.
      drop_file(p.input);
      if (r.state == job_state::finished &&
          ::access(p.result.c_str(), R_OK) != 0) {
        // Never "finished" without the bytes to serve.
        r.state = job_state::failed;
        r.error = "the result was lost while the server was down";
        count_end(st, r, false);
        spdlog::warn("job {} failed: {}", r.id, r.error);
        save(st, r);
      }
    }
    st.jobs[r.id] = std::move(r);
  }
  // Sweep often enough that a result outlives its time to live by at most a
  // quarter of it (and by no more than a minute).
  const auto sweep = std::clamp<std::chrono::milliseconds>(
      st.config.result_ttl / 4, std::chrono::milliseconds(50),
      std::chrono::minutes(1));
  self->delayed_send(self, sweep, expire_atom::value);
  self->delayed_send(self, st.config.rss_interval, sample_rss_atom::value);
  self->set_exit_handler([=](caf::exit_msg& msg) {
    if (msg.reason == caf::exit_reason::user_shutdown)
      stop_cleanly(self->state);
    self->quit(msg.reason);
  });
  pump(self);
  return {
      [=](expire_atom) {
        save_again(self->state);
        expire(self->state);
        self->delayed_send(self, sweep, expire_atom::value);
      },
      [=](sample_rss_atom) {
        sample_rss(self->state);
        // A record that could not be saved is tried again this often, not
        // only at the sweep: a full disk that cut an upload has room again
        // as soon as the job's readers let go of its input.
        save_again(self->state);
        self->delayed_send(self, self->state.config.rss_interval,
                           sample_rss_atom::value);
      },
      [=](admit_atom) {
        return admits(self->state)
                   ? uint32_t{0}
                   : std::max(uint32_t{1}, self->state.config.retry_after);
      },
      [=](submit_atom, const job_submission& in) { return submit(self, in); },
      [=](uploaded_atom, const job_submission& in, const std::string& error) {
        return uploaded(self, in, error);
      },
      [=](drain_atom) {
        self->state.draining = true;
        return static_cast<uint32_t>(self->state.running.size());
      },
      [=](delete_atom, const std::string& id) { return remove(self, id); },
      [=](lookup_atom, const std::string& id) -> caf::result<job_lookup> {
        auto rp = self->make_response_promise<job_lookup>();
        job_record* r = find(self->state, id);
        if (r == nullptr) {
          rp.deliver(job_lookup{});
        } else if (r->state != job_state::started) {
          job_record out = *r;
          show_upload(self->state, out);
          rp.deliver(job_lookup{true, std::move(out)});
        } else {
          self->request(self->state.coordinator, coordinator_timeout,
                        status_atom::value, id)
              .then(
                  [=](const job_status& s) mutable {
                    auto i = self->state.jobs.find(id);
                    if (i == self->state.jobs.end()) {
                      rp.deliver(job_lookup{});
                      return;
                    }
                    apply_progress(i->second, s);
                    job_record out = i->second;
                    show_upload(self->state, out);
                    rp.deliver(job_lookup{true, std::move(out)});
                  },
                  [=](caf::error&) mutable {
                    auto i = self->state.jobs.find(id);
                    rp.deliver(i == self->state.jobs.end()
                                   ? job_lookup{}
                                   : job_lookup{true, i->second});
                  });
        }
        return rp;
      },
      [=](list_atom, const job_query& query) -> caf::result<job_list> {
        expire(self->state);
        job_list out = list_jobs(self->state, query);
        for (auto& r : out.jobs)
          show_upload(self->state, r);
        // Progress of the running ones: at most max_running questions.
        auto rp = self->make_response_promise<job_list>();
        auto shared = std::make_shared<job_list>(std::move(out));
        auto waiting = std::make_shared<size_t>(0);
        for (auto& r : shared->jobs)
          if (r.state == job_state::started)
            ++*waiting;
        if (*waiting == 0) {
          rp.deliver(std::move(*shared));
          return rp;
        }
        for (size_t i = 0; i < shared->jobs.size(); ++i) {
          if (shared->jobs[i].state != job_state::started)
            continue;
          auto done = [=]() mutable {
            if (--*waiting == 0)
              rp.deliver(*shared);
          };
          self->request(self->state.coordinator, coordinator_timeout,
                        status_atom::value, shared->jobs[i].id)
              .then(
                  [=](const job_status& s) mutable {
                    job_record& r = shared->jobs[i];
                    if (auto kept = self->state.jobs.find(r.id);
                        kept != self->state.jobs.end() &&
                        kept->second.state == job_state::started) {
                      apply_progress(kept->second, s);
                      r = kept->second;
                    }
                    show_upload(self->state, r);
                    done();
                  },
                  [=](caf::error&) mutable { done(); });
        }
        return rp;
      },
      [=](stats_atom) -> caf::result<registry_stats> {
        auto& st = self->state;
        registry_stats out;
        for (const auto& [id, r] : st.jobs) {
          switch (r.state) {
          case job_state::queued:
            ++out.queued;
            break;
          case job_state::started:
            ++out.started;
            break;
          case job_state::finished:
            ++out.finished;
            break;
          case job_state::failed:
            ++out.failed;
            break;
          case job_state::canceled:
            ++out.canceled;
            break;
          }
        }
        out.ends = st.ends;
        out.max_running = st.config.max_running;
        out.max_queued = st.config.max_queued;
        out.damaged = st.damaged;
        out.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            steady::now() - st.up_since)
                            .count();
        // Counted by the registry itself, the one thread that may look.
        out.mailbox = self->mailbox().size();
        auto rp = self->make_response_promise<registry_stats>();
        self->request(st.coordinator, coordinator_timeout, stats_atom::value)
            .then(
                [=](coordinator_stats& c) mutable {
                  registry_stats full = out;
                  full.coordinator = std::move(c);
                  full.coordinator_answered = true;
                  rp.deliver(std::move(full));
                },
                [=](caf::error& e) mutable {
                  spdlog::warn("the coordinator gave no stats: {}",
                               to_string(e));
                  rp.deliver(out);
                });
        return rp;
      },
  };
}

} // namespace

result<job_registry_actor>
spawn_job_registry(caf::actor_system& system,
                   const job_runner_actor& coordinator,
                   job_registry_config config) {
  auto loaded = load_jobs(config.data_dir);
  if (!loaded)
    return std::move(loaded).error();
  stored_jobs stored = std::move(*loaded);
  // Names on disk are anyone's bytes: escaped for the log like the rest.
  for (const auto& r : stored.removed)
    spdlog::info("removed {}: {}", printable_utf8(r.path), r.why);
  for (const auto& d : stored.damaged) {
    const std::string path = printable_utf8(d.path);
    const std::string why = printable_utf8(d.why);
    const std::string moved_to = printable_utf8(d.moved_to);
    if (d.recovered)
      spdlog::warn("{}: job.json could not be read ({}); its complete "
                   "result.csv is served under a rebuilt record, the rest "
                   "set aside in {}",
                   path, why, moved_to);
    else if (!d.moved_to.empty())
      spdlog::warn("{} could not be read ({}): set aside in {}", path, why,
                   moved_to);
    else
      spdlog::error("{} could not be read ({}) nor set aside ({}): left "
                    "where it is",
                    path, why, printable_utf8(d.error));
  }
  if (stored.damaged_total > 0)
    spdlog::warn("{} damaged job director{} set aside in {} (never removed "
                 "by the server: look, then remove by hand)",
                 stored.damaged_total,
                 stored.damaged_total == 1 ? "y is" : "ies are",
                 damaged_dir(config.data_dir));
  return job_registry_actor{system.spawn(registry, coordinator,
                                         std::move(config), std::move(stored))};
}

} // namespace playcount
