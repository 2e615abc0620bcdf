// `playcount serve`: the HTTP API with in-process worker actors.

#include "actors/coordinator.hpp"
#include "actors/job_registry.hpp"
#include "actors/messages.hpp"
#include "actors/worker.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "app/nicer_threads.hpp"
#include "app/options.hpp"
#include "cluster/byte_feed.hpp"
#include "cluster/cluster_port.hpp"
#include "cluster/gate.hpp"
#include "core/spill.hpp"
#include "core/units.hpp"
#include "http/job_summaries.hpp"
#include "http/server.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <pthread.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <thread>

namespace playcount {

namespace {

// How long stopping waits for busy actors before leaving without them.
constexpr auto shutdown_wait = std::chrono::seconds(3);

constexpr const char* serve_help = R"(usage: playcount serve [options]

Serves the HTTP API (POST /jobs/count/, GET /jobs/<id>/result/, ...; see
docs/http-api.md) with in-process reader/aggregator worker actors. Uploads, job
states and results live in the data directory: a server started again on
the same directory serves every finished result until its time to live and
runs again every job that was queued or started. What it cannot read there
it sets aside in DIR/damaged/, never deletes.

SIGINT or SIGTERM stops it warmly: new uploads get 503 (with Retry-After)
and so does /healthz, no queued job starts, and uploads in progress and
running jobs may finish for up to --shutdown-grace; then it stops, and jobs
not finished run again at the next start. A second signal stops at once.

options:
  --host ADDR              address to listen on (default 127.0.0.1)
  --port N                 port to listen on (default 8000; 0 picks a free
                           one, which the "listening on" line names)
  --data-dir DIR           uploads, job states and results (default ./data)
  --workers N              reader/aggregator actors (default: one per core;
                           0: none, jobs wait for worker nodes)
  --cluster-host ADDR      address of the cluster port that worker nodes
                           join (default 127.0.0.1; 0.0.0.0 for every
                           interface: see docs/cluster.md)
  --cluster-port N         open the cluster port on N (default: none, unless
                           a cluster token is given: then 4242; 0 picks a
                           free one, which the "worker nodes join at" line
                           names)
  --no-cluster             no cluster port, even with a cluster token (from
                           --cluster-token or the environment)
  --cluster-feed-port N    the port on the same address where worker nodes
                           fetch range bytes (default 0: any free port,
                           which nodes learn when they join)
  --cluster-token SECRET   worker nodes must prove this token to join (it
                           never crosses the wire; default: the environment
                           variable PLAYCOUNT_CLUSTER_TOKEN); giving one
                           opens the cluster port. With --cluster-port but
                           no token, any node may join
  --straggler-bound TIME   a range read for longer than max(TIME, 4x the
                           job's median range time) while a worker is idle
                           is taken from its worker and run elsewhere
                           (default 2 s; see docs/cluster.md)
  --max-upload BYTES       the largest upload: 4G, 4 GiB, 512M, or bytes
                           (default 4 GiB); larger ones get 413
  --max-input-size BYTES   the largest decoded input of a compressed upload
                           (gzip, zstd) (default 64 GiB, and never more
                           than the data directory's free space); one that
                           inflates past it gets 413
  --result-ttl TIME        how long finished, failed and canceled jobs are
                           kept: 45s, 30min, 12h, 7d, or seconds (default 1 d)
  --max-running-jobs N     jobs processed at once (default 2)
  --memory-limit BYTES     memory for the running jobs' totals together, K/M/G
                           allowed (default: half of the cgroup's memory.max,
                           else of physical memory); each running job has an
                           equal share, and beyond it spills to disk in its
                           directory under --data-dir
  --max-queued-jobs N      jobs waiting for a slot; a job beyond them gets
                           503 with Retry-After (default 100)
  --max-attempts N         a job that was running when the server died
                           this many times fails at the next start instead
                           of running again (default 2; a stop by SIGTERM
                           or SIGINT does not count)
  --range-size BYTES       bytes per range, at least 64 KiB; K/M/G suffixes
                           allowed (default 4 MiB)
  --http-threads N         threads serving HTTP (default 4); none of them
                           waits for the job registry, and downloads are
                           sent by a thread of their own and hold none
  --max-connections N      HTTP connections open at once; more get 503
                           with Retry-After (default: the descriptor limit
                           divided by 4, at most 1024; the soft limit is
                           first raised to the hard one)
  --shutdown-grace TIME    on SIGTERM/SIGINT, how long uploads in progress
                           and running jobs may take to finish (default 30 s;
                           0: stop at once)
  --idle-timeout TIME      a connection that sends nothing this long gets
                           408 and is closed; an upload that makes progress
                           is never cut off (default 60 s)
  --min-upload-rate BYTES  an upload slower than this per second, on
                           average over --idle-timeout, gets 408 like a
                           stalled one; K/M suffixes allowed (default 1 KiB;
                           0: any progress will do)
  --api-token TOKEN        every endpoint but /healthz, /readyz and the
                           pages then needs `Authorization: Bearer TOKEN`
                           (401 otherwise); default: $PLAYCOUNT_API_TOKEN,
                           else open
  --admin-token TOKEN      /admin/* then needs this token instead (it is
                           taken everywhere else too); default:
                           $PLAYCOUNT_ADMIN_TOKEN, else as --api-token
  --log-level LEVEL        debug, info, warn or error (default info)
  --log-format FORMAT      text or json (one object per line); under
                           journald, lines carry their priority instead of
                           a time (default text)
  -h, --help               this text
  -V, --version            the version of playcount

Tokens given on the command line are visible to other users in `ps`:
prefer the environment variables. Tokens are never logged.

Clients sending with curl should add -H 'Expect:': the server answers
`Expect: 100-continue`, but curl waits a second before it looks.
)";

// Raises the soft limit on open descriptors to the hard one (connections
// are descriptors); returns the limit now in force.
uint64_t raise_descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return 1024;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit want = lim;
    want.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0)
      lim = want;
  }
  return lim.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20 : lim.rlim_cur;
}

// Warm shutdown (docs/operations.md, Stopping): after the first SIGINT/SIGTERM,
// waits until no upload is in progress and no job runs, the grace is over, or a
// second signal comes; logs each step. Queued jobs do not start meanwhile.
void drain(http::server& server, caf::actor_system& system,
           const job_registry_actor& registry, const sigset_t& stop_signals,
           std::chrono::milliseconds grace, const char* signal_name) {
  using steady = std::chrono::steady_clock;
  server.drain();
  // The registry stops starting jobs and says how many still run.
  const auto running_jobs = [&]() -> std::optional<uint32_t> {
    caf::scoped_actor self{system};
    std::optional<uint32_t> out;
    self->request(registry, std::chrono::seconds(2), drain_atom::value)
        .receive([&](uint32_t n) { out = n; }, [](caf::error&) {});
    return out;
  };
  std::optional<uint32_t> jobs = running_jobs();
  size_t uploads = server.uploads_in_progress();
  spdlog::info("stopping on {}: no new uploads, no new jobs; up to {} s for "
               "{} upload(s) in progress and {} running job(s) to finish "
               "(a second signal stops at once)",
               signal_name, grace.count() / 1000.0, uploads,
               jobs ? std::to_string(*jobs) : "?");
  const auto deadline = steady::now() + grace;
  while (true) {
    if (uploads == 0 && jobs && *jobs == 0) {
      spdlog::info("no upload in progress and no job running: stopping");
      return;
    }
    const auto left = deadline - steady::now();
    if (left <= steady::duration::zero()) {
      spdlog::warn("the shutdown grace of {} s is over: stopping with {} "
                   "upload(s) in progress (cut off) and {} job(s) running "
                   "(they run again at the next start)",
                   grace.count() / 1000.0, uploads,
                   jobs ? std::to_string(*jobs) : "?");
      return;
    }
    const auto wait =
        std::min<steady::duration>(left, std::chrono::milliseconds(200));
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
    timespec ts{static_cast<time_t>(ns / 1000000000), ns % 1000000000};
    const int again = sigtimedwait(&stop_signals, nullptr, &ts);
    if (again > 0) {
      spdlog::warn("{} again: stopping at once; {} upload(s) cut off, {} "
                   "job(s) run again at the next start",
                   again == SIGINT ? "SIGINT" : "SIGTERM", uploads,
                   jobs ? std::to_string(*jobs) : "?");
      return;
    }
    const size_t now_uploads = server.uploads_in_progress();
    const auto now_jobs = running_jobs();
    if (now_uploads != uploads || now_jobs != jobs)
      spdlog::info("waiting to stop: {} upload(s) in progress, {} job(s) "
                   "running",
                   now_uploads, now_jobs ? std::to_string(*now_jobs) : "?");
    uploads = now_uploads;
    jobs = now_jobs;
  }
}

} // namespace

int serve_command(int argc, char** argv) {
  options opts(argc, argv, 2, {"help", "h", "no-cluster"});
  if (opts.wants_help()) {
    std::fputs(serve_help, stdout);
    return 0;
  }
  if (opts.wants_version())
    return print_version();
  opts.reject_unknown({"host",
                       "port",
                       "data-dir",
                       "workers",
                       "max-upload",
                       "max-input-size",
                       "result-ttl",
                       "max-running-jobs",
                       "max-queued-jobs",
                       "memory-limit",
                       "range-size",
                       "http-threads",
                       "idle-timeout",
                       "log-level",
                       "log-format",
                       "cluster-host",
                       "cluster-port",
                       "cluster-feed-port",
                       "cluster-token",
                       "min-upload-rate",
                       "api-token",
                       "admin-token",
                       "max-attempts",
                       "max-connections",
                       "shutdown-grace",
                       "straggler-bound",
                       "no-cluster",
                       test_range_size_option});
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  http::server_config http_cfg;
  job_registry_config reg_cfg;
  http_cfg.host = opts.get("host", "127.0.0.1");
  const uint64_t port = opts.get_number("port", 8000);
  const std::string data_dir = opts.get("data-dir", "data");
  const uint64_t workers = opts.get_number("workers", cores);
  const std::string cluster_host = opts.get("cluster-host", "127.0.0.1");
  const uint64_t feed_port = opts.get_number("cluster-feed-port", 0);
  const char* env_token = std::getenv("PLAYCOUNT_CLUSTER_TOKEN");
  const std::string cluster_token =
      opts.get("cluster-token", env_token ? env_token : "");
  // Off unless asked for: a default server opens nothing but its HTTP port.
  // Port 0 means "any free port", as for --port and --cluster-feed-port.
  const bool cluster_on = !opts.has("no-cluster") &&
                          (opts.has("cluster-port") || !cluster_token.empty());
  const uint64_t cluster_port_number = opts.get_number("cluster-port", 4242);
  http_cfg.max_upload = opts.get_number("max-upload", uint64_t{4} << 30, true);
  http_cfg.max_input_size =
      opts.get_number("max-input-size", uint64_t{64} << 30, true);
  reg_cfg.max_running = opts.get_number("max-running-jobs", 2);
  reg_cfg.memory_limit =
      opts.get_number("memory-limit", default_memory_limit(), true);
  reg_cfg.max_queued = opts.get_number("max-queued-jobs", 100);
  const uint64_t max_attempts = opts.get_number("max-attempts", 2);
  std::string range_size_error;
  reg_cfg.range_size =
      range_size_option(opts, default_range_size, range_size_error);
  const uint64_t threads = opts.get_number("http-threads", 4);
  const std::string level = opts.get("log-level", "info");
  const std::string log_format = opts.get("log-format", "text");
  http_cfg.min_upload_rate = opts.get_number("min-upload-rate", 1024, true);
  const auto token_of = [&](const char* option, const char* env) {
    const char* from_env = std::getenv(env);
    return opts.get(option, from_env != nullptr ? from_env : "");
  };
  http_cfg.api_token = token_of("api-token", "PLAYCOUNT_API_TOKEN");
  http_cfg.admin_token = token_of("admin-token", "PLAYCOUNT_ADMIN_TOKEN");
  const auto ttl = opts.get_duration("result-ttl", "1d");
  const auto idle = opts.get_duration("idle-timeout", "60s");
  const auto grace = opts.get_duration("shutdown-grace", "30s");
  const uint64_t descriptors = raise_descriptor_limit();
  const uint64_t max_connections = opts.get_number(
      "max-connections", std::min<uint64_t>(1024, descriptors / 4));
  const auto straggler_bound = opts.get_duration("straggler-bound", "2s");
  std::string usage_error = opts.error();
  if (usage_error.empty() && !opts.positional().empty())
    usage_error = "serve takes no file arguments";
  else if (usage_error.empty() && port > 65535)
    usage_error = "--port must be from 0 to 65535";
  else if (usage_error.empty() && opts.has("no-cluster") &&
           opts.has("cluster-port"))
    usage_error = "--no-cluster and --cluster-port exclude each other";
  else if (usage_error.empty() && cluster_port_number > 65535)
    usage_error = "--cluster-port must be from 0 to 65535";
  else if (usage_error.empty() && feed_port > 65535)
    usage_error = "--cluster-feed-port must be from 0 to 65535";
  else if (usage_error.empty() && workers > 1024)
    usage_error = "--workers must be from 0 to 1024";
  else if (usage_error.empty() && http_cfg.max_upload < 1)
    usage_error = "--max-upload must be at least 1";
  else if (usage_error.empty() && http_cfg.max_input_size < 1)
    usage_error = "--max-input-size must be at least 1";
  else if (usage_error.empty() && idle->count() < 1000)
    usage_error = "--idle-timeout wants a time of at least 1 s";
  else if (usage_error.empty() &&
           (max_connections < 1 || max_connections > (uint64_t{1} << 24)))
    usage_error = "--max-connections must be from 1 to 16777216";
  else if (usage_error.empty() && straggler_bound->count() < 100)
    usage_error = "--straggler-bound wants a time of at least 100 ms";
  else if (usage_error.empty() &&
           (reg_cfg.max_running < 1 || reg_cfg.max_running > 1024))
    usage_error = "--max-running-jobs must be from 1 to 1024";
  else if (usage_error.empty() && reg_cfg.memory_limit < min_memory_limit)
    usage_error =
        "--memory-limit must be at least " + format_bytes(min_memory_limit);
  else if (usage_error.empty() && (max_attempts < 1 || max_attempts > 1000))
    usage_error = "--max-attempts must be from 1 to 1000";
  else if (usage_error.empty() && !range_size_error.empty())
    usage_error = range_size_error;
  else if (usage_error.empty() && (threads < 1 || threads > 256))
    usage_error = "--http-threads must be from 1 to 256";
  else if (usage_error.empty() &&
           ((opts.has("api-token") && http_cfg.api_token.empty()) ||
            (opts.has("admin-token") && http_cfg.admin_token.empty())))
    usage_error = "--api-token and --admin-token must not be empty";
  else if (usage_error.empty() && !is_log_level(level))
    usage_error = "--log-level is debug, info, warn or error";
  else if (usage_error.empty() && !is_log_format(log_format))
    usage_error = "--log-format is text or json";
  if (!usage_error.empty()) {
    std::fprintf(stderr, "playcount serve: %s\n(see playcount serve --help)\n",
                 usage_error.c_str());
    return 2;
  }
  http_cfg.port = static_cast<uint16_t>(port);
  http_cfg.threads = static_cast<unsigned>(threads);
  http_cfg.idle_timeout = *idle;
  http_cfg.max_connections = static_cast<size_t>(max_connections);
  http_cfg.data_dir = data_dir;
  reg_cfg.data_dir = data_dir;
  // A removed job's song index is let go at once (it is mapped).
  http_cfg.summaries = std::make_shared<http::job_summaries>();
  reg_cfg.on_removed = [summaries = http_cfg.summaries](const std::string& id) {
    summaries->forget(id);
  };
  reg_cfg.result_ttl = *ttl;
  reg_cfg.max_attempts = static_cast<uint32_t>(max_attempts);

  start_logging(level, log_format);

  // A client that goes away must not take the server with it; and only
  // this thread takes SIGINT and SIGTERM (every thread started below
  // inherits the mask), so that stopping is an orderly sequence.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::error_code ec;
  if (std::filesystem::exists(data_dir, ec) &&
      !std::filesystem::is_directory(data_dir, ec)) {
    spdlog::critical("cannot use the data directory {}: it is not a directory",
                     data_dir);
    return 1;
  }
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    spdlog::critical("cannot create the data directory {}: {}", data_dir,
                     ec.message());
    return 1;
  }

  // One server per data directory: two registries would overwrite each
  // other's job states. The lock is on the directory itself (a file in it
  // could be deleted, letting a second server in); it goes with the
  // process, even on SIGKILL. The descriptor stays open for the server's
  // life on purpose.
  const int lock_fd =
      ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock_fd < 0) {
    spdlog::critical("cannot open the data directory {}: {}", data_dir,
                     std::strerror(errno));
    return 1;
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      spdlog::critical("the data directory {} is in use by another server",
                       data_dir);
    else
      spdlog::critical("cannot lock the data directory {}: {}", data_dir,
                       std::strerror(errno));
    return 1;
  }
  // Reading and writing it is checked now, with a clear message, rather
  // than by the first job (root passes these checks whatever the mode).
  if (::faccessat(AT_FDCWD, data_dir.c_str(), R_OK | W_OK | X_OK, AT_EACCESS) !=
      0) {
    spdlog::critical("cannot read and write the data directory {}: {}",
                     data_dir, std::strerror(errno));
    return 1;
  }

  // The config must outlive the system.
  caf::actor_system_config cfg;
  configure_actor_system(cfg, /*network=*/cluster_on);
  cfg.add_thread_hook<nicer_threads>(3); // uploads arrive first
  caf::actor_system system{cfg};
  std::shared_ptr<byte_feed> feeds;
  if (cluster_on) {
    auto opened =
        byte_feed::open(cluster_host, static_cast<uint16_t>(feed_port));
    if (!opened) {
      spdlog::critical("cannot open the cluster feed port: {} (choose another "
                       "with --cluster-feed-port)",
                       opened.error().text());
      std::fflush(nullptr);
      std::_Exit(1); // nothing to stop yet: no job has started
    }
    feeds = std::move(*opened);
  }
  straggler_policy stragglers;
  stragglers.min_bound = *straggler_bound;
  auto coordinator = spawn_coordinator(system, feeds, stragglers);
  std::vector<worker_actor> worker_actors;
  for (uint64_t i = 0; i < workers; ++i)
    worker_actors.push_back(
        spawn_worker(system, coordinator, std::string{local_node_id}));
  gate_actor gate;
  std::shared_ptr<cluster_port> nodes_port;
  if (cluster_on) {
    auto opened = cluster_port::open(system, cluster_host,
                                     static_cast<uint16_t>(cluster_port_number),
                                     cluster_token);
    if (!opened) {
      spdlog::critical("cannot open the cluster port {}:{}: {} (choose "
                       "another with --cluster-port, or --no-cluster)",
                       cluster_host, cluster_port_number,
                       opened.error().text());
      std::fflush(nullptr);
      std::_Exit(1); // nothing to stop yet: no job has started
    }
    nodes_port = std::move(*opened);
    gate = spawn_gate(system, coordinator, nodes_port, feeds);
    nodes_port->start(caf::actor_cast<caf::actor>(gate));
    spdlog::info("worker nodes join at {}:{}{}, range bytes on port {}",
                 cluster_host, nodes_port->port(),
                 cluster_token.empty()
                     ? " (no cluster token: any node may join)"
                     : " (with the cluster token)",
                 feeds->port());
  }
  auto spawned = spawn_job_registry(system, coordinator, reg_cfg);
  int status = 0;
  if (!spawned) {
    spdlog::critical("cannot use the data directory {}: {}", data_dir,
                     spawned.error().text());
    status = 1;
  } else {
    const job_registry_actor registry = *spawned;
    http::server server(system, registry, http_cfg);
    if (auto started = server.start(); !started) {
      spdlog::critical("{}", started.error().text());
      status = 1;
    } else {
      // The registry has loaded the data directory: /readyz says so.
      server.set_ready();
      spdlog::info("listening on http://{}:{} (data in {}, {} workers, "
                   "uploads up to {}, results kept {}, up to {} "
                   "connections, {})",
                   http_cfg.host, server.port(), data_dir, workers,
                   format_bytes(http_cfg.max_upload),
                   format_duration(reg_cfg.result_ttl), max_connections,
                   http_cfg.api_token.empty()
                       ? (http_cfg.admin_token.empty()
                              ? "no access tokens: open to all who reach it"
                              : "an admin token for /admin/*")
                       : (http_cfg.admin_token.empty()
                              ? "an API token"
                              : "an API token and an admin token"));
      const bool loopback = http_cfg.host.rfind("127.", 0) == 0 ||
                            http_cfg.host == "::1" ||
                            http_cfg.host == "localhost";
      if (!loopback && http_cfg.api_token.empty())
        spdlog::warn("listening on {} without --api-token: anyone who can "
                     "reach it can upload and read results "
                     "(docs/security.md)",
                     http_cfg.host);
      if (max_connections > descriptors / 2)
        spdlog::warn("--max-connections {} is over half the descriptor "
                     "limit {}: the server may run out of descriptors first "
                     "(then it answers 503 on a spare one)",
                     max_connections, descriptors);
      // Under systemd (Type=notify): the data directory is loaded and the
      // port answers. Without $NOTIFY_SOCKET these calls do nothing.
      sd_notifyf(0, "READY=1\nSTATUS=listening on http://%s:%u",
                 http_cfg.host.c_str(), unsigned{server.port()});
      int signal = 0;
      sigwait(&stop_signals, &signal);
      const char* signal_name = signal == SIGINT ? "SIGINT" : "SIGTERM";
      sd_notifyf(0, "STOPPING=1\nSTATUS=stopping on %s", signal_name);
      if (grace->count() == 0)
        spdlog::info("stopping on {}: jobs not finished run again at the "
                     "next start",
                     signal_name);
      else
        drain(server, system, registry, stop_signals, *grace, signal_name);
      server.stop();
      spdlog::info("HTTP server stopped");
    }
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
  }
  if (nodes_port)
    nodes_port->stop(); // every node's link goes: they stop sending
  for (auto& w : worker_actors)
    caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  if (gate)
    caf::anon_send_exit(gate, caf::exit_reason::user_shutdown);
  // With a sender: the coordinator takes nothing anonymous (coordinator.hpp).
  caf::scoped_actor {
    system
    } -> send_exit(coordinator, caf::exit_reason::user_shutdown);
  // The actor system's destructor waits for every actor, and a finisher
  // merging a partial of millions of groups, or writing its result, runs
  // for tens of seconds without looking at its mailbox: SIGTERM went
  // unanswered that long. The job's state on disk says "started", so it
  // runs again at the next start; nothing is lost by not waiting.
  std::thread([status] {
    std::this_thread::sleep_for(shutdown_wait);
    spdlog::warn("stopping: actors still busy after {} s; leaving without "
                 "them (their jobs run again at the next start)",
                 shutdown_wait.count());
    spdlog::shutdown();
    std::fflush(nullptr);
    std::_Exit(status);
  }).detach();
  return status;
}

} // namespace playcount
