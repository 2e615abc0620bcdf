#include "actors/worker.hpp"

#include "actors/finisher.hpp"
#include "actors/messages.hpp"
#include "core/mapped_file.hpp"
#include "core/spill.hpp"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <sys/stat.h>
#include <utility>

namespace playcount {

namespace {

// A node worker's directory for one job's spills: removed with the job
// (collected, dropped, or the worker gone), whatever is in it of ours.
class job_spill_dir {
public:
  job_spill_dir() = default;
  job_spill_dir(job_spill_dir&& other) noexcept
      : path(std::exchange(other.path, {})) {}
  job_spill_dir& operator=(job_spill_dir&& other) noexcept {
    remove_spills(path);
    path = std::exchange(other.path, {});
    return *this;
  }
  ~job_spill_dir() { remove_spills(path); }

  std::string path; ///< empty until the first spill
};

struct worker_state {
  struct job {
    file_handle file;
    std::string open_error;
    bool opened = false;
    partial_aggregate totals;
    uint32_t spills = 0;
    job_spill_dir spill_dir;   // on another node
    std::string local_spills;  // in this process: the job's dir, once spilled
    uint64_t node_spilled = 0; // on another node: bytes spilled there
  };
  std::map<std::string, job> jobs;
  std::shared_ptr<range_source> feed; // on another node: where bytes come
  std::shared_ptr<node_spill> budget; // on another node: its own
  std::string node;
  static inline const char* name = "playcount.worker";
};

using worker_self = worker_actor::stateful_pointer<worker_state>;

// Opens the job's file on first use; empty string on success.
const std::string& open(worker_state::job& j, const std::string& path) {
  if (!j.opened) {
    j.opened = true;
    if (auto opened = j.file.open(path); !opened)
      j.open_error = opened.error().text();
  }
  return j.open_error;
}

// A job id as a file name: the server's ids are UUIDs, but text from a
// peer never makes a path of its own.
std::string file_name_of(const std::string& job) {
  std::string out;
  for (const char c : job.substr(0, 64))
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
  return out.empty() ? "job" : out;
}

// The names this worker spills under in this process (the finisher counts
// them only when its partial came whole).
std::string local_spill_name(worker_self self) {
  return "w" + std::to_string(self->id()) + "-";
}

// Over its share of memory, the job's partial goes to disk: on the file's
// node into the job's directory (the server's budget, in the work item), on
// another node into a directory of its own under the node's (the node's
// budget). Sets `failure` when it cannot be written.
void maybe_spill(worker_self self, const work_item& w, worker_state::job& job,
                 std::string& failure) {
  auto& st = self->state;
  const bool remote = st.feed != nullptr;
  const uint64_t spill_at =
      remote ? (st.budget ? st.budget->spill_at : 0) : w.spill_at;
  if (spill_at == 0 || job.totals.bytes() <= spill_at)
    return;
  std::shared_lock<std::shared_mutex> writing;
  std::string dir = w.spill_dir;
  std::string name = local_spill_name(self);
  if (!remote)
    job.local_spills = dir;
  if (remote) {
    writing = std::shared_lock<std::shared_mutex>(st.budget->writing);
    if (job.spill_dir.path.empty()) {
      const std::string path = st.budget->dir + "/" + file_name_of(w.job) +
                               "-w" + std::to_string(self->id());
      if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
        failure = playcount::failure::of_errno({}, path, errno)
                      .within("cannot spill to disk")
                      .within("worker node " + st.node)
                      .text();
        spdlog::error("job {}: {}", w.job, failure);
        job.totals = partial_aggregate{};
        return;
      }
      job.spill_dir.path = path;
    }
    dir = job.spill_dir.path;
    name = "s";
  }
  name += std::to_string(job.spills++);
  const auto spilled = spill(job.totals, dir, name);
  if (!spilled) {
    failure = remote ? spilled.error().within("worker node " + st.node).text()
                     : spilled.error().text();
    spdlog::error("job {}: {}", w.job, failure);
    return;
  }
  const uint64_t bytes = *spilled;
  if (remote) {
    job.node_spilled += bytes;
    spdlog::info("job {}: spilled {} bytes to {} (over this node's share of "
                 "{} bytes)",
                 w.job, bytes, dir, spill_at);
  } else {
    spdlog::debug("job {}: spilled {} bytes ({})", w.job, bytes, name);
  }
}

// Reads the item's range from `window` (or reports `failure`).
void read(worker_self self, const work_source_actor& coordinator,
          const work_item& w, file_window window, const std::string& failure) {
  read_done out{w.job, w.index, {}, failure, self->mailbox().size()};
  auto& job = self->state.jobs[w.job];
  if (failure.empty())
    out.report = read_range(window, w.range, w.layout, w.on_bad_rows,
                            job.totals, w.index);
  if (out.failure.empty())
    maybe_spill(self, w, job, out.failure);
  self->send(coordinator, std::move(out));
}

void ask_for_work(worker_self self, const work_source_actor& coordinator);

// A partial on its way from another node to the one who collects it (the
// finisher), partition by partition (actors/messages.hpp, partial_blob).
struct collecting {
  std::string job;
  partial_aggregate totals;
  job_spill_dir spill_dir;
  finisher_actor to;
  caf::typed_response_promise<partial_blob> promise;
  uint32_t pieces = 0;
  uint64_t spilled = 0; // what this node spilled of it
};

// Sends the partial's partitions from `p` on: each one's part in memory
// merged with what was spilled of it, encoded on its own and sent in pieces
// of partial_piece_size, the last piece as a request. Its answer asks for
// the next: the node holds one partition's bytes at a time, and so does
// the link (BASP has no flow control of its own).
void send_parts(worker_self self, const std::shared_ptr<collecting>& c,
                uint32_t p) {
  for (; p < partial_aggregate::partitions; ++p) {
    partial_aggregate part = c->totals.take_partition(p);
    if (!c->spill_dir.path.empty()) {
      std::shared_lock<std::shared_mutex> reading(self->state.budget->writing);
      const auto merged = merge_spilled_partition(c->spill_dir.path, p, part);
      if (!merged || !*merged) {
        // The finisher reads this worker's ranges again for the
        // partitions not sent, and finds an overflow itself.
        spdlog::error("job {}: {}", c->job,
                      merged ? "a total overflows" : merged.error().text());
        c->promise.deliver(partial_blob{c->job, nullptr, false, c->pieces});
        return;
      }
    }
    if (part.songs() == 0)
      continue;
    std::string bytes = part.encode_partition(p);
    part = partial_aggregate{};
    size_t at = 0;
    for (; bytes.size() - at > partial_piece_size; at += partial_piece_size) {
      self->send(c->to, partial_piece_atom::value, c->job,
                 bytes.substr(at, partial_piece_size));
      ++c->pieces;
    }
    ++c->pieces;
    bytes.erase(0, at);
    self->request(c->to, caf::infinite, partial_piece_atom::value, c->job,
                  std::move(bytes), uint32_t{1} << p)
        .then(
            [=](bool go_on) {
              if (go_on)
                send_parts(self, c, p + 1);
              else
                c->promise.deliver(
                    partial_blob{c->job, nullptr, false, c->pieces});
            },
            [=](const caf::error&) {
              c->promise.deliver(
                  partial_blob{c->job, nullptr, false, c->pieces});
            });
    return;
  }
  partial_blob out{c->job, nullptr, true, c->pieces, c->spilled};
  if (c->pieces == 0) // nothing at all: an empty partial, in the blob
    out.totals = std::make_shared<partial_aggregate>();
  c->promise.deliver(std::move(out));
}

// A worker on the file's node maps the range; a worker elsewhere receives
// its bytes on its feed.
void run(worker_self self, const work_source_actor& coordinator, work_item& w) {
  if (w.parcel != 0) {
    // Ask first: the next range's bytes travel while this one is read. The
    // coordinator decides whether this worker keeps up enough to fetch
    // ahead: if not, it answers only once this range is reported, so that a
    // slow node never holds two ranges.
    ask_for_work(self, coordinator);
    auto& feed = self->state.feed;
    auto bytes = feed ? feed->receive(w.parcel, w.range.size())
                      : result<std::string_view>(failure::words("none"));
    if (!bytes) {
      // Out of step with the server: quit, so that the coordinator hands
      // this worker's ranges to others.
      spdlog::error("worker lost its byte feed: {}", bytes.error().text());
      return self->quit(caf::sec::runtime_error);
    }
    read(self, coordinator, w, file_window{*bytes, w.range.begin}, {});
    return;
  }
  auto& j = self->state.jobs[w.job];
  std::string failure = open(j, w.path);
  mapped_window bytes;
  if (failure.empty()) {
    auto mapped = j.file.map(w.range.begin, w.range.end);
    if (mapped)
      bytes = std::move(*mapped);
    else
      failure = mapped.error().text();
  }
  read(self, coordinator, w, bytes.window(), failure);
  ask_for_work(self, coordinator);
}

void ask_for_work(worker_self self, const work_source_actor& coordinator) {
  self->request(coordinator, caf::infinite, ask_work_atom::value)
      .then([=](work_item& w) { run(self, coordinator, w); },
            [=](const caf::error&) { self->quit(); });
}

worker_actor::behavior_type
worker(worker_self self, const work_source_actor& coordinator, std::string node,
       std::shared_ptr<range_source> feed, std::shared_ptr<node_spill> spill) {
  const uint64_t feed_id = feed ? feed->id() : 0;
  self->state.feed = std::move(feed);
  self->state.budget = std::move(spill);
  self->state.node = node;
  self->send(coordinator, join_atom::value,
             worker_info{std::move(node), feed_id});
  ask_for_work(self, coordinator);
  self->monitor(coordinator);
  self->set_down_handler([=](caf::down_msg&) { self->quit(); });
  return {
      [=](collect_atom, const std::string& job) -> caf::result<partial_blob> {
        auto& st = self->state;
        auto i = st.jobs.find(job);
        if (i == st.jobs.end())
          return partial_blob{job, nullptr, false};
        auto& j = i->second;
        // In this process the partial travels as an object; a small one
        // from another node in the blob itself.
        if (!st.feed || (j.spill_dir.path.empty() &&
                         j.totals.bytes() <= partial_piece_size)) {
          partial_blob out{job, nullptr, true};
          out.totals = std::make_shared<partial_aggregate>(std::move(j.totals));
          st.jobs.erase(i);
          return out;
        }
        auto c = std::make_shared<collecting>();
        c->job = job;
        c->totals = std::move(j.totals);
        c->spill_dir = std::move(j.spill_dir);
        c->spilled = j.node_spilled;
        // Only a finisher collects.
        c->to = caf::actor_cast<finisher_actor>(self->current_sender());
        c->promise = self->make_response_promise<partial_blob>();
        st.jobs.erase(i);
        send_parts(self, c, 0);
        return c->promise;
      },
      [=](drop_atom, const std::string& job) {
        // Taken off the job (canceled, or its ranges given to others): what
        // it spilled of it does not count, and may have been written after
        // the job's end removed the spills.
        auto i = self->state.jobs.find(job);
        if (i == self->state.jobs.end())
          return;
        remove_spills_named(i->second.local_spills, local_spill_name(self));
        self->state.jobs.erase(i);
      },
  };
}

} // namespace

worker_actor spawn_worker(caf::actor_system& system,
                          const work_source_actor& coordinator,
                          std::string node, std::unique_ptr<range_source> feed,
                          std::shared_ptr<node_spill> spill) {
  return system.spawn<caf::detached>(
      worker, coordinator, std::move(node),
      std::shared_ptr<range_source>(std::move(feed)), std::move(spill));
}

} // namespace playcount
