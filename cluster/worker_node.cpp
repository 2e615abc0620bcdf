#include "cluster/worker_node.hpp"

#include "actors/messages.hpp"
#include "actors/worker.hpp"
#include "cluster/byte_feed.hpp"
#include "cluster/gate.hpp"
#include "cluster/handshake.hpp"
#include "cluster/sockets.hpp"

#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>

namespace playcount {

namespace {

// Connects to the cluster port, proves the token (cluster/handshake.hpp),
// and only then hands the socket to CAF, which greets the server's BASP and
// gets the gate the server published; why not otherwise, with `refused`
// set when the server refused the token.
result<gate_actor> join_gate(caf::actor_system& system,
                             const worker_node_config& cfg, uint64_t& session,
                             bool& refused) {
  refused = false;
  const auto connected =
      open_socket(cfg.host, cfg.port, /*listening=*/false, "a connection", 10);
  if (!connected)
    return connected.error();
  const int fd = *connected;
  set_no_delay(fd);
  auto joined = handshake::join(fd, cfg.token, refused);
  if (!joined) {
    ::close(fd);
    return std::move(joined).error();
  }
  session = *joined;
  set_timeouts(fd, 0);
  (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  auto basp =
      system.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  gate_actor gate;
  std::string error;
  caf::scoped_actor self{system};
  self->request(basp, std::chrono::seconds(10), caf::connect_atom::value,
                system.middleman().backend().new_scribe(fd), cfg.port)
      .receive(
          [&](caf::node_id&, caf::strong_actor_ptr& whom,
              std::set<std::string>&) {
            gate = caf::actor_cast<gate_actor>(whom);
          },
          [&](caf::error& e) { error = system.render(e); });
  if (!gate)
    return failure::words(error.empty() ? "the server published no gate"
                                        : error);
  return gate;
}

} // namespace

int run_worker_node(caf::actor_system& system, const worker_node_config& cfg) {
  const std::string server = cfg.host + ":" + std::to_string(cfg.port);
  std::chrono::seconds backoff{1};
  const auto wait = [&](const std::string& why) {
    spdlog::warn("{}; trying again in {} s", why, backoff.count());
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, cfg.max_backoff);
  };
  for (;;) {
    // Connecting blocks: from this thread, not from an actor.
    uint64_t session = 0;
    bool refused = false;
    auto joined = join_gate(system, cfg, session, refused);
    if (refused) {
      spdlog::error("the server at {} refused this node: {}", server,
                    joined.error().text());
      return 1;
    }
    if (!joined) {
      wait(
          joined.error().within("cannot reach the server at " + server).text());
      continue;
    }
    const gate_actor gate = *joined;
    std::string why;
    // This actor stands for the node: the server sees the node as down
    // when it is (the connection is gone).
    caf::scoped_actor self{system};
    registration_reply reply;
    self->request(gate, std::chrono::seconds(10), register_atom::value,
                  node_registration{cfg.name, cfg.workers, session})
        .receive([&](registration_reply& r) { reply = std::move(r); },
                 [&](caf::error& e) { why = system.render(e); });
    if (!why.empty()) {
      wait("cannot register with the server at " + server + ": " + why);
      continue;
    }
    if (!reply.accepted) {
      spdlog::error("the server at {} refused this node: {}", server,
                    reply.reason);
      return 1;
    }
    // Each worker gets its bytes on a feed of its own (cluster/byte_feed).
    std::vector<std::unique_ptr<range_source>> feeds;
    for (unsigned i = 0; i < cfg.workers && why.empty(); ++i) {
      auto feed = open_feed(cfg.host, reply.feed_port, reply.feed_secret);
      if (feed)
        feeds.push_back(std::move(*feed));
      else
        why = feed.error().text();
    }
    if (!why.empty()) {
      wait(why);
      continue;
    }
    backoff = std::chrono::seconds{1};
    spdlog::info("joined the server at {} as {} with {} workers", server,
                 reply.node_id, cfg.workers);
    for (auto& feed : feeds)
      self->monitor(spawn_worker(system, reply.work_source, reply.node_id,
                                 std::move(feed), cfg.spill));
    self->monitor(reply.work_source);
    // Until the server goes, or every worker has (each quits when its feed
    // breaks): then join again, with new feeds.
    std::string reason;
    size_t workers_left = feeds.size();
    while (reason.empty())
      self->receive([&](caf::down_msg& msg) {
        if (msg.source == reply.work_source.address())
          reason = "lost the server at " + server + " (" +
                   system.render(msg.reason) + ")";
        else if (--workers_left == 0)
          reason = "lost the server at " + server +
                   " (every worker's byte feed broke)";
      });
    // The workers quit by themselves: they monitor the relay too.
    wait(reason);
  }
}

} // namespace playcount
