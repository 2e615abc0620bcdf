#include "actors/coordinator.hpp"

#include "actors/finisher.hpp"
#include "actors/messages.hpp"
#include "actors/worker.hpp"
#include "core/job_outcome.hpp"
#include "core/mapped_file.hpp"
#include "core/wall_clock.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <thread>

namespace playcount {

namespace {

using clock_type = std::chrono::steady_clock;

// The coordinator's own timer: checks the ranges in flight for stragglers.
using straggler_tick_atom = caf::atom_constant<caf::atom("stragtick")>;

// The median of a growing set of numbers (two heaps: O(log n) to add).
class running_median {
public:
  void add(double x) {
    if (low_.empty() || x <= low_.top())
      low_.push(x);
    else
      high_.push(x);
    if (low_.size() > high_.size() + 1) {
      high_.push(low_.top());
      low_.pop();
    } else if (high_.size() > low_.size()) {
      low_.push(high_.top());
      high_.pop();
    }
  }
  [[nodiscard]] bool empty() const { return low_.empty(); }
  [[nodiscard]] double get() const {
    return low_.size() > high_.size() ? low_.top()
                                      : (low_.top() + high_.top()) / 2;
  }

private:
  std::priority_queue<double> low_; // the lower half, largest on top
  std::priority_queue<double, std::vector<double>, std::greater<>> high_;
};

double seconds(clock_type::duration d) {
  return std::chrono::duration<double>(d).count();
}

// A job from its request to its result.
struct job_run {
  enum phase_type { planning, reading, finishing };

  job_request request;
  caf::typed_response_promise<job_result> promise;
  csv_layout layout;
  phase_type phase = planning;
  /// All ranges are known; false while a growing input is planned.
  bool plan_whole = false;
  std::vector<byte_range> ranges;
  std::vector<std::optional<range_report>> reports;
  /// Ranges [0, read_prefix) are all reported: a growing input may free
  /// their bytes (growing_file::done_below).
  uint32_t read_prefix = 0;
  std::deque<uint32_t> todo; // ranges not handed out
  /// In fail mode, the first range with a bad record: later ranges are not
  /// needed (the job fails with the first error in file order).
  uint32_t last_needed = UINT32_MAX;
  /// Ranges each worker has read into its partial: lost if it goes down.
  std::map<caf::actor_addr, std::vector<uint32_t>> read_by;
  /// Every worker that was handed an item: each keeps state for the job
  /// until it is collected or dropped.
  std::set<caf::actor_addr> touched;
  /// The input, opened when a worker on another node needs its bytes.
  std::shared_ptr<file_handle> file;
  /// Workers out of this job (stragglers): their partial of it was
  /// dropped, their reports of it are ignored, they get none of its ranges.
  std::set<caf::actor_addr> excluded;
  /// Seconds per byte of the ranges reported so far: what "slow" means.
  running_median range_pace;
  uint64_t bytes_total = 0;
  uint64_t bytes_done = 0;
  uint64_t rows = 0;
  /// The most ever shown: ranges taken back from a lost or straggling
  /// worker make bytes_done drop, but progress is not shown going back.
  uint64_t bytes_shown = 0;
  uint64_t rows_shown = 0;
  std::chrono::steady_clock::time_point started =
      std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point planned = started;
  /// What the planner and the finisher advance on their threads.
  std::shared_ptr<job_meter> meter = std::make_shared<job_meter>();
  /// Ended (canceled) while its finisher ran: answered once the finisher
  /// is done, so that what it renamed into the job's directory is removed
  /// by the registry rather than left behind.
  std::optional<job_result> ended;

  [[nodiscard]] const char* phase_name() const {
    if (phase == planning)
      return "scanning";
    if (phase == reading)
      return "reading";
    return meter->writing.total.load(std::memory_order_relaxed) > 0 ? "writing"
                                                                    : "merging";
  }

