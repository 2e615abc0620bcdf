#pragma once

// What every part of the HTTP server shares: its configuration, the job
// registry and the one way to ask it (a continuation, never a wait).

#include "http/api.hpp"
#include "http/job_summaries.hpp"
#include "http/result_gzip.hpp"
#include "http/server.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <tuple>
#include <utility>

namespace playcount::http {

class download_pump;

struct server_context {
  server_context(caf::actor_system& system_in, job_registry_actor registry_in,
                 server_config config_in)
      : system(system_in)
      , registry(std::move(registry_in))
      , config(std::move(config_in))
      , summaries(config.summaries ? config.summaries
                                   : std::make_shared<job_summaries>()) {}
  caf::actor_system& system;
  job_registry_actor registry;
  const server_config config;
  download_pump* pump = nullptr; // set before the first request
  // The summaries and song indexes of finished jobs (job_summaries.hpp).
  std::shared_ptr<job_summaries> summaries;
  // The gzip variants of results being made: two at a time at most (each
  // takes a core for a second or so per GB).
  std::shared_ptr<result_gzips> gzips = std::make_shared<result_gzips>(2);
  // Warm shutdown (server::drain): uploads get 503, /healthz 503.
  std::atomic<bool> draining{false};
  // Takes jobs (server::set_ready): /readyz answers 200 while this is set
  // and the server does not drain.
  std::atomic<bool> ready{false};
  // Uploads being received (and answered): the shutdown waits for them.
  std::atomic<size_t> uploads{0};
  // Answers to the registry's replies are written on CAF's threads, after
  // their Pistache handler has returned, through Pistache's transport,
  // which server::stop destroys. Such an answer holds `answering` shared
  // and writes only while `stopped` is false; stop() sets it holding
  // `answering` exclusively, so that no answer is half-way when Pistache
  // goes.
  std::shared_mutex answering;
  bool stopped = false;
};

/// The answer when the registry did not answer in time.
inline api_error registry_silent() {
  return {api_errc::unavailable, "the job registry did not answer; try again"};
}

/// Asks the job registry without blocking the calling (Pistache) thread:
/// `then` runs later on a CAF thread with the answer, or with nullopt when
/// the registry did not answer within config.registry_timeout (or is
/// gone); that is logged here. One short-lived actor per question: it
/// lives until its one answer (or the timeout) has been handled.
template <class Result, class F, class... Ts>
void ask_registry(server_context& ctx, F then, Ts... xs) {
  auto shared_then = std::make_shared<F>(std::move(then));
  ctx.system.spawn([registry = ctx.registry,
                    timeout = ctx.config.registry_timeout, shared_then,
                    args = std::make_tuple(std::move(xs)...)](
                       caf::event_based_actor* self) mutable {
    std::apply(
        [&](auto&... ys) {
          self->request(registry, timeout, ys...)
              .then(
                  [shared_then](Result& r) {
                    (*shared_then)(std::optional<Result>(std::move(r)));
                  },
                  [shared_then](caf::error& e) {
                    spdlog::error("the job registry did not answer: {}",
                                  caf::to_string(e));
                    (*shared_then)(std::optional<Result>());
                  });
        },
        args);
  });
}

} // namespace playcount::http
