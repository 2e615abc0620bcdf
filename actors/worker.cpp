#include "actors/worker.hpp"

#include "actors/messages.hpp"
#include "core/mapped_file.hpp"
#include "core/spill.hpp"

#include <spdlog/spdlog.h>

#include <map>

namespace playcount {

namespace {

struct worker_state {
  struct job {
    file_handle file;
    std::string open_error;
    bool opened = false;
    partial_aggregate totals;
    uint32_t spills = 0;
  };
  std::map<std::string, job> jobs;
  std::shared_ptr<range_source> feed; // on another node: where bytes come
  static inline const char* name = "playcount.worker";
};

using worker_actor = caf::stateful_actor<worker_state>;

// Opens the job's file on first use; empty string on success.
const std::string& open(worker_state::job& j, const std::string& path) {
  if (!j.opened) {
    j.opened = true;
    (void)j.file.open(path, j.open_error);
  }
  return j.open_error;
}

// Reads the item's range from `window` (or reports `failure`).
void read(worker_actor* self, const caf::actor& coordinator,
          const work_item& w, file_window window, const std::string& failure) {
  read_done out{w.job, w.index, {}, failure, self->mailbox().size()};
  auto& job = self->state.jobs[w.job];
  if (failure.empty())
    out.report = read_range(window, w.range, w.layout,
                            w.skip_bad_rows ? bad_row_policy::skip
                                            : bad_row_policy::fail,
                            job.totals, w.index);
  // Over its share of the job's memory: the partial goes to disk. Only on
  // the file's node (the spill directory is the server's).
  if (out.failure.empty() && w.spill_at > 0 && !self->state.feed &&
      job.totals.bytes() > w.spill_at) {
    const std::string name = "w" + std::to_string(self->id()) + "-" +
                             std::to_string(job.spills++);
    uint64_t bytes = 0;
    if (!spill(job.totals, w.spill_dir, name, bytes, out.failure))
      spdlog::error("job {}: {}", w.job, out.failure);
    else
      spdlog::debug("job {}: spilled {} bytes ({})", w.job, bytes, name);
  }
  self->send(coordinator, std::move(out));
}

void ask_for_work(worker_actor* self, const caf::actor& coordinator);

// A large partial goes to the one who collects it (the finisher) in pieces
// of partial_piece_size, ahead of the blob, so that no BASP message holds
// the link for long (actors/messages.hpp, partial_blob).
void send_in_pieces(worker_actor* self, partial_blob& out) {
  const std::string bytes = out.totals->encode();
  if (bytes.size() <= partial_piece_size)
    return;
  const auto to = caf::actor_cast<caf::actor>(self->current_sender());
  for (size_t at = 0; at < bytes.size(); at += partial_piece_size) {
    self->send(to, partial_piece_atom::value, out.job,
               bytes.substr(at, partial_piece_size));
    ++out.pieces;
  }
  out.totals = nullptr;
}

// A worker on the file's node maps the range; a worker elsewhere receives
// its bytes on its feed.
void run(worker_actor* self, const caf::actor& coordinator, work_item& w) {
  if (w.tag != 0) {
    // Ask first: the next range's bytes travel while this one is read. The
    // coordinator decides whether this worker keeps up enough to fetch
    // ahead: if not, it answers only once this range is reported, so that a
    // slow node never holds two ranges.
    ask_for_work(self, coordinator);
    std::string_view bytes;
    std::string error;
    auto& feed = self->state.feed;
    if (!feed || !feed->receive(w.tag, w.range.size(), bytes, error)) {
      // Out of step with the server: quit, so that the coordinator hands
      // this worker's ranges to others.
      spdlog::error("worker lost its byte feed: {}", feed ? error : "none");
      return self->quit(caf::sec::runtime_error);
    }
    read(self, coordinator, w, file_window{bytes, w.range.begin}, {});
    return;
  }
  auto& j = self->state.jobs[w.job];
  std::string failure = open(j, w.path);
  const mapped_window bytes = failure.empty()
                                ? j.file.map(w.range.begin, w.range.end, failure)
                                : mapped_window{};
  read(self, coordinator, w, bytes.window(), failure);
  ask_for_work(self, coordinator);
}

void ask_for_work(worker_actor* self, const caf::actor& coordinator) {
  self->request(coordinator, caf::infinite, ask_work_atom::value)
    .then([=](work_item& w) { run(self, coordinator, w); },
          [=](const caf::error&) { self->quit(); });
}

caf::behavior worker(worker_actor* self, caf::actor coordinator,
                     std::string node, std::shared_ptr<range_source> feed) {
  const uint64_t feed_id = feed ? feed->id() : 0;
  self->state.feed = std::move(feed);
  self->send(coordinator, join_atom::value,
             worker_info{std::move(node), feed_id});
  ask_for_work(self, coordinator);
  self->monitor(coordinator);
  self->set_down_handler([=](caf::down_msg&) { self->quit(); });
  return {
    [=](collect_atom, const std::string& job) {
      partial_blob out{job, nullptr, false};
      auto i = self->state.jobs.find(job);
      if (i != self->state.jobs.end()) {
        out.totals =
          std::make_shared<partial_aggregate>(std::move(i->second.totals));
        out.ok = true;
        self->state.jobs.erase(i);
        if (self->state.feed) // on another node: the blob crosses the wire
          send_in_pieces(self, out);
      }
      return out;
    },
    [=](drop_atom, const std::string& job) { self->state.jobs.erase(job); },
  };
}

} // namespace

caf::actor spawn_worker(caf::actor_system& system, const caf::actor& coordinator,
                        std::string node, std::unique_ptr<range_source> feed) {
  return system.spawn<caf::detached>(worker, coordinator, std::move(node),
                                     std::shared_ptr<range_source>(std::move(feed)));
}

} // namespace playcount
