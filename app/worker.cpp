// `playcount worker --join HOST:PORT`: a worker node for a running server.

#include "actors/worker.hpp"
#include "actors/messages.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "app/options.hpp"
#include "cluster/worker_node.hpp"
#include "core/spill.hpp"
#include "core/units.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <unistd.h>

namespace playcount {

namespace {

constexpr const char* worker_help =
    R"(usage: playcount worker --join HOST:PORT [options]

Joins the cluster port of a running `playcount serve` and reads ranges of
its jobs with reader/aggregator actors. The node needs no access to the
server's files: the server sends each range's bytes. When the server goes
away, the node tries to join again (waiting 1 s, 2 s, ... up to 30 s) and
says so in its log. SIGINT or SIGTERM stops it; the server hands its work
to others.

options:
  --join HOST:PORT         the server's cluster address (its --cluster-host
                           and --cluster-port)
  --workers N              reader/aggregator actors (default: one per core)
  --cluster-token SECRET   the server's --cluster-token, proven by
                           challenge and response, never sent (default: the
                           environment variable PLAYCOUNT_CLUSTER_TOKEN)
  --name NAME              this node's name in the server's stats (default:
                           the host name)
  --memory-limit BYTES     memory for this node's partials, K/M/G allowed
                           (default: half of the cgroup's memory.max, else of
                           physical memory); beyond it, a job's partials
                           spill to disk here and go back to the server
                           partition by partition
  --temp-dir DIR           where they spill, in a directory of the node's
                           own removed when it stops (default: $TMPDIR,
                           else /tmp)
  --log-level LEVEL        debug, info, warn or error (default info)
  --log-format FORMAT      text or json (one object per line); under
                           journald, lines carry their priority instead of
                           a time (default text)
  -h, --help               this text
  -V, --version            the version of playcount
)";

// "host:port" (host may be a name, or [v6]); false when malformed.
bool split_address(const std::string& text, std::string& host, uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const auto number = parse_size(text.substr(colon + 1));
  if (!number || *number < 1 || *number > 65535 ||
      text.find_first_not_of("0123456789", colon + 1) != std::string::npos)
    return false;
  port = static_cast<uint16_t>(*number);
  return true;
}

// SIGINT and SIGTERM, blocked in every thread (before any starts) and
// awaited by one: it removes the node's spill directory (once no worker
// writes in it), then ends the process by the signal, as before.
void stop_on_signal(const std::shared_ptr<node_spill>& spill) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::thread([spill, stop] {
    int sig = 0;
    while (::sigwait(&stop, &sig) != 0) {
    }
    // systemd (Type=notify) then knows the stop is ours, not a crash.
    sd_notify(0, "STOPPING=1");
    std::unique_lock<std::shared_mutex> removing(spill->writing);
    remove_spill_tree(spill->dir);
    spdlog::info("stopping ({})", sig == SIGINT ? "SIGINT" : "SIGTERM");
    spdlog::default_logger()->flush();
    std::signal(sig, SIG_DFL);
    ::pthread_sigmask(SIG_UNBLOCK, &stop, nullptr);
    ::raise(sig);
  }).detach();
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0)
    return "unknown";
  return buf;
}

} // namespace

int worker_command(int argc, char** argv) {
  options opts(argc, argv, 2, {"help", "h"});
  if (opts.wants_help()) {
    std::fputs(worker_help, stdout);
    return 0;
  }
  if (opts.wants_version())
    return print_version();
  opts.reject_unknown({"join", "workers", "cluster-token", "name", "log-level",
                       "log-format", "memory-limit", "temp-dir"});
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  worker_node_config cfg;
  const uint64_t workers = opts.get_number("workers", cores);
  const char* env_token = std::getenv("PLAYCOUNT_CLUSTER_TOKEN");
  cfg.token = opts.get("cluster-token", env_token ? env_token : "");
  cfg.name = opts.get("name", host_name());
  const std::string level = opts.get("log-level", "info");
  const std::string log_format = opts.get("log-format", "text");
  const uint64_t memory_limit =
      opts.get_number("memory-limit", default_memory_limit(), true);
  const std::string temp_dir = opts.get("temp-dir", default_temp_dir());
  std::string usage_error = opts.error();
  if (usage_error.empty() && !opts.positional().empty())
    usage_error = "worker takes no file arguments";
  else if (usage_error.empty() && !opts.has("join"))
    usage_error = "--join HOST:PORT is required";
  else if (usage_error.empty() &&
           !split_address(opts.get("join", ""), cfg.host, cfg.port))
    usage_error = "--join wants HOST:PORT, e.g. 10.0.0.5:4242";
  else if (usage_error.empty() && (workers < 1 || workers > 1024))
    usage_error = "--workers must be from 1 to 1024";
  else if (usage_error.empty() && !is_log_level(level))
    usage_error = "--log-level is debug, info, warn or error";
  else if (usage_error.empty() && !is_log_format(log_format))
    usage_error = "--log-format is text or json";
  else if (usage_error.empty() && memory_limit < min_memory_limit)
    usage_error =
        "--memory-limit must be at least " + format_bytes(min_memory_limit);
  if (!usage_error.empty()) {
    std::fprintf(stderr,
                 "playcount worker: %s\n(see playcount worker --help)\n",
                 usage_error.c_str());
    return 2;
  }
  cfg.workers = static_cast<unsigned>(workers);

  // A directory of our own for what spills, made now so that a temp dir
  // that is not there or not writable is said at once.
  cfg.spill = std::make_shared<node_spill>();
  unsigned swept = 0;
  auto made = make_spill_dir(temp_dir, swept);
  if (!made) {
    std::fprintf(stderr, "playcount worker: %s\n", made.error().text().c_str());
    return 2;
  }
  cfg.spill->dir = std::move(*made);
  // A third for the workers' partials, as count's and the server's: a
  // partial sent back needs room for one partition's bytes besides.
  cfg.spill->spill_at = memory_limit / 3 / cfg.workers;

  start_logging(level, log_format);
  std::signal(SIGPIPE, SIG_IGN);
  stop_on_signal(cfg.spill);
  spdlog::info("memory limit {}: a worker spills past {} to {}",
               format_bytes(memory_limit), format_bytes(cfg.spill->spill_at),
               cfg.spill->dir);
  if (swept > 0)
    spdlog::info("removed the spills of {} stopped runs in {}", swept,
                 temp_dir);

  caf::actor_system_config system_cfg;
  configure_actor_system(system_cfg, /*network=*/true);
  caf::actor_system system{system_cfg};
  // Ready for systemd once started: joining may take as long as the server
  // is away (the node keeps trying), which a start timeout must not cut.
  sd_notifyf(0, "READY=1\nSTATUS=joining %s:%u", cfg.host.c_str(),
             unsigned{cfg.port});
  const int status = run_worker_node(system, cfg);
  // Refused: nothing runs; leave without waiting for actors.
  {
    std::unique_lock<std::shared_mutex> removing(cfg.spill->writing);
    remove_spill_tree(cfg.spill->dir);
  }
  std::fflush(nullptr);
  std::_Exit(status);
}

} // namespace playcount
