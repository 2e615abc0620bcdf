#include "actors/worker.hpp"

#include "actors/messages.hpp"
#include "core/mapped_file.hpp"

#include <map>

namespace playcount {

namespace {

struct worker_state {
  struct job {
    file_handle file;
    std::string open_error;
    bool opened = false;
    partial_aggregate totals;
  };
  std::map<std::string, job> jobs;
  std::string pieces; // a shipped range arriving in pieces
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
  if (failure.empty())
    out.report = read_range(window, w.range, w.layout,
                            w.skip_bad_rows ? bad_row_policy::skip
                                            : bad_row_policy::fail,
                            self->state.jobs[w.job].totals, w.index);
  self->send(coordinator, std::move(out));
}

void ask_for_work(worker_actor* self, const caf::actor& coordinator);

// Asks for the rest of a shipped range, piece by piece (each message stays
// bounded), then reads it.
void fetch_rest(worker_actor* self, const caf::actor& coordinator,
                const work_item& w) {
  const uint64_t from = w.range.begin + self->state.pieces.size();
  self
    ->request(coordinator, caf::infinite, more_atom::value, w.job, w.index,
              from)
    .then(
      [=](const range_bytes& piece) {
        auto& pieces = self->state.pieces;
        const std::string_view bytes = piece.bytes();
        if (piece.offset != from || bytes.empty() ||
            bytes.size() > w.range.end - from) {
          pieces.clear(); // not what was asked: drop the item
          return ask_for_work(self, coordinator);
        }
        pieces.append(bytes);
        if (pieces.size() < w.range.size())
          return fetch_rest(self, coordinator, w);
        read(self, coordinator, w, file_window{pieces, w.range.begin}, {});
        pieces.clear();
        ask_for_work(self, coordinator);
      },
      [=](const caf::error&) {
        // The job is gone (canceled or failed): drop the item.
        self->state.pieces.clear();
        ask_for_work(self, coordinator);
      });
}

// A worker on the file's node maps the range; a worker elsewhere has its
// bytes shipped.
void run(worker_actor* self, const caf::actor& coordinator, work_item& w) {
  if (w.shipped) {
    const std::string_view first = w.bytes.bytes();
    if (first.size() == w.range.size()) {
      // Ask first: the next range's bytes travel while this one is read.
      ask_for_work(self, coordinator);
      read(self, coordinator, w, file_window{first, w.range.begin}, {});
      return;
    }
    self->state.pieces.assign(first);
    w.bytes = range_bytes{};
    return fetch_rest(self, coordinator, w);
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
                     std::string node) {
  self->send(coordinator, join_atom::value, worker_info{std::move(node)});
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
      }
      return out;
    },
    [=](drop_atom, const std::string& job) { self->state.jobs.erase(job); },
  };
}

} // namespace

caf::actor spawn_worker(caf::actor_system& system, const caf::actor& coordinator,
                        std::string node) {
  return system.spawn<caf::detached>(worker, coordinator, std::move(node));
}

} // namespace playcount
