#include "actors/finisher.hpp"

#include "core/mapped_file.hpp"
#include "core/result_writer.hpp"

#include <chrono>

namespace playcount {

namespace {

void finisher(caf::blocking_actor* self, caf::actor coordinator,
              finish_input in) {
  using clock = std::chrono::steady_clock;
  const auto seconds_since = [](clock::time_point t) {
    return std::chrono::duration<double>(clock::now() - t).count();
  };
  const auto merge_start = clock::now();
  job_result result;
  result.id = in.request.id;
  result.scan_seconds = in.scan_seconds;
  result.read_seconds = in.read_seconds;
  partial_aggregate totals;
  bool first = true;
  bool overflow = in.outcome.needs_sequential_read;
  // All requests go out first: remote workers encode their parts at once.
  using handle = decltype(self->request(caf::actor{}, caf::infinite,
                                        collect_atom::value, std::string{}));
  std::vector<handle> pending;
  for (const caf::actor& holder : in.holders)
    pending.push_back(self->request(holder, caf::infinite, collect_atom::value,
                                    in.request.id));
  for (auto& reply : pending) {
    reply.receive(
      [&](partial_blob& blob) {
        if (!blob.ok || !blob.totals) {
          result.error = "a worker lost its part of the job";
        } else if (first) {
          totals = std::move(*blob.totals);
          first = false;
        } else if (!totals.merge(*blob.totals)) {
          overflow = true;
        }
      },
      [&](caf::error& e) {
        result.error = "a worker was lost while merging: " + to_string(e);
      });
  }
  job_outcome outcome = std::move(in.outcome);
  if (result.error.empty() && overflow) {
    // Running totals only overflow at one record in file order.
    mapped_file file;
    if (!file.open(in.request.input_path, result.error)) {
      result.error = "cannot read the input again: " + result.error;
    } else {
      outcome = read_sequentially(file.bytes(), in.layout,
                                  in.request.skip_bad_rows
                                    ? bad_row_policy::skip
                                    : bad_row_policy::fail)
                  .outcome;
    }
  }
  result.merge_seconds = seconds_since(merge_start);
  const auto write_start = clock::now();
  result.rows = outcome.rows;
  result.bad_rows = outcome.bad_rows;
  for (const input_error& e : outcome.first_bad)
    result.first_bad.push_back(e.to_string());
  if (result.error.empty() && outcome.error) {
    result.error = outcome.error->to_string();
  } else if (result.error.empty()) {
    result.groups = totals.groups();
    result.ok = write_result(totals, in.request.output_path,
                             in.request.durable, result.error);
    if (!result.ok) {
      // Said to API clients: the file's name, not where the server keeps it.
      const auto slash = in.request.output_path.rfind('/');
      if (slash != std::string::npos) {
        const std::string dir = in.request.output_path.substr(0, slash + 1);
        for (size_t at; (at = result.error.find(dir)) != std::string::npos;)
          result.error.erase(at, dir.size());
      }
      result.error = "the result could not be written: " + result.error;
    }
    result.write_seconds = seconds_since(write_start);
  }
  self->send(coordinator, finished_atom::value, std::move(result));
}

} // namespace

void spawn_finisher(caf::actor_system& system, const caf::actor& coordinator,
                    finish_input in) {
  system.spawn<caf::detached>(finisher, coordinator, std::move(in));
}

} // namespace playcount
