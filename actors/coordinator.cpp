#include "actors/coordinator.hpp"

#include "actors/finisher.hpp"
#include "actors/messages.hpp"
#include "core/csv_layout.hpp"
#include "core/job_outcome.hpp"
#include "core/mapped_file.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>

namespace playcount {

namespace {

// A job from its request to its result.
struct job_run {
  enum phase_type { scanning, reading, finishing };

  job_request request;
  caf::response_promise promise;
  csv_layout layout;
  phase_type phase = scanning;
  std::vector<byte_range> chunks;
  std::vector<chunk_scan> scans;
  size_t scans_left = 0;
  std::vector<byte_range> ranges;
  std::vector<std::optional<range_report>> reports;
  std::deque<uint32_t> todo; // items of the current phase not handed out
  /// In fail mode, the first range with a bad record: later ranges are not
  /// needed (the job fails with the first error in file order).
  uint32_t last_needed = UINT32_MAX;
  /// Ranges each worker has read into its partial: lost if it goes down.
  std::map<caf::actor_addr, std::vector<uint32_t>> read_by;
  /// Every worker that was handed an item: each keeps state for the job
  /// until it is collected or dropped.
  std::set<caf::actor_addr> touched;
  uint64_t bytes_total = 0;
  uint64_t bytes_done = 0;
  uint64_t rows = 0;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point scanned = started;

