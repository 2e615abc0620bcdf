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
  std::string failure = open(j, w.path);
  // A scan also looks at the byte before its chunk.
  const uint64_t from = w.kind == work_item::scan && w.range.begin > 0
                          ? w.range.begin - 1
                          : w.range.begin;
  const mapped_window bytes = failure.empty()
                                ? j.file.map(from, w.range.end, failure)
                                : mapped_window{};
  const auto reply_to = caf::actor_cast<caf::actor>(self->current_sender());
  if (w.kind == work_item::scan) {
    scan_done out{w.job, w.index, {}, failure, self->mailbox().size()};
    if (failure.empty())
      out.scan = scan_chunk(bytes.window(), w.range);
    self->send(reply_to, out);
    return;
  }
  read_done out{w.job, w.index, {}, failure, self->mailbox().size()};
  if (failure.empty())
    out.report = read_range(bytes.window(), w.range, w.layout,
                            w.skip_bad_rows ? bad_row_policy::skip
                                            : bad_row_policy::fail,
                            j.totals, w.index);
  self->send(reply_to, out);
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
