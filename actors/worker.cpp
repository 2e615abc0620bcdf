#include "actors/worker.hpp"

#include "actors/messages.hpp"
#include "core/mapped_file.hpp"

#include <map>

namespace playcount {

namespace {

struct worker_state {
  struct job {
    mapped_file file;
    std::string open_error;
    bool opened = false;
    partial_aggregate totals;
  };
  std::map<std::string, job> jobs;
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

void run(worker_actor* self, const work_item& w) {
  auto& j = self->state.jobs[w.job];
  const std::string& failure = open(j, w.path);
  if (w.kind == work_item::scan) {
    scan_done out{w.job, w.index, {}, failure};
    if (failure.empty()) {
      out.scan = scan_chunk(j.file.bytes(), w.range);
      j.file.release(w.range.begin, w.range.end);
    }
    self->send(caf::actor_cast<caf::actor>(self->current_sender()), out);
    return;
  }
  read_done out{w.job, w.index, {}, failure};
  if (failure.empty()) {
    out.report = read_range(j.file.bytes(), w.range, w.layout,
                            w.skip_bad_rows ? bad_row_policy::skip
                                            : bad_row_policy::fail,
                            j.totals, w.index);
    j.file.release(w.range.begin, w.range.end);
  }
  self->send(caf::actor_cast<caf::actor>(self->current_sender()), out);
}

void ask_for_work(worker_actor* self, const caf::actor& coordinator) {
  self->request(coordinator, caf::infinite, ask_work_atom::value)
    .then(
      [=](const work_item& w) {
        run(self, w);
        ask_for_work(self, coordinator);
      },
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
      partial_blob out{job, {}, false};
      auto i = self->state.jobs.find(job);
      if (i != self->state.jobs.end()) {
        out.bytes = i->second.totals.encode();
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