  /// Each phase's done/total: never less than shown before (bytes_shown).
  [[nodiscard]] job_progress progress() const {
    const auto read = [](const phase_meter& m) {
      return phase_progress{m.done.load(std::memory_order_relaxed),
                            m.total.load(std::memory_order_relaxed)};
    };
    job_progress out;
    out.scanning = read(meter->scanning);
    if (request.growing && phase == planning) {
      out.scanning = {}; // not known before the header is
    } else if (request.growing) {
      // Planned as it lands: scanned is what is planned, of what landed.
      out.scanning.done = bytes_total;
      const uint64_t landed = request.growing->now().size;
      out.scanning.total = std::max(
          bytes_total, landed > layout.data_begin ? landed - layout.data_begin
                                                  : uint64_t{0});
      if (plan_whole)
        out.scanning.total = bytes_total;
    }
    if (phase != planning)
      out.scanning.done = out.scanning.total; // the plan is made
    out.reading = phase_progress{bytes_shown, bytes_total};
    if (phase == finishing)
      out.reading.done = bytes_total; // what is not needed counts as done
    out.merging = read(meter->merging);
    out.writing = read(meter->writing);
    out.spilling = read(meter->spilling);
    return out;
  }
};

// A range handed to a worker and not yet reported.
struct in_flight {
  std::string job;
  uint32_t index;
};

struct worker_entry {
  worker_actor handle;
  std::string node;
  bool remote = false; // on another node: gets the range's bytes on its feed
  uint64_t feed = 0;
  uint64_t ranges_done = 0;
  uint64_t bytes_done = 0;
  uint64_t mailbox = 0; // as last reported
  /// An unanswered ask.
  std::optional<caf::typed_response_promise<work_item>> waiting;
  /// Ranges handed out and not yet reported, in the order the worker reads
  /// them: one, or for a worker on another node that keeps up two (it asks
  /// for the next before it reads, so that the bytes of the next range
  /// travel while it reads this one).
  std::vector<in_flight> items;
  /// Since when the worker reads items.front(): when it was handed out, or
  /// when the range before it was reported.
  clock_type::time_point head_since;
  /// The job of its last range, if that range took no more than
  /// ask_ahead_factor x the job's median; else "". Only in that job is an
  /// ask while it still holds a range (it fetches ahead) answered at once.
  std::string keeping_up_in;

  /// Whether its ask may be answered with a range of `job` now: it holds
  /// none, or one and keeps up in the job (whatever it asks, a worker
  /// fetches at most one ahead). Else the ask waits for its report.
  [[nodiscard]] bool may_take(const std::string& job) const {
    return items.empty() || (items.size() < 2 && keeping_up_in == job);
  }
  [[nodiscard]] bool idle() const { return waiting && items.empty(); }