  [[nodiscard]] const char* phase_name() const {
    return phase == scanning ? "scanning"
                             : phase == reading ? "reading" : "merging";
  }
};

// An item handed to a worker and not yet reported.
struct in_flight {
  std::string job;
  uint8_t kind;
  uint32_t index;
};

struct worker_entry {
  caf::actor handle;
  std::string node;
  uint64_t ranges_done = 0;
  uint64_t bytes_done = 0;
  uint64_t mailbox = 0; // as last reported
  std::optional<caf::response_promise> waiting; // an unanswered ask
  std::optional<in_flight> item;
};

struct coordinator_state {
  std::map<caf::actor_addr, worker_entry> workers;
  std::deque<caf::actor_addr> idle; // workers with an unanswered ask
  std::map<std::string, job_run> jobs;
  std::vector<std::string> arrival; // job ids, oldest first
  static inline const char* name = "playcount.coordinator";
};

using coordinator_actor = caf::stateful_actor<coordinator_state>;

job_result failed(const job_request& request, std::string error) {
  job_result out;
  out.id = request.id;
  out.error = std::move(error);
  return out;
}

void finish(coordinator_actor* self, job_run& job);

// Hands queued items to waiting workers, oldest job first.
void dispatch(coordinator_actor* self) {
  auto& st = self->state;
  while (!st.idle.empty()) {
    job_run* job = nullptr;
    for (const auto& id : st.arrival) {
      auto& candidate = st.jobs.at(id);
      if (candidate.phase != job_run::finishing && !candidate.todo.empty()) {
        job = &candidate;
        break;
      }
    }
    if (job == nullptr)
      return;
    const caf::actor_addr addr = st.idle.front();
    st.idle.pop_front();
    auto w = st.workers.find(addr);
    if (w == st.workers.end() || !w->second.waiting)
      continue;
    const uint32_t index = job->todo.front();
    job->todo.pop_front();
    work_item item;
    item.job = job->request.id;
    item.path = job->request.input_path;
    item.index = index;
    item.layout = job->layout;
    item.skip_bad_rows = job->request.skip_bad_rows;
    if (job->phase == job_run::scanning) {
      item.kind = work_item::scan;
      item.range = job->chunks[index];
    } else {
      item.kind = work_item::read;
      item.range = job->ranges[index];
    }
    w->second.item = in_flight{item.job, item.kind, index};
    job->touched.insert(addr);
    w->second.waiting->deliver(std::move(item));
    w->second.waiting.reset();
  }
}

void start_job(coordinator_actor* self, job_request request,
               caf::response_promise promise) {
  auto& st = self->state;
  if (st.jobs.count(request.id) != 0) {
    promise.deliver(failed(request, "a job with this id is running"));
    return;
  }
  mapped_file file;
  std::string error;
  if (!file.open(request.input_path, error)) {
    promise.deliver(failed(request, error));
    return;
  }
  auto layout = read_layout(file.bytes());
  if (auto* e = std::get_if<input_error>(&layout)) {
    promise.deliver(failed(request, e->to_string()));
    return;
  }
  job_run job;
  job.layout = std::get<csv_layout>(layout);
  job.chunks = nominal_chunks(job.layout.data_begin, file.size(),
                              request.range_size);
  job.scans.resize(job.chunks.size());
  job.scans_left = job.chunks.size();
  for (uint32_t i = 0; i < job.chunks.size(); ++i)
    job.todo.push_back(i);
  job.bytes_total = file.size() - job.layout.data_begin;
  job.request = std::move(request);
  job.promise = std::move(promise);
  const std::string id = job.request.id;
  auto& stored = st.jobs.emplace(id, std::move(job)).first->second;
  st.arrival.push_back(id);
  if (stored.chunks.empty()) { // a header and nothing else
    stored.phase = job_run::reading;
    finish(self, stored);
    return;
  }
  dispatch(self);
}

void maybe_finish(coordinator_actor* self, job_run& job) {
  const size_t needed =
    std::min<size_t>(job.ranges.size(), size_t{job.last_needed} + 1);
  for (size_t i = 0; i < needed; ++i)
    if (!job.reports[i])
      return;
  finish(self, job);
}

void on_scan(coordinator_actor* self, job_run& job, const scan_done& done) {
  if (job.phase != job_run::scanning)
    return;
  job.scans[done.index] = done.scan;
  if (--job.scans_left > 0)
    return;
  job.scanned = std::chrono::steady_clock::now();
  job.ranges = plan_ranges(job.chunks, job.scans);
  job.reports.assign(job.ranges.size(), std::nullopt);
  job.phase = job_run::reading;
  for (uint32_t i = 0; i < job.ranges.size(); ++i)
    job.todo.push_back(i);
  maybe_finish(self, job); // no ranges: nothing to read
}

void on_read(coordinator_actor* self, job_run& job, const caf::actor_addr& from,
             read_done& done) {
  if (job.phase != job_run::reading || job.reports[done.index])
    return;
  job.bytes_done += job.ranges[done.index].size();
  job.rows += done.report.rows;
  job.read_by[from].push_back(done.index);
  const bool stops = done.report.error && (!job.request.skip_bad_rows ||
                                           done.report.overflow);
  if (stops && done.index < job.last_needed) {
    job.last_needed = done.index;
    job.todo.erase(std::remove_if(job.todo.begin(), job.todo.end(),
                                  [&](uint32_t i) { return i > done.index; }),
                   job.todo.end());
  }
  job.reports[done.index] = std::move(done.report);
  maybe_finish(self, job);
}

// Tells the workers in `addrs` to forget the job.
template <class Addrs>
void drop_state(coordinator_actor* self, const std::string& id,
                const Addrs& addrs) {
  for (const caf::actor_addr& addr : addrs)
    if (auto w = self->state.workers.find(addr); w != self->state.workers.end())
      self->send(w->second.handle, drop_atom::value, id);
}

// Ends a job now with `result` (canceled, or failed for a reason that is not
// the input's fault).
void end_job(coordinator_actor* self, job_run& job, job_result result) {
  auto& st = self->state;
  drop_state(self, job.request.id, job.touched);
  job.promise.deliver(std::move(result));
  const std::string id = job.request.id;
  st.arrival.erase(std::find(st.arrival.begin(), st.arrival.end(), id));
  st.jobs.erase(id);
}

void finish(coordinator_actor* self, job_run& job) {
  job.phase = job_run::finishing;
  job.todo.clear();
  finish_input in;
  in.request = job.request;
  in.layout = job.layout;
  in.outcome = combine_reports(job.layout, job.reports);
  const auto seconds = [](auto from, auto to) {
    return std::chrono::duration<double>(to - from).count();
  };
  in.scan_seconds = seconds(job.started, job.scanned);
  in.read_seconds = seconds(job.scanned, std::chrono::steady_clock::now());
  std::vector<caf::actor_addr> others;
  for (const caf::actor_addr& addr : job.touched) {
    auto w = self->state.workers.find(addr);
    if (w == self->state.workers.end())
      continue;
    if (job.read_by.count(addr) != 0)
      in.holders.push_back(w->second.handle);
    else
      others.push_back(addr);
  }
  drop_state(self, job.request.id, others);
  spawn_finisher(self->system(), caf::actor_cast<caf::actor>(self),
                 std::move(in));
}

void on_finished(coordinator_actor* self, job_result& result) {
  auto& st = self->state;
  auto i = st.jobs.find(result.id);
  if (i == st.jobs.end())
    return; // canceled meanwhile
  i->second.promise.deliver(std::move(result));
  st.arrival.erase(std::find(st.arrival.begin(), st.arrival.end(), i->first));
  st.jobs.erase(i);
}

// Queues again every needed range that has no report and is not being read.
void requeue_unread(const coordinator_state& st, job_run& job) {
  std::set<uint32_t> reading;
  for (const auto& [addr, w] : st.workers)
    if (w.item && w.item->job == job.request.id &&
        w.item->kind == work_item::read)
      reading.insert(w.item->index);
  job.todo.clear();
  const size_t needed =
    std::min<size_t>(job.ranges.size(), size_t{job.last_needed} + 1);
  for (uint32_t i = 0; i < needed; ++i)
    if (!job.reports[i] && reading.count(i) == 0)
      job.todo.push_back(i);
}

// A worker is gone: its item in flight and every range in its partial go
// back to the queue; its partial is lost with it.
void on_worker_down(coordinator_actor* self, const caf::actor_addr& addr) {
  auto& st = self->state;
  auto w = st.workers.find(addr);
  if (w == st.workers.end())
    return;
  std::optional<in_flight> lost = w->second.item;
  st.workers.erase(w);
  for (auto& [id, job] : st.jobs) {
    if (job.phase == job_run::finishing)
      continue; // the finisher reports a lost partial itself
    if (job.phase == job_run::scanning) {
      if (lost && lost->job == id && lost->kind == work_item::scan)
        job.todo.push_front(lost->index);
      continue;
    }
    auto r = job.read_by.find(addr);
    if (r != job.read_by.end()) {
      for (uint32_t index : r->second) {
        job.bytes_done -= job.ranges[index].size();
        job.rows -= job.reports[index]->rows;
        job.reports[index].reset();
      }
      job.read_by.erase(r);
    }
    // The lost ranges may have held the first bad record: what is still
    // needed follows from the reports that are left.
    job.last_needed = UINT32_MAX;
    for (uint32_t i = 0; i < job.reports.size(); ++i)
      if (job.reports[i] && job.reports[i]->error &&
          (!job.request.skip_bad_rows || job.reports[i]->overflow)) {
        job.last_needed = i;
        break;
      }
    requeue_unread(st, job);
  }
  dispatch(self);
}

caf::behavior coordinator(coordinator_actor* self) {
  self->set_down_handler(
    [=](const caf::down_msg& msg) { on_worker_down(self, msg.source); });
  return {
    [=](job_request& request) {
      auto promise = self->make_response_promise();
      start_job(self, std::move(request), promise);
      return promise;
    },
    [=](join_atom, const worker_info& info) {
      auto handle = caf::actor_cast<caf::actor>(self->current_sender());
      if (!handle)
        return;
      self->monitor(handle);
      self->state.workers[handle.address()] = worker_entry{handle, info.node, 0, 0, 0, {}, {}};
    },
    [=](ask_work_atom) {
      // Before make_response_promise, which takes the sender over.
      const auto sender = self->current_sender();
      auto promise = self->make_response_promise();
      auto w = self->state.workers.find(sender ? sender->address()
                                               : caf::actor_addr{});
      if (w == self->state.workers.end()) {
        promise.deliver(caf::make_error(caf::sec::unexpected_message));
        return promise;
      }
      w->second.item.reset();
      w->second.waiting = promise;
      self->state.idle.push_back(w->first);
      dispatch(self);
      return promise;
    },
    [=](scan_done& done) {
      if (auto w = self->state.workers.find(self->current_sender()->address());
          w != self->state.workers.end())
        w->second.mailbox = done.mailbox;
      auto j = self->state.jobs.find(done.job);
      if (j == self->state.jobs.end())
        return;
      if (!done.failure.empty())
        return end_job(self, j->second, failed(j->second.request, done.failure));
      on_scan(self, j->second, done);
      dispatch(self);
    },
    [=](read_done& done) {
      auto addr = self->current_sender()->address();
      if (auto w = self->state.workers.find(addr);
          w != self->state.workers.end()) {
        w->second.ranges_done += 1;
        w->second.mailbox = done.mailbox;
        if (auto j = self->state.jobs.find(done.job);
            j != self->state.jobs.end() && done.index < j->second.ranges.size())
          w->second.bytes_done += j->second.ranges[done.index].size();
      }
      auto j = self->state.jobs.find(done.job);
      if (j == self->state.jobs.end())
        return;
      if (!done.failure.empty())
        return end_job(self, j->second, failed(j->second.request, done.failure));
      on_read(self, j->second, addr, done);
      dispatch(self);
    },
    [=](finished_atom, job_result& result) { on_finished(self, result); },
    [=](cancel_atom, const std::string& id) {
      auto j = self->state.jobs.find(id);
      if (j == self->state.jobs.end())
        return false;
      job_result result = failed(j->second.request, "canceled");
      result.canceled = true;
      end_job(self, j->second, std::move(result));
      return true;
    },
    [=](status_atom, const std::string& id) {
      job_status out;
      out.id = id;
      if (auto j = self->state.jobs.find(id); j != self->state.jobs.end()) {
        out.known = true;
        out.phase = j->second.phase_name();
        out.bytes_total = j->second.bytes_total;
        out.bytes_done = j->second.bytes_done;
        out.rows = j->second.rows;
      }
      return out;
    },
    [=](stats_atom) {
      coordinator_stats out;
      for (auto& [addr, w] : self->state.workers)
        out.workers.push_back(worker_stats{caf::to_string(addr), w.node,
                                           w.ranges_done, w.bytes_done,
                                           w.item.has_value(), w.mailbox});
      out.jobs_running = self->state.jobs.size();
      for (auto& [id, job] : self->state.jobs)
        out.items_queued += job.todo.size();
      return out;
    },
  };
}

} // namespace

caf::actor spawn_coordinator(caf::actor_system& system) {
  return system.spawn(coordinator);
}

} // namespace playcount
