#include "actors/finisher.hpp"

#include "core/mapped_file.hpp"
#include "core/result_writer.hpp"
#include "core/spill.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <malloc.h>
#include <map>
#include <set>
#include <thread>

namespace playcount {

namespace {

using clock_type = std::chrono::steady_clock;

struct finisher_state {
  finish_input in;
  partial_aggregate totals;
  bool empty = true; // nothing merged into totals yet
  bool overflow = false;
  size_t pending = 0;
  std::set<caf::actor_addr> settled;
  std::vector<uint32_t> lost; // ranges of holders that did not answer
  // Pieces of a remote holder's partial so far (partial_blob), and how many.
  std::map<caf::actor_addr, std::pair<std::string, uint32_t>> pieces;
  clock_type::time_point merge_start = clock_type::now();
  static inline const char* name = "playcount.finisher";
};

using finisher_actor = caf::stateful_actor<finisher_state>;

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

// Merging and writing use every core: nothing else of the job runs then.
unsigned merge_threads() {
  return std::max(1u, std::thread::hardware_concurrency());
}

void merge(finisher_state& st, partial_aggregate& part) {
  if (st.empty) {
    st.totals = std::move(part);
    st.empty = false;
  } else if (!st.totals.merge(std::move(part), merge_threads())) {
    st.overflow = true;
  }
}

bad_row_policy policy(const job_request& request) {
  return request.skip_bad_rows ? bad_row_policy::skip : bad_row_policy::fail;
}

// Every partial is in: reads what was lost again, places an overflow,
// writes the result and tells the coordinator.
job_result complete(finisher_state& st) {
  job_result result;
  result.id = st.in.request.id;
  result.scan_seconds = st.in.scan_seconds;
  result.read_seconds = st.in.read_seconds;
  job_outcome outcome = std::move(st.in.outcome);
  bool overflow = st.overflow || outcome.needs_sequential_read;
  if (!st.lost.empty() && !overflow) {
    // The reports of these ranges are known: only their totals are lost.
    // Each range is mapped on its own, as a worker does (bounded memory).
    file_handle file;
    partial_aggregate part;
    if (!file.open(st.in.request.input_path, result.error)) {
      result.error = "cannot read the input again: " + result.error;
    } else {
      for (uint32_t index : st.lost) {
        const byte_range range = st.in.ranges[index];
        const mapped_window bytes = file.map(range.begin, range.end, result.error);
        if (!result.error.empty()) {
          result.error = "cannot read the input again: " + result.error;
          break;
        }
        (void)read_range(bytes.window(), range, st.in.layout,
                         policy(st.in.request), part, index);
      }
      merge(st, part);
      overflow = st.overflow;
    }
  }
  if (result.error.empty() && overflow) {
    // Running totals only overflow at one record in file order.
    mapped_file file;
    if (!file.open(st.in.request.input_path, result.error))
      result.error = "cannot read the input again: " + result.error;
    else
      outcome = read_sequentially(file.bytes(), st.in.layout,
                                  policy(st.in.request))
                  .outcome;
  }
  result.merge_seconds = seconds_since(st.merge_start);
  const auto write_start = clock_type::now();
  result.rows = outcome.rows;
  result.bad_rows = outcome.bad_rows;
  for (const input_error& e : outcome.first_bad)
    result.first_bad.push_back(e.to_string());
  if (result.error.empty() && outcome.error) {
    result.error = outcome.error->to_string();
  } else if (result.error.empty()) {
    const std::string& path = st.in.request.output_path;
    const std::string& spills = st.in.request.spill_dir;
    if (!spills.empty() && has_spills(spills)) {
      // Partitions merged one at a time, from disk (spill.hpp).
      result.spilled_bytes = spilled_bytes(spills);
      std::vector<partial_aggregate> in_memory;
      in_memory.push_back(std::move(st.totals));
      bool overflow_now = false;
      result.ok = write_spilled_result(in_memory, spills, path,
                                       st.in.request.durable, result.groups,
                                       overflow_now, result.error);
      if (overflow_now) // the sequential read above would have found it
        result.error = "overflow: a total is larger than 9223372036854775807";
    } else {
      result.groups = st.totals.groups();
      result.ok = write_result(st.totals, path, st.in.request.durable,
                               result.error, merge_threads());
    }
    if (!result.ok) {
      // Said to API clients: the file's name, not where the server keeps it.
      const auto slash = path.rfind('/');
      if (slash != std::string::npos) {
        const std::string dir = path.substr(0, slash + 1);
        for (size_t at; (at = result.error.find(dir)) != std::string::npos;)
          result.error.erase(at, dir.size());
      }
      result.error = "the result could not be written: " + result.error;
    }
    result.write_seconds = seconds_since(write_start);
  }
  // A long-running server gives the memory of a big job back to the system
  // (freed heap stays with the process otherwise).
  st.totals = partial_aggregate{};
  remove_spills(st.in.request.spill_dir);
  ::malloc_trim(0);
  return result;
}

// A holder answered with its partial (`blob`) or is lost (nullptr).
void settle(finisher_actor* self, const caf::actor& coordinator,
            const caf::actor_addr& holder, partial_blob* blob) {
  auto& st = self->state;
  if (!st.settled.insert(holder).second)
    return;
  if (blob != nullptr && blob->ok && blob->pieces > 0) {
    // Decoded here, on the finisher's thread, not in CAF's network threads.
    auto& [bytes, count] = st.pieces[holder];
    auto part = std::make_shared<partial_aggregate>();
    if (count == blob->pieces && partial_aggregate::decode(bytes, *part))
      blob->totals = std::move(part);
    else
      blob->ok = false;
    spdlog::debug("job {}: a partial of {} bytes in {} pieces{}",
                  st.in.request.id, bytes.size(), count,
                  blob->ok ? "" : " that does not decode: read again");
    st.pieces.erase(holder);
  }
  if (blob != nullptr && blob->ok && blob->totals) {
    merge(st, *blob->totals);
  } else {
    for (const auto& h : st.in.holders)
      if (h.worker.address() == holder)
        st.lost.insert(st.lost.end(), h.ranges.begin(), h.ranges.end());
  }
  st.pieces.erase(holder); // pieces of a holder lost half way, too
  if (--st.pending == 0) {
    self->send(coordinator, finished_atom::value, complete(st));
    self->quit();
  }
}

caf::behavior finisher(finisher_actor* self, caf::actor coordinator,
                       finish_input in) {
  auto& st = self->state;
  st.in = std::move(in);
  st.pending = st.in.holders.size();
  if (st.pending == 0) {
    self->send(coordinator, finished_atom::value, complete(st));
    return {};
  }
  self->set_down_handler([=](const caf::down_msg& msg) {
    settle(self, coordinator, msg.source, nullptr);
  });
  // All requests go out first: remote workers encode their parts at once.
  for (const partial_holder& h : st.in.holders) {
    const caf::actor_addr addr = h.worker.address();
    self->monitor(h.worker);
    self->request(h.worker, caf::infinite, collect_atom::value, st.in.request.id)
      .then([=](partial_blob& blob) { settle(self, coordinator, addr, &blob); },
            [=](caf::error&) { settle(self, coordinator, addr, nullptr); });
  }
  return {
    // Alive while the answers above are awaited; pieces come before them.
    [=](partial_piece_atom, const std::string& job, std::string& bytes) {
      auto& st = self->state;
      const caf::actor_addr from =
        caf::actor_cast<caf::actor_addr>(self->current_sender());
      bool holder = false;
      for (const auto& h : st.in.holders)
        holder = holder || h.worker.address() == from;
      if (job != st.in.request.id || !holder || st.settled.count(from) != 0)
        return;
      auto& [joined, count] = st.pieces[from];
      joined += bytes;
      ++count;
    },
  };
}

} // namespace

void spawn_finisher(caf::actor_system& system, const caf::actor& coordinator,
                    finish_input in) {
  system.spawn<caf::detached>(finisher, coordinator, std::move(in));
}

} // namespace playcount
