#include "actors/finisher.hpp"

#include "core/mapped_file.hpp"
#include "core/result_writer.hpp"
#include "core/spill.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <malloc.h>
#include <map>
#include <optional>
#include <set>
#include <thread>

namespace playcount {

namespace {

using clock_type = std::chrono::steady_clock;

// What came so far of a partial from another node (partial_blob): the
// pieces of the part under way, and the partitions merged already.
struct incoming {
  std::string part;
  uint64_t bytes = 0;   // of all its pieces so far
  uint64_t allowed = 0; // what its ranges can justify (partial_allowance)
  uint32_t pieces = 0;
  uint32_t received = 0; // a bit per partition
  bool broken = false;   // a part that does not decode: the rest is ignored
};

// A holder that did not answer with all of its partial: its ranges are read
// again, for the partitions it did not send.
struct lost_holder {
  std::vector<uint32_t> ranges;
  uint32_t received = 0;
};

static_assert(partial_aggregate::partitions <= 32, "a bit per partition");

struct finisher_state {
  finish_input in;
  partial_aggregate totals;
  bool empty = true; // nothing merged into totals yet
  bool overflow = false;
  size_t pending = 0;
  std::set<caf::actor_addr> settled;
  std::vector<lost_holder> lost;
  std::map<caf::actor_addr, incoming> pieces;
  // Names of the spills that count: the finisher's own, and those of the
  // workers in this process whose partials came whole (a worker taken off
  // the job may have spilled ranges that others read again).
  std::vector<std::string> spill_owners{"f-"};
  uint32_t spills = 0;       // of totals, under the job's budget
  uint64_t node_spilled = 0; // what worker nodes spilled to their own disks
  std::string spill_error;   // totals could not be spilled: the job fails
  clock_type::time_point merge_start = clock_type::now();
  static inline const char* name = "playcount.finisher";
};

using finisher_self = finisher_actor::stateful_pointer<finisher_state>;

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

// Merging and writing use every core: nothing else of the job runs then.
unsigned merge_threads() {
  return std::max(1u, std::thread::hardware_concurrency());
}

// Past a third of the job's budget (as the workers' partials together),
// the totals merged so far go to the job's spill directory. Called where
// what is merged did not count in this process's budget: partials from other
// nodes (whatever their nodes' budgets), ranges read again here. The
// partials of workers in this process are within it already.
void maybe_spill(finisher_state& st) {
  const job_request& r = st.in.request;
  if (r.spill_dir.empty() || r.memory_limit == 0 || !st.spill_error.empty() ||
      st.totals.bytes() <= r.memory_limit / 3)
    return;
  const std::string name = "f-" + std::to_string(st.spills++);
  const auto spilled = spill(st.totals, r.spill_dir, name);
  if (!spilled) {
    st.spill_error = spilled.error().text();
    spdlog::error("job {}: {}", r.id, st.spill_error);
  } else {
    spdlog::debug("job {}: spilled {} bytes of merged totals ({})", r.id,
                  *spilled, name);
    st.in.meter->spilling.add(*spilled);
  }
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
  return request.on_bad_rows;
}

// What a job's error says when the input cannot be read again.
constexpr std::string_view reread = "cannot read the input again";

// A total overflowed, and the record where it first does cannot be found
// by reading the input again.
constexpr std::string_view freed_overflow_error =
    "overflow: a total is larger than 9223372036854775807 (the first record "
    "where it happens is not known: standard input and compressed files are "
    "not kept whole to be read again)";

// Every partial is in: reads what was lost again, places an overflow,
// writes the result and tells the coordinator.
job_result complete(finisher_state& st) {
  job_result result;
  result.id = st.in.request.id;
  result.scan_seconds = st.in.scan_seconds;
  result.read_seconds = st.in.read_seconds;
  job_outcome outcome = std::move(st.in.outcome);
  bool overflow = st.overflow || outcome.needs_sequential_read;
  if (!st.spill_error.empty())
    result.error = st.spill_error;
  // A spooled input frees what was read (growing_file): nothing of it can
  // be read again.
  const bool freed =
      st.in.request.growing && st.in.request.growing->now().freed > 0;
  if (!st.lost.empty() && !overflow && result.error.empty() && freed)
    result.error = growing_file::freed_reread_error;
  if (result.error.empty() && overflow && freed)
    result.error = std::string(freed_overflow_error);
  if (!st.lost.empty() && !overflow && result.error.empty()) {
    // The reports of these ranges are known: only their totals are lost.
    // Each range is mapped on its own, as a worker does (bounded memory).
    file_handle file;
    if (auto opened = file.open(st.in.request.input_path); !opened)
      result.error = opened.error().within(reread).text();
    for (const lost_holder& h : st.lost) {
      spdlog::debug("job {}: {} range(s) of a lost partial read again, for "
                    "the partitions not in {:#x}",
                    st.in.request.id, h.ranges.size(), h.received);
      partial_aggregate part;
      for (uint32_t index : h.ranges) {
        if (!result.error.empty())
          break;
        const byte_range range = st.in.ranges[index];
        const auto bytes = file.map(range.begin, range.end);
        if (!bytes) {
          result.error = bytes.error().within(reread).text();
          break;
        }
        (void)read_range(bytes->window(), range, st.in.layout,
                         policy(st.in.request), part, index);
      }
      if (!result.error.empty())
        break;
      // What the holder sent of these partitions is merged already.
      for (uint32_t p = 0; p < partial_aggregate::partitions; ++p)
        if ((h.received >> p) & 1)
          (void)part.take_partition(p);
      merge(st, part);
      maybe_spill(st);
    }
    overflow = st.overflow;
    if (!st.spill_error.empty())
      result.error = st.spill_error;
  }
  // Running totals only overflow at one record in file order: a file is
  // read again to find it (into outcome.error); freed input cannot be.
  const auto place_overflow = [&] {
    if (freed) {
      result.error = std::string(freed_overflow_error);
      return;
    }
    mapped_file file;
    if (auto opened = file.open(st.in.request.input_path); !opened)
      result.error = opened.error().within(reread).text();
    else
      outcome =
          read_sequentially(file.bytes(), st.in.layout, policy(st.in.request))
              .outcome;
  };
  if (result.error.empty() && overflow)
    place_overflow();
  result.merge_seconds = seconds_since(st.merge_start);
  const auto write_start = clock_type::now();
  result.spilled_bytes = st.node_spilled;
  // The rows read, and the input's first error, as the job's.
  const auto take_outcome = [&] {
    result.rows = outcome.rows;
    result.bad_rows = outcome.bad_rows;
    result.first_bad.clear();
    for (const input_error& e : outcome.first_bad)
      result.first_bad.push_back(e.to_string());
    if (result.error.empty() && outcome.error)
      result.error = outcome.error->to_string();
  };
  take_outcome();
  if (result.error.empty()) {
    const std::string& path = st.in.request.output_path;
    const std::string& spills = st.in.request.spill_dir;
    std::optional<failure> why;
    // summary.json and songs.idx, when asked for, with the result.
    summary_files beside{st.in.request.summary_path,
                         st.in.request.index_path,
                         policy(st.in.request) == bad_row_policy::skip
                             ? std::optional<uint64_t>(outcome.bad_rows)
                             : std::nullopt,
                         {}};
    summary_files* summary =
        beside.summary_path.empty() && beside.index_path.empty() ? nullptr
                                                                 : &beside;
    if (!spills.empty() && has_spills(spills)) {
      // Partitions merged one at a time, from disk (spill.hpp).
      result.spilled_bytes += spilled_bytes(spills);
      std::vector<partial_aggregate> in_memory;
      in_memory.push_back(std::move(st.totals));
      const auto written = write_spilled_result(
          in_memory, spills, st.spill_owners, path, st.in.request.durable,
          &st.in.meter->writing, summary);
      if (!written) {
        why = written.error();
      } else if (written->overflow) {
        // Totals that each fit, spilled apart, overflow only once merged
        // here: a bad input as any overflow, placed the same way (no file
        // was written).
        place_overflow();
        take_outcome();
        if (result.error.empty()) // the read again found none
          result.error = "overflow: a total is larger than 9223372036854775807";
      } else {
        result.groups = written->groups;
      }
    } else {
      result.groups = st.totals.groups();
      auto written =
          write_result(st.totals, path, st.in.request.durable, merge_threads(),
                       &st.in.meter->writing, summary);
      if (!written)
        why = std::move(written).error();
    }
    result.ok = !why && result.error.empty();
    // With full paths: the CLI's user is told where (`cannot write
    // /dev/full`); the registry takes the job's directory out for API
    // clients, as from every error of a job (without_job_dir).
    if (why) {
      result.output_errno = why->code;
      result.error = std::move(*why).within(result_write_failed).text();
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
void settle(finisher_self self, const coordinator_actor& coordinator,
            const caf::actor_addr& holder, partial_blob* blob) {
  auto& st = self->state;
  if (!st.settled.insert(holder).second)
    return;
  // A partial from another node came in parts before (merged already): it
  // is whole when every piece it counts came, all in finished parts.
  const incoming in = std::move(st.pieces[holder]);
  st.pieces.erase(holder);
  if (blob != nullptr) { // written to disk whether or not the partial is whole
    st.node_spilled += blob->node_spilled;
    st.in.meter->spilling.add(blob->node_spilled);
  }
  bool whole = false;
  if (blob != nullptr && blob->ok && blob->pieces > 0) {
    whole = !in.broken && in.part.empty() && in.pieces == blob->pieces;
    spdlog::debug("job {}: a partial in {} pieces{}", st.in.request.id,
                  in.pieces, whole ? "" : " that is not whole: read again");
  } else if (blob != nullptr && blob->ok && blob->totals && in.received == 0) {
    merge(st, *blob->totals);
    if (holder.node() != self->node())
      maybe_spill(st);
    whole = true;
  }
  if (whole && holder.node() == self->node()) // spilled here: worker.cpp
    st.spill_owners.push_back("w" + std::to_string(holder.id()) + "-");
  if (!whole)
    for (const auto& h : st.in.holders)
      if (h.worker.address() == holder)
        st.lost.push_back(lost_holder{h.ranges, in.received});
  st.in.meter->merging.add(1);
  if (--st.pending == 0) {
    self->send(coordinator, finished_atom::value, complete(st));
    self->quit();
  }
}

// The most bytes a partial of `ranges` may take in its byte form: a group
// costs at most a few times its shortest row (",YYYY-MM-DD,1\n", 14 bytes)
// there, a song its name and 24 bytes. A peer that sends more is not
// believed, and is not given the memory (its ranges are read again).
uint64_t partial_allowance(const std::vector<byte_range>& all,
                           const std::vector<uint32_t>& ranges) {
  uint64_t bytes = 0;
  for (const uint32_t r : ranges)
    bytes += r < all.size() ? all[r].size() : 0;
  return 8 * bytes + (16u << 20);
}

// What came so far from the sender, a holder of this job that is still
// sending; nullptr for anyone else.
incoming* sender_in(finisher_self self, const std::string& job) {
  auto& st = self->state;
  const caf::actor_addr from =
      caf::actor_cast<caf::actor_addr>(self->current_sender());
  const partial_holder* holder = nullptr;
  for (const auto& h : st.in.holders)
    if (h.worker.address() == from)
      holder = &h;
  if (job != st.in.request.id || holder == nullptr ||
      st.settled.count(from) != 0)
    return nullptr;
  incoming& in = st.pieces[from];
  if (in.allowed == 0)
    in.allowed = partial_allowance(st.in.ranges, holder->ranges);
  return in.broken ? nullptr : &in;
}

// A piece of a holder's partial (actors/messages.hpp, partial_blob); when
// `partitions` is set, the last of a part that holds those partitions. The
// part is decoded and merged at once, on this thread: the finisher holds
// one part's bytes per holder, never a whole partial's.
void take_piece(finisher_self self, incoming& in, std::string& bytes,
                uint32_t partitions) {
  auto& st = self->state;
  in.bytes += bytes.size();
  if (in.bytes > in.allowed) {
    spdlog::warn("job {}: a partial over {} bytes, more than its ranges can "
                 "hold: its ranges are read again",
                 st.in.request.id, in.allowed);
    in.part = std::string{};
    in.broken = true;
    return;
  }
  in.part += bytes;
  ++in.pieces;
  if (partitions == 0)
    return;
  partial_aggregate part;
  bool ok = (partitions & in.received) == 0 &&
            partial_aggregate::decode(in.part, part);
  in.part = std::string{};
  // It holds only the partitions it says (a song's partition is its
  // hash's, the same on every node): the holder's other ones may be read
  // again if it is lost.
  for (uint32_t p = 0; ok && p < partial_aggregate::partitions; ++p)
    if (((partitions >> p) & 1) == 0)
      ok = part.take_partition(p).songs() == 0;
  if (!ok) {
    spdlog::warn("job {}: a part of a partial that does not decode: its "
                 "ranges are read again",
                 st.in.request.id);
    in.broken = true;
    return;
  }
  in.received |= partitions;
  spdlog::debug("job {}: merged partitions {:#x} of a partial",
                st.in.request.id, partitions);
  merge(st, part);
  maybe_spill(st);
}

finisher_actor::behavior_type finisher(finisher_self self,
                                       const coordinator_actor& coordinator,
                                       finish_input in) {
  auto& st = self->state;
  st.in = std::move(in);
  st.pending = st.in.holders.size();
  st.in.meter->merging.set_total(st.pending);
  if (st.pending == 0) { // nothing to collect: done at once
    self->send(coordinator, finished_atom::value, complete(st));
    self->quit();
  }
  self->set_down_handler([=](const caf::down_msg& msg) {
    settle(self, coordinator, msg.source, nullptr);
  });
  // All requests go out first: remote workers encode their parts at once.
  for (const partial_holder& h : st.in.holders) {
    const caf::actor_addr addr = h.worker.address();
    self->monitor(h.worker);
    self->request(h.worker, caf::infinite, collect_atom::value,
                  st.in.request.id)
        .then(
            [=](partial_blob& blob) { settle(self, coordinator, addr, &blob); },
            [=](caf::error&) { settle(self, coordinator, addr, nullptr); });
  }
  return {
      // Alive while the answers above are awaited; pieces come before them.
      [=](partial_piece_atom, const std::string& job, std::string& bytes) {
        if (incoming* in = sender_in(self, job))
          take_piece(self, *in, bytes, 0);
      },
      // The last piece of a part: the answer (go on?) goes out first, so that
      // the node encodes its next part while this one is merged. A part that
      // does not decode stops the holder at its next part.
      [=](partial_piece_atom, const std::string& job, std::string& bytes,
          uint32_t partitions) -> caf::result<bool> {
        incoming* in = sender_in(self, job);
        if (partitions == 0 || in == nullptr)
          return false;
        auto answer = self->make_response_promise<bool>();
        answer.deliver(true);
        take_piece(self, *in, bytes, partitions);
        return answer;
      },
  };
}

} // namespace

void spawn_finisher(caf::actor_system& system,
                    const coordinator_actor& coordinator, finish_input in) {
  system.spawn<caf::detached>(finisher, coordinator, std::move(in));
}

} // namespace playcount
