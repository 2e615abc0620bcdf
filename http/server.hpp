#pragma once

// The HTTP API of docs/CONTRACT.md §2 on Pistache 0.0.5, in front of the job
// registry actor. Pistache types stay inside http/*.cpp and the headers
// those share (connection.hpp, server_context.hpp); no thread waits for the
// registry.

#include "actors/job_registry.hpp"
#include "core/failure.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace playcount::http {

class job_summaries;

struct server_config {
  std::string host = "127.0.0.1";
  uint16_t port = 8000; ///< 0: any free port (see server::port)
  std::string data_dir = "data";
  uint64_t max_upload = uint64_t{4} << 30; ///< bytes; 413 above
  /// A compressed upload's decoded size; 413 above (see --max-input-size).
  uint64_t max_input_size = uint64_t{64} << 30;
  unsigned threads = 4; ///< Pistache reactor threads
  /// A connection that sends nothing for this long is answered 408 and
  /// closed. For an upload it counts from the last time the upload was
  /// keeping up min_upload_rate, not from the start of the request: a
  /// multi-GB upload is never cut off while it makes progress.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  /// An upload slower than this (bytes per second, on average over
  /// idle_timeout) is cut off with 408 like a stalled one: a client that
  /// trickles its body cannot hold a connection for ever. 0: any progress
  /// will do.
  uint64_t min_upload_rate = 1024;
  /// Bearer tokens (http/access.hpp); empty: that part of the API is open.
  std::string api_token;
  std::string admin_token;
  /// Connections open at once (HTTP requests and downloads); one more is
  /// answered 503 with Retry-After and closed. See http/acceptor.hpp.
  size_t max_connections = 1024;
  /// How long an answer waits for the job registry (no thread waits: the
  /// request is answered when the registry's reply comes), then 503.
  std::chrono::milliseconds registry_timeout = std::chrono::seconds(10);
  /// What answers a finished job's summary and songs; shared with the job
  /// registry, which tells it when a job goes (its on_removed). Null: the
  /// server makes its own.
  std::shared_ptr<job_summaries> summaries;
};

class server {
public:
  server(caf::actor_system& system, job_registry_actor registry,
         server_config config);
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server();

  /// Binds and serves on Pistache's own threads, or says why not (the
  /// address cannot be bound).
  result<void> start();

  /// The port bound (the real one when the configured port is 0).
  [[nodiscard]] uint16_t port() const noexcept;

  /// Says that the server takes jobs (its registry has loaded the data
  /// directory and it serves): /readyz answers 200 from now on, until
  /// drain(). Before it, /readyz answers 503 ("starting").
  void set_ready();

  /// Whether set_ready() was called and drain() not: what /readyz says,
  /// and what a service manager can be told (sd_notify).
  [[nodiscard]] bool ready() const noexcept;

  /// Warm shutdown begins: new uploads get 503 with Retry-After (uploads
  /// in progress go on), /healthz and /readyz answer 503; everything else
  /// as before.
  void drain();

  /// Uploads being received or answered.
  [[nodiscard]] size_t uploads_in_progress() const noexcept;
  /// Downloads the sender is still writing.
  [[nodiscard]] size_t downloads_in_progress() const noexcept;

  /// Stops taking connections; uploads in progress are dropped (their
  /// directories are removed at the next start), downloads cut off.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace playcount::http