  [[nodiscard]] bool holds(const std::string& job, uint32_t index) const {
    return std::any_of(items.begin(), items.end(), [&](const in_flight& i) {
      return i.job == job && i.index == index;
    });
  }
  void release(const std::string& job, uint32_t index) {
    items.erase(std::remove_if(items.begin(), items.end(),
                               [&](const in_flight& i) {
                                 return i.job == job && i.index == index;
                               }),
                items.end());
  }
};

struct node_entry {
  node_stats stats;     // its workers are counted in stats()
  std::string caf_node; // only actors of this node may join under its id
  caf::actor_addr agent;
};

// Down nodes kept in the stats for people to see.
constexpr size_t kept_down_nodes = 32;

struct coordinator_state {
  std::map<caf::actor_addr, worker_entry> workers;
  std::deque<caf::actor_addr> idle; // workers with an unanswered ask
  std::map<std::string, job_run> jobs;
  std::vector<std::string> arrival; // job ids, oldest first
  std::map<std::string, node_entry> nodes;
  std::deque<std::string> down_nodes; // oldest first
  uint64_t next_node = 1;
  std::shared_ptr<range_sender> feeds; // null: no worker nodes
  straggler_policy policy;
  bool ticking = false; // a straggler_tick_atom is on its way
  uint64_t next_parcel = 1;
  uint64_t dispatched = 0;
  uint64_t redispatched = 0;
  uint64_t bytes_read = 0; // since the start, for /metrics
  uint64_t rows_read = 0;
  uint64_t spilled_bytes = 0;
  static inline const char* name = "playcount.coordinator";
};

// The coordinator's own interface: the public one and its timer.
using coordinator_impl_actor =
    coordinator_actor::extend<caf::reacts_to<straggler_tick_atom>>;

// The coordinator, with the one check of where its messages come from
// (coordinator.hpp): at its mailbox, so that no handler can forget it.
class coordinator_self
    : public coordinator_impl_actor::stateful_base<coordinator_state> {
public:
  using super = coordinator_impl_actor::stateful_base<coordinator_state>;
  using super::super;

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override {
    if (admitted(*ptr)) {
      super::enqueue(std::move(ptr), eu);
      return;
    }
    spdlog::warn("the coordinator refused a message from {}: {}",
                 ptr->sender ? caf::to_string(ptr->sender->node())
                             : std::string{"an anonymous sender"},
                 caf::to_string(ptr->content()).substr(0, 80));
    // A request gets its error at once, the one CAF gives for a message an
    // actor has no handler for; the rest is dropped.
    if (ptr->sender && ptr->mid.is_request())
      ptr->sender->enqueue(
          nullptr, ptr->mid.response_id(),
          caf::make_message(caf::make_error(caf::sec::unexpected_message)), eu);
  }

private:
  // Everything from this process; from other nodes (the messages of worker
  // nodes, which hold the coordinator's handle as the sender of their work
  // items) only what a worker may send (work_source_actor). A message with
  // no sender may come from anywhere (BASP delivers a node's anonymous
  // messages so): it is refused, as in-process code never sends one here.
  // Called on the sender's thread: it looks at nothing but the message.
  [[nodiscard]] bool admitted(const caf::mailbox_element& x) const {
    // An answer is taken only when awaited (the coordinator asks nobody).
    if (x.mid.is_response())
      return true;
    const auto& sender = x.sender;
    if (sender && sender->node() == node())
      return true;
    const auto& msg = x.content();
    // CAF's notice that an actor of another node is gone comes from that
    // actor; a node can only say so of its own actors.
    if (msg.match_elements<caf::down_msg>()) {
      const auto& source = msg.get_as<caf::down_msg>(0).source;
      return source.node() == node() || (sender && source == sender->address());
    }
    return sender != nullptr && (msg.match_elements<join_atom, worker_info>() ||
                                 msg.match_elements<ask_work_atom>() ||
                                 msg.match_elements<read_done>());
  }
};

using coordinator_pointer = coordinator_self*;

job_result failed(const job_request& request, std::string error) {
  job_result out;
  out.id = request.id;
  out.error = std::move(error);
  return out;
}

void finish(coordinator_pointer self, job_run& job);
void end_job(coordinator_pointer self, job_run& job, job_result result);

// Sends the item's range down the remote worker's feed.
bool send_bytes(coordinator_state& st, job_run& job, const worker_entry& w,
                work_item& item, std::string& error) {
  if (!job.file) {
    auto file = std::make_shared<file_handle>();
    if (auto opened = file->open(job.request.input_path); !opened) {
      error = opened.error().text();
      return false;
    }
    job.file = std::move(file);
  }
  item.parcel = st.next_parcel++;
  // A feed that is gone fails its worker's receive: the worker quits and
  // its items are handed out again.
  (void)st.feeds->send(w.feed, item.parcel, job.file, item.range);
  return true;
}

// The oldest job with ranges waiting that worker `addr` is not out of.
job_run* next_job(coordinator_state& st, const caf::actor_addr& addr) {
  for (const auto& id : st.arrival) {
    auto& candidate = st.jobs.at(id);
    if (candidate.phase == job_run::reading && !candidate.todo.empty() &&
        candidate.excluded.count(addr) == 0)
      return &candidate;
  }
  return nullptr;
}

// Hands waiting ranges to waiting workers, oldest job first. A worker whose
// ask is held (it fetches ahead and does not keep up), or that is out of
// every job with ranges waiting, stays in the queue.
void dispatch(coordinator_pointer self) {
  auto& st = self->state;
  for (auto at = st.idle.begin(); at != st.idle.end();) {
    const caf::actor_addr addr = *at;
    auto w = st.workers.find(addr);
    if (w == st.workers.end() || !w->second.waiting) {
      at = st.idle.erase(at);
      continue;
    }
    job_run* job = next_job(st, addr);
    if (job == nullptr || !w->second.may_take(job->request.id)) {
      ++at;
      continue;
    }
    at = st.idle.erase(at);
    const uint32_t index = job->todo.front();
    job->todo.pop_front();
    work_item item;
    item.job = job->request.id;
    item.path = job->request.input_path;
    item.index = index;
    item.layout = job->layout;
    item.on_bad_rows = job->request.on_bad_rows;
    item.range = job->ranges[index];
    if (!job->request.spill_dir.empty() && job->request.memory_limit > 0) {
      // A third of the job's memory for the workers' partials, shared
      // among them; the rest for the end, which merges two partitions at a
      // time while those partials are still held.
      item.spill_dir = job->request.spill_dir;
      item.spill_at = job->request.memory_limit / 3 /
                      std::max<uint64_t>(1, st.workers.size());
    }
    if (w->second.remote) {
      std::string error;
      if (!send_bytes(st, *job, w->second, item, error)) {
        // Still waiting, for another job's range; ending the job may
        // change the queue: start over.
        st.idle.push_front(addr);
        end_job(self, *job,
                failed(job->request, "cannot read the input: " + error));
        at = st.idle.begin();
        continue;
      }
    }
    if (w->second.items.empty())
      w->second.head_since = clock_type::now();
    w->second.items.push_back(in_flight{item.job, index});
    job->touched.insert(addr);
    ++st.dispatched;
    w->second.waiting->deliver(std::move(item));
    w->second.waiting.reset();
  }
}

// Plans the job off the coordinator: the header and a parallel quote scan;
// for an input still being written, one range after another as they land.
void plan(caf::blocking_actor* self, const coordinator_actor& coordinator,
          std::string id, const std::string& path, uint64_t range_size,
          const std::shared_ptr<growing_file>& growing,
          const std::shared_ptr<job_meter>& meter) {
  const auto send = [&](job_plan step, std::string error) {
    self->send(coordinator, planned_atom::value, id, std::move(step),
               std::move(error));
  };
  if (growing) {
    auto planned = plan_growing(path, *growing, range_size, [&](job_plan step) {
      send(std::move(step), "");
    });
    if (!planned)
      send(job_plan{}, planned.error().text());
    return;
  }
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  auto planned = plan_job(path, range_size, threads, &meter->scanning);
  if (planned)
    send(std::move(*planned), "");
  else
    send(job_plan{}, planned.error().text());
}

void start_job(coordinator_pointer self, job_request request,
               caf::typed_response_promise<job_result> promise) {
  auto& st = self->state;
  if (st.jobs.count(request.id) != 0) {
    promise.deliver(failed(request, "a job with this id is running"));
    return;
  }
  job_run job;
  self->system().spawn<caf::detached>(
      plan, caf::actor_cast<coordinator_actor>(self), request.id,
      request.input_path, request.range_size, request.growing, job.meter);
  job.request = std::move(request);
  job.promise = std::move(promise);
  const std::string id = job.request.id;
  st.jobs.emplace(id, std::move(job));
  st.arrival.push_back(id);
}

// A range whose bad record ends the job: any, unless skipping; an overflow
// always. Ranges after it are not needed.
bool stops_the_job(const job_request& request, const range_report& report) {
  return report.error &&
         (request.on_bad_rows != bad_row_policy::skip || report.overflow);
}

void maybe_finish(coordinator_pointer self, job_run& job) {
  // More ranges may come, unless a bad record has ended the job before them.
  if (!job.plan_whole && job.last_needed >= job.ranges.size())
    return;
  const size_t needed =
      std::min<size_t>(job.ranges.size(), size_t{job.last_needed} + 1);
  for (size_t i = 0; i < needed; ++i)
    if (!job.reports[i])
      return;
  finish(self, job);
}

// Tells a growing input how far the job is done with it: to the end of the
// ranges reported from the first on.
void tell_input(job_run& job) {
  while (job.read_prefix < job.reports.size() && job.reports[job.read_prefix])
    ++job.read_prefix;
  if (job.request.growing && job.read_prefix > 0)
    job.request.growing->done_below(job.ranges[job.read_prefix - 1].end);
}

// A plan, or for a growing input the next of its steps: its ranges join the
// job's.
void on_planned(coordinator_pointer self, job_run& job, job_plan& plan) {
  if (job.phase == job_run::planning) {
    job.planned = std::chrono::steady_clock::now();
    job.layout = plan.layout;
    job.phase = job_run::reading;
  }
  job.bytes_total = plan.file_size - job.layout.data_begin;
  job.plan_whole = !plan.more;
  for (const byte_range& range : plan.ranges) {
    const auto index = static_cast<uint32_t>(job.ranges.size());
    job.ranges.push_back(range);
    job.reports.emplace_back();
    if (index <= job.last_needed)
      job.todo.push_back(index);
  }
  maybe_finish(self, job); // no ranges: nothing to read
}

// Whether the job's input frees what it has read: its ranges cannot be read
// again (so no worker is taken off it for being slow).
bool frees_what_is_read(const job_run& job) {
  return job.request.growing && job.request.growing->now().frees;
}

// A range that must be read again lies in bytes its input has freed.
bool needs_freed_bytes(const job_run& job) {
  if (!job.request.growing)
    return false;
  const uint64_t freed = job.request.growing->now().freed;
  for (uint32_t i = 0; i < job.reports.size() && i <= job.last_needed; ++i)
    if (!job.reports[i] && job.ranges[i].begin < freed)
      return true;
  return false;
}

void on_read(coordinator_pointer self, job_run& job,
             const caf::actor_addr& from, read_done& done) {
  if (job.phase != job_run::reading || done.index >= job.ranges.size() ||
      job.reports[done.index])
    return;
  job.bytes_done += job.ranges[done.index].size();
  job.rows += done.report.rows;
  job.bytes_shown = std::max(job.bytes_shown, job.bytes_done);
  job.rows_shown = std::max(job.rows_shown, job.rows);
  self->state.bytes_read += job.ranges[done.index].size();
  self->state.rows_read += done.report.rows;
  job.read_by[from].push_back(done.index);
  if (stops_the_job(job.request, done.report) && done.index < job.last_needed) {
    job.last_needed = done.index;
    job.todo.erase(std::remove_if(job.todo.begin(), job.todo.end(),
                                  [&](uint32_t i) { return i > done.index; }),
                   job.todo.end());
  }
  job.reports[done.index] = std::move(done.report);
  tell_input(job);
  maybe_finish(self, job);
}

// Tells the workers in `addrs` to forget the job.
template <class Addrs>
void drop_state(coordinator_pointer self, const std::string& id,
                const Addrs& addrs) {
  for (const caf::actor_addr& addr : addrs)
    if (auto w = self->state.workers.find(addr); w != self->state.workers.end())
      self->send(w->second.handle, drop_atom::value, id);
}

// The job needs no more of a growing input: its producer may stop.
void abandon_input(const job_run& job) {
  if (job.request.growing)
    job.request.growing->abandon();
}

void forget(coordinator_state& st, const std::string& id) {
  if (auto j = st.jobs.find(id); j != st.jobs.end())
    abandon_input(j->second);
  st.arrival.erase(std::find(st.arrival.begin(), st.arrival.end(), id));
  st.jobs.erase(id);
}

// Ends a job now with `result` (canceled, or failed for a reason that is not
// the input's fault).
void end_job(coordinator_pointer self, job_run& job, job_result result) {
  if (job.phase == job_run::finishing) {
    if (!job.ended)
      job.ended = std::move(result); // on_finished answers it
    return;
  }
  drop_state(self, job.request.id, job.touched);
  job.promise.deliver(std::move(result));
  forget(self->state, job.request.id);
}

void finish(coordinator_pointer self, job_run& job) {
  job.phase = job_run::finishing;
  abandon_input(job);
  job.todo.clear();
  job.file.reset();
  finish_input in;
  in.request = job.request;
  in.layout = job.layout;
  in.ranges = job.ranges;
  in.outcome = combine_reports(job.layout, job.reports);
  in.meter = job.meter;
  const auto seconds = [](auto from, auto to) {
    return std::chrono::duration<double>(to - from).count();
  };
  in.scan_seconds = seconds(job.started, job.planned);
  in.read_seconds = seconds(job.planned, std::chrono::steady_clock::now());
  std::vector<caf::actor_addr> others;
  for (const caf::actor_addr& addr : job.touched) {
    auto w = self->state.workers.find(addr);
    if (w == self->state.workers.end())
      continue;
    if (auto r = job.read_by.find(addr); r != job.read_by.end())
      in.holders.push_back(partial_holder{w->second.handle, r->second});
    else
      others.push_back(addr);
  }
  drop_state(self, job.request.id, others);
  spawn_finisher(self->system(), caf::actor_cast<coordinator_actor>(self),
                 std::move(in));
}

void on_finished(coordinator_pointer self, job_result& result) {
  auto& st = self->state;
  auto i = st.jobs.find(result.id);
  if (i == st.jobs.end())
    return; // not a job of ours (any more)
  const std::string id = result.id;
  st.spilled_bytes += result.spilled_bytes;
  if (i->second.ended)
    result = std::move(*i->second.ended);
  i->second.promise.deliver(std::move(result));
  forget(st, id);
}

// Queues again every needed range that has no report and is not being read.
void requeue_unread(const coordinator_state& st, job_run& job) {
  std::set<uint32_t> reading;
  for (const auto& [addr, w] : st.workers)
    for (const in_flight& i : w.items)
      if (i.job == job.request.id)
        reading.insert(i.index);
  job.todo.clear();
  const size_t needed =
      std::min<size_t>(job.ranges.size(), size_t{job.last_needed} + 1);
  for (uint32_t i = 0; i < needed; ++i)
    if (!job.reports[i] && reading.count(i) == 0)
      job.todo.push_back(i);
}

// A worker node is down when the actor that registered it is: that actor
// lives as long as the node's connection (its workers go down with it).
void node_down(coordinator_state& st, const std::string& id) {
  auto n = st.nodes.find(id);
  if (n == st.nodes.end() || !n->second.stats.up)
    return;
  n->second.stats.up = false;
  if (st.feeds)
    st.feeds->forget(id);
  spdlog::warn("worker node {} ({} at {}) is down: its ranges go to others", id,
               n->second.stats.name, n->second.stats.address);
  st.down_nodes.push_back(id);
  while (st.down_nodes.size() > kept_down_nodes) {
    st.nodes.erase(st.down_nodes.front());
    st.down_nodes.pop_front();
  }
}

// Takes back the ranges of `job` in worker `addr`'s partial, which is lost
// or dropped (its ranges of the job in flight must be released already);
// returns how many. What is still needed then follows again from the
// reports left, and every needed range neither reported nor in flight is
// queued.
size_t take_back(coordinator_state& st, job_run& job,
                 const caf::actor_addr& addr) {
  size_t taken = 0;
  if (auto r = job.read_by.find(addr); r != job.read_by.end()) {
    for (uint32_t index : r->second) {
      job.read_prefix = std::min(job.read_prefix, index);
      job.bytes_done -= job.ranges[index].size();
      job.rows -= job.reports[index]->rows;
      job.reports[index].reset();
    }
    taken = r->second.size();
    job.read_by.erase(r);
  }
  // The ranges taken back may have held the first bad record.
  job.last_needed = UINT32_MAX;
  for (uint32_t i = 0; i < job.reports.size(); ++i)
    if (job.reports[i] && stops_the_job(job.request, *job.reports[i])) {
      job.last_needed = i;
      break;
    }
  requeue_unread(st, job);
  return taken;
}

// True when some worker may take ranges of the job.
bool has_workers_for(const coordinator_state& st, const job_run& job) {
  return std::any_of(st.workers.begin(), st.workers.end(), [&](const auto& w) {
    return job.excluded.count(w.first) == 0;
  });
}

// A worker is gone: its range in flight and every range in its partial go
// back to the queue; its partial is lost with it.
void on_worker_down(coordinator_pointer self, const caf::actor_addr& addr) {
  auto& st = self->state;
  auto w = st.workers.find(addr);
  if (w == st.workers.end())
    return;
  const std::vector<in_flight> lost = w->second.items;
  st.workers.erase(w);
  std::vector<std::string> unreadable; // jobs whose lost ranges are freed
  for (auto& [id, job] : st.jobs) {
    job.excluded.erase(addr);
    if (job.phase != job_run::reading)
      continue; // a finisher re-reads a lost partial itself
    st.redispatched += std::count_if(
        lost.begin(), lost.end(),
        [&job_id = id](const in_flight& i) { return i.job == job_id; });
    st.redispatched += take_back(st, job, addr);
    if (needs_freed_bytes(job))
      unreadable.push_back(id);
    // Only workers that straggled on this job are left: better slow than
    // never.
    if (!job.excluded.empty() && !has_workers_for(st, job)) {
      spdlog::info("job {}: only workers that straggled on it are left; they "
                   "may take its ranges again",
                   id);
      job.excluded.clear();
    }
  }
  for (const std::string& id : unreadable)
    if (auto j = st.jobs.find(id); j != st.jobs.end())
      end_job(self, j->second,
              failed(j->second.request,
                     std::string(growing_file::freed_reread_error)));
  dispatch(self);
}

// Worker `addr` straggles on `job`: it is out of the job, as if lost for
// it. Its ranges of the job in flight and in its partial go to others, its
// partial of the job is dropped, its later reports of the job are ignored
// (nothing is counted twice), and it is not collected for the job. Other
// jobs still use it.
void exclude(coordinator_pointer self, job_run& job,
             const caf::actor_addr& addr, const std::string& why) {
  auto& st = self->state;
  worker_entry& w = st.workers.at(addr);
  const std::string& id = job.request.id;
  const bool was_head = !w.items.empty() && w.items.front().job == id;
  const size_t before = w.items.size();
  w.items.erase(std::remove_if(w.items.begin(), w.items.end(),
                               [&](const in_flight& i) { return i.job == id; }),
                w.items.end());
  const size_t in_flight = before - w.items.size();
  if (was_head)
    w.head_since = clock_type::now();
  w.keeping_up_in.clear();
  job.excluded.insert(addr);
  job.touched.erase(addr);
  const size_t in_partial = take_back(st, job, addr);
  st.redispatched += in_flight + in_partial;
  self->send(w.handle, drop_atom::value, id);
  const auto n = st.nodes.find(w.node);
  spdlog::info("job {}: worker {} of node {} ({}) straggles ({}); it is out "
               "of the job, its {} range(s) in flight and {} in its partial "
               "go to other workers",
               id, caf::to_string(addr), w.node,
               n != st.nodes.end() ? n->second.stats.name : "?", why, in_flight,
               in_partial);
}

// Looks at the range each worker reads: a straggler is out of that job
// (docs/cluster.md states the rule). Never every worker of a
// job: with no other worker for it, the job goes on with what it has.
void check_stragglers(coordinator_pointer self) {
  auto& st = self->state;
  const auto now = clock_type::now();
  std::vector<caf::actor_addr> busy;
  for (const auto& [addr, w] : st.workers)
    if (!w.items.empty())
      busy.push_back(addr);
  for (const caf::actor_addr& addr : busy) {
    auto w = st.workers.find(addr);
    if (w == st.workers.end() || w->second.items.empty())
      continue;
    const in_flight head = w->second.items.front();
    auto j = st.jobs.find(head.job);
    if (j == st.jobs.end() || j->second.phase != job_run::reading ||
        head.index >= j->second.ranges.size())
      continue;
    job_run& job = j->second;
    if (frees_what_is_read(job))
      continue; // its ranges could not be read again
    size_t others = 0;
    size_t idle = 0;
    for (const auto& [other, o] : st.workers)
      if (other != addr && job.excluded.count(other) == 0) {
        ++others;
        idle += o.idle() ? 1 : 0;
      }
    if (others == 0)
      continue;
    const double took = seconds(now - w->second.head_since);
    const double typical = job.range_pace.empty()
                               ? 0
                               : st.policy.slow_factor * job.range_pace.get() *
                                     static_cast<double>(std::max<uint64_t>(
                                         1, job.ranges[head.index].size()));
    const double silent = std::max(seconds(st.policy.silent_bound), typical);
    const double slow = std::max(seconds(st.policy.min_bound), typical);
    std::string why;
    if (took > silent)
      why =
          fmt::format("range {} without a report for {:.1f} s, bound {:.1f} s",
                      head.index, took, silent);
    else if (!job.range_pace.empty() && idle > 0 && took > slow)
      why = fmt::format("range {} in flight for {:.1f} s, bound {:.1f} s, "
                        "while {} worker(s) idle",
                        head.index, took, slow, idle);
    if (!why.empty())
      exclude(self, job, addr, why);
  }
  dispatch(self);
}

// Keeps a straggler_tick_atom on its way while jobs read.
void keep_ticking(coordinator_pointer self) {
  auto& st = self->state;
  if (st.ticking)
    return;
  const bool reading =
      std::any_of(st.jobs.begin(), st.jobs.end(), [](const auto& j) {
        return j.second.phase == job_run::reading;
      });
  if (!reading)
    return;
  st.ticking = true;
  self->delayed_send(self, st.policy.tick, straggler_tick_atom::value);
}

// The worker entry of the current sender, or nullptr; notes the node's
// last message.
worker_entry* sender_entry(coordinator_pointer self) {
  const auto& sender = self->current_sender();
  if (!sender)
    return nullptr;
  auto w = self->state.workers.find(sender->address());
  if (w == self->state.workers.end())
    return nullptr;
  if (auto n = self->state.nodes.find(w->second.node);
      n != self->state.nodes.end())
    n->second.stats.last_seen = now_ms();
  return &w->second;
}

// The sender's entry if it is a worker with range `index` of `job` in
// flight; only then may it ask for the range's bytes or report it.
worker_entry* holder_of(coordinator_pointer self, const std::string& job,
                        uint32_t index) {
  worker_entry* w = sender_entry(self);
  return w != nullptr && w->holds(job, index) ? w : nullptr;
}

coordinator_stats stats(const coordinator_state& st) {
  coordinator_stats out;
  std::map<std::string, node_stats> nodes;
  for (const auto& [id, n] : st.nodes)
    nodes.emplace(id, n.stats);
  for (const auto& [addr, w] : st.workers) {
    out.workers.push_back(worker_stats{caf::to_string(addr), w.node,
                                       w.ranges_done, w.bytes_done,
                                       !w.items.empty(), w.mailbox});
    if (auto n = nodes.find(w.node); n != nodes.end())
      n->second.workers += 1;
  }
  for (auto& [id, s] : nodes)
    out.nodes.push_back(std::move(s));
  // The server's own first, then in the order they joined.
  std::stable_sort(out.nodes.begin(), out.nodes.end(),
                   [](const node_stats& a, const node_stats& b) {
                     return a.local != b.local ? a.local
                                               : a.joined_at < b.joined_at;
                   });
  out.jobs_running = st.jobs.size();
  for (const auto& id : st.arrival) {
    const job_run& job = st.jobs.at(id);
    job_queue_stats q;
    q.id = id;
    q.phase = job.phase_name();
    q.ranges = job.ranges.size();
    q.queued = job.todo.size();
    for (const auto& [addr, w] : st.workers)
      q.in_flight +=
          std::count_if(w.items.begin(), w.items.end(),
                        [&](const in_flight& i) { return i.job == id; });
    for (const auto& r : job.reports)
      q.done += r.has_value();
    out.ranges_queued += q.queued;
    out.queue.push_back(std::move(q));
  }
  out.ranges_dispatched = st.dispatched;
  out.ranges_redispatched = st.redispatched;
  out.bytes_read = st.bytes_read;
  out.rows_read = st.rows_read;
  out.spilled_bytes = st.spilled_bytes;
  return out;
}

coordinator_impl_actor::behavior_type
coordinator(coordinator_pointer self, std::shared_ptr<range_sender> feeds,
            straggler_policy policy) {
  self->state.feeds = std::move(feeds);
  self->state.policy = policy;
  const std::string local_id{local_node_id};
  auto& local = self->state.nodes[local_id];
  local.stats = node_stats{local_id, local_id, "in-process", true,    true, 0,
                           0,        0,        now_ms(),     now_ms()};
  local.caf_node = caf::to_string(self->node());
  self->set_down_handler([=](const caf::down_msg& msg) {
    auto& st = self->state;
    for (auto& [id, n] : st.nodes)
      if (n.agent && n.agent == msg.source) {
        node_down(st, id);
        return;
      }
    on_worker_down(self, msg.source);
  });
  return {
      [=](job_request& request) -> caf::result<job_result> {
        auto promise = self->make_response_promise<job_result>();
        start_job(self, std::move(request), promise);
        return promise;
      },
      [=](planned_atom, const std::string& id, job_plan& plan,
          const std::string& error) {
        auto j = self->state.jobs.find(id);
        if (j == self->state.jobs.end() ||
            j->second.phase == job_run::finishing)
          return; // canceled, or ended by a bad record, meanwhile
        if (!error.empty())
          return end_job(self, j->second, failed(j->second.request, error));
        on_planned(self, j->second, plan);
        dispatch(self);
        keep_ticking(self);
      },
      [=](node_up_atom, node_record& record) -> caf::result<std::string> {
        auto& st = self->state;
        const std::string id = "node-" + std::to_string(st.next_node++);
        auto& n = st.nodes[id];
        n.stats = node_stats{id, record.name, record.address, false,   true, 0,
                             0,  0,           now_ms(),       now_ms()};
        n.caf_node = record.caf_node;
        if (record.agent) {
          n.agent = record.agent.address();
          self->monitor(record.agent);
        }
        return id;
      },
      [=](join_atom, const worker_info& info) {
        auto handle = caf::actor_cast<worker_actor>(self->current_sender());
        if (!handle)
          return;
        // A worker joins only under the id of a node that is up and its own.
        auto n = self->state.nodes.find(info.node);
        if (n == self->state.nodes.end() || !n->second.stats.up ||
            n->second.caf_node != caf::to_string(handle.node())) {
          spdlog::warn("refused a worker that claims node {}", info.node);
          return;
        }
        worker_entry entry;
        entry.handle = handle;
        entry.node = info.node;
        entry.remote = handle.node() != self->node();
        entry.feed = info.feed;
        // ... and a worker on another node with a feed its node opened.
        if (entry.remote &&
            (!self->state.feeds ||
             self->state.feeds->node_of(info.feed) != info.node)) {
          spdlog::warn("refused a worker of node {}: no byte feed of its node",
                       info.node);
          return;
        }
        n->second.stats.last_seen = now_ms();
        self->monitor(handle);
        self->state.workers[handle.address()] = std::move(entry);
      },
      [=](ask_work_atom) -> caf::result<work_item> {
        // Before make_response_promise, which takes the sender over.
        worker_entry* w = sender_entry(self);
        const auto addr = self->current_sender()
                              ? self->current_sender()->address()
                              : caf::actor_addr{};
        auto promise = self->make_response_promise<work_item>();
        if (w == nullptr) {
          promise.deliver(caf::make_error(caf::sec::unexpected_message));
          return promise;
        }
        w->waiting = promise;
        self->state.idle.push_back(addr);
        dispatch(self);
        return promise;
      },
      [=](read_done& done) {
        // Also ignores the late reports of a worker out of the job (its
        // ranges of the job were taken back).
        worker_entry* w = holder_of(self, done.job, done.index);
        if (w == nullptr)
          return;
        w->release(done.job, done.index);
        // Items are read in order: the reported one was the head.
        const auto now = clock_type::now();
        const auto took = now - w->head_since;
        w->head_since = now;
        const auto addr = self->current_sender()->address();
        auto j = self->state.jobs.find(done.job);
        const bool known =
            j != self->state.jobs.end() && done.index < j->second.ranges.size();
        const uint64_t bytes = known ? j->second.ranges[done.index].size() : 0;
        if (known && j->second.phase == job_run::reading &&
            !j->second.reports[done.index]) {
          const double pace =
              seconds(took) / static_cast<double>(std::max<uint64_t>(1, bytes));
          j->second.range_pace.add(pace);
          const bool keeping_up = pace <= self->state.policy.ask_ahead_factor *
                                              j->second.range_pace.get();
          w->keeping_up_in = keeping_up ? done.job : std::string{};
        }
        w->ranges_done += 1;
        w->bytes_done += bytes;
        w->mailbox = done.mailbox;
        // What a node did outlives its workers in the stats.
        if (auto n = self->state.nodes.find(w->node);
            n != self->state.nodes.end()) {
          n->second.stats.ranges_done += 1;
          n->second.stats.bytes_done += bytes;
        }
        if (j == self->state.jobs.end())
          return dispatch(self); // its held ask, if any, may go out now
        if (!done.failure.empty())
          return end_job(self, j->second,
                         failed(j->second.request, done.failure));
        on_read(self, j->second, addr, done);
        dispatch(self);
      },
      [=](straggler_tick_atom) {
        if (self->current_sender().get() != self->ctrl())
          return;
        self->state.ticking = false;
        check_stragglers(self);
        keep_ticking(self);
      },
      [=](finished_atom, job_result& result) { on_finished(self, result); },
      [=](cancel_atom, const std::string& id) -> caf::result<bool> {
        auto j = self->state.jobs.find(id);
        if (j == self->state.jobs.end())
          return false;
        job_result result = failed(j->second.request, "canceled");
        result.canceled = true;
        end_job(self, j->second, std::move(result));
        return true;
      },
      [=](status_atom, const std::string& id) -> caf::result<job_status> {
        job_status out;
        out.id = id;
        if (auto j = self->state.jobs.find(id); j != self->state.jobs.end()) {
          out.known = true;
          out.phase = j->second.phase_name();
          // Bytes of the file: its header counts as read once planned.
          const job_run& job = j->second;
          const uint64_t header =
              job.phase == job_run::planning ? 0 : job.layout.data_begin;
          out.bytes_total = job.bytes_total + header;
          out.bytes_done = job.bytes_shown + header;
          out.rows = j->second.rows_shown;
          out.progress = j->second.progress();
        }
        return out;
      },
      [=](stats_atom) -> caf::result<coordinator_stats> {
        return stats(self->state);
      },
  };
}

} // namespace

coordinator_actor spawn_coordinator(caf::actor_system& system,
                                    std::shared_ptr<range_sender> feeds,
                                    straggler_policy policy) {
  return system.spawn(coordinator, std::move(feeds), policy);
}

} // namespace playcount
