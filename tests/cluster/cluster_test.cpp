// Worker nodes as real processes on loopback: a server that only
// coordinates (`--workers 0`), nodes that join it with `playcount worker`,
// and what happens when a node is killed, falls silent, joins late, has the
// wrong token, or loses its server. Pausing a node (SIGSTOP) pins down which
// ranges it holds, so each failure happens at a known point of the job.

#include "tests/support/api_client.hpp"
#include "tests/support/binary.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/loopback.hpp"
#include "tests/support/process.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <sstream>

namespace playcount {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using test::child_process;
using test::eventually;
using test::str;

using test::binary;
const std::string token = "test-cluster-secret";

// The shared server fixture, with worker nodes beside the server.
class cluster_test : public test::served_test {
protected:
  /// A server that only coordinates, on a free cluster port (the same one
  /// when it starts again, so that nodes find it), with the token.
  void start_server(std::vector<std::string> args = {}) {
    if (std::find(args.begin(), args.end(), "--workers") == args.end())
      args.insert(args.end(), {"--workers", "0"});
    args.insert(args.end(), {"--cluster-port", std::to_string(cluster_port_),
                             "--cluster-token", token});
    server_ = start(args);
    ASSERT_NE(server_->port(), 0) << server_->log();
    ASSERT_NE(server_->cluster_port(), 0) << server_->log();
    port_ = server_->port();
    cluster_port_ = server_->cluster_port();
  }

  /// `playcount worker` with one worker actor, joining this test's server.
  child_process& start_node(const std::string& name,
                            std::vector<std::string> args = {},
                            const std::vector<std::string>& env = {}) {
    std::vector<std::string> all = {
        binary,      "worker",
        "--join",    "127.0.0.1:" + std::to_string(cluster_port_),
        "--workers", "1",
        "--name",    name};
    if (std::find(args.begin(), args.end(), "--cluster-token") == args.end() &&
        env.empty())
      all.insert(all.end(), {"--cluster-token", token});
    all.insert(all.end(), args.begin(), args.end());
    nodes_[name] = std::make_unique<child_process>(
        all, dir_.file("node-" + name + "-" + std::to_string(++logs_) + ".log"),
        env);
    return *nodes_[name];
  }

  /// Starts a node and waits until the server lists it with its worker.
  /// Its first ask for work is then on its way: a worker sends it right
  /// behind its join, on the same connection (actors/worker.cpp), so
  /// pausing the node cannot hold it back.
  child_process& join_node(const std::string& name) {
    child_process& node = start_node(name);
    EXPECT_TRUE(eventually([&] { return node_workers(name) == 1; }))
        << node.log() << server_->log();
    return node;
  }

  /// The node named `name` in /admin/stats (the newest, if it joined twice).
  json::object node_stats(const std::string& name) {
    json::object found;
    const json::object stats = test::admin_stats(port_);
    for (const auto& n : stats.at("nodes").as_array())
      if (str(n.as_object(), "name") == name)
        found = n.as_object();
    return found;
  }

  int node_workers(const std::string& name) {
    const auto n = node_stats(name);
    return n.empty() || str(n, "state") != "up"
               ? 0
               : n.at("workers").to_number<int>();
  }

  /// The running job's entry in the coordinator's queue (empty when none).
  json::object queue_entry() {
    const auto stats = test::admin_stats(port_);
    const auto& jobs = stats.at("queue").at("jobs").as_array();
    return jobs.empty() ? json::object{} : jobs[0].as_object();
  }

  /// Pauses `holder` (SIGSTOP), which then holds the one range it was
  /// handed, submits `csv`, and waits until the other nodes have read every
  /// other range. Returns the job id.
  std::string submit_with_one_range_held(child_process& holder,
                                         const std::string& csv) {
    holder.pause();
    const std::string id = test::submit(port_, csv);
    json::object q;
    EXPECT_TRUE(eventually([&] {
      q = queue_entry();
      return number(q, "ranges") > 10 &&
             number(q, "done") + 1 == number(q, "ranges");
    })) << json::serialize(q);
    return id;
  }

  uint64_t number(const json::object& o, const char* key) {
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_number() ? v->to_number<uint64_t>() : 0;
  }

  std::string result(const std::string& id) {
    return test::http_get(port_, "/jobs/" + id + "/result/").body;
  }

  static std::string varied_csv(size_t rows) {
    test::csv_shape shape;
    shape.rows = rows;
    shape.songs = 300;
    shape.crlf = true;
    shape.seed = 7;
    return test::make_csv(shape);
  }

  std::unique_ptr<test::server_process> server_;
  std::map<std::string, std::unique_ptr<child_process>> nodes_;
  uint16_t cluster_port_ = 0;
  uint16_t port_ = 0;
  int logs_ = 0;
};

TEST_F(cluster_test, two_nodes_give_the_bytes_of_playcount_count) {
  start_server({"--range-size", "64K"});
  join_node("a");
  join_node("b");
  const std::string csv = varied_csv(60000);
  const std::string id = test::submit(port_, csv);
  test::wait_for_state(port_, id, "finished");
  EXPECT_EQ(result(id), count_alone(csv));

  const auto stats = test::admin_stats(port_);
  uint64_t ranges = 0;
  for (const auto& v : stats.at("nodes").as_array()) {
    const auto& n = v.as_object();
    if (n.at("local").as_bool()) {
      EXPECT_EQ(number(n, "workers"), 0u) << json::serialize(n);
      continue;
    }
    EXPECT_EQ(str(n, "state"), "up");
    EXPECT_EQ(str(n, "address").rfind("127.0.0.1:", 0), 0u);
    EXPECT_EQ(number(n, "workers"), 1u);
    EXPECT_GT(number(n, "rangesDone"), 0u) << json::serialize(n);
    EXPECT_GT(number(n, "bytesDone"), 0u);
    EXPECT_FALSE(str(n, "lastSeen").empty());
    ranges += number(n, "rangesDone");
  }
  const auto& queue = stats.at("queue").as_object();
  EXPECT_EQ(number(queue, "rangesDispatched"), ranges);
  EXPECT_GT(ranges, 10u);
  EXPECT_EQ(number(queue, "rangesRedispatched"), 0u);
  EXPECT_EQ(stats.at("workers").as_array().size(), 2u);
}

TEST_F(cluster_test, a_range_larger_than_the_socket_buffers_arrives_whole) {
  // 20 MiB ranges: the feed's flow control holds the server back.
  start_server({"--range-size", "20M"});
  join_node("a");
  const std::string csv = varied_csv(1000000);
  ASSERT_GT(csv.size(), 17u << 20);
  const std::string id = test::submit(port_, csv);
  test::wait_for_state(port_, id, "finished", 60s);
  EXPECT_EQ(result(id), count_alone(csv));
}

TEST_F(cluster_test, a_bad_record_fails_the_job_with_the_line_count_gives) {
  start_server({"--test-range-size", "4K"});
  join_node("a");
  std::string csv = varied_csv(3000);
  csv += "late song,2021-02-30,1\r\n";
  csv += varied_csv(3000).substr(csv.find('\n') + 1);
  const auto in = dir_.write("bad.csv", csv);
  const auto alone =
      test::run({binary, "count", in, "-o", dir_.file("x.csv"), "--quiet"});
  ASSERT_EQ(alone.exit_code, 1);
  const std::string id = test::submit(port_, csv);
  const auto o = test::wait_for_state(port_, id, "failed");
  EXPECT_NE(alone.err.find(str(o, "error")), std::string::npos)
      << str(o, "error") << " vs " << alone.err;
  EXPECT_EQ(str(o, "error").rfind("line ", 0), 0u) << str(o, "error");
  EXPECT_NE(str(o, "error").find("2021-02-30"), std::string::npos);
}

TEST_F(cluster_test, a_node_killed_mid_job_costs_only_time) {
  // a holds its range while paused: no straggler rule in the way.
  start_server({"--test-range-size", "16K", "--straggler-bound", "60s"});
  child_process& a = join_node("a");
  child_process& b = join_node("b");
  const std::string csv = varied_csv(30000);
  // a holds one range and does nothing; b reads all the others.
  const std::string id = submit_with_one_range_held(a, csv);
  const uint64_t done_by_b = number(queue_entry(), "done");
  b.kill9(); // every range b read is lost with it
  ASSERT_TRUE(
      eventually([&] { return str(node_stats("b"), "state") == "down"; }));
  a.resume();
  test::wait_for_state(port_, id, "finished");
  EXPECT_EQ(result(id), count_alone(csv));
  const auto stats = test::admin_stats(port_);
  EXPECT_EQ(number(stats.at("queue").as_object(), "rangesRedispatched"),
            done_by_b);
  EXPECT_EQ(number(node_stats("a"), "rangesDone"), done_by_b + 1);
  EXPECT_NE(server_->log().find("(b at 127.0.0.1:"), std::string::npos);
}

TEST_F(cluster_test, a_silent_node_is_seen_down_and_its_range_runs_elsewhere) {
  start_server({"--test-range-size", "16K"});
  child_process& a = join_node("a");
  join_node("b");
  const std::string csv = varied_csv(30000);
  // a falls silent holding a range; its connection stays open.
  a.pause();
  const auto paused = std::chrono::steady_clock::now();
  const std::string id = test::submit(port_, csv);
  test::wait_for_state(port_, id, "finished", 30s);
  const auto seen = std::chrono::steady_clock::now() - paused;
  EXPECT_LT(seen, test::scaled(10s));
  EXPECT_EQ(result(id), count_alone(csv));
  // Its range ran elsewhere once b was idle for 2 s (a straggler), before
  // the 5 s after which a silent node is down.
  EXPECT_TRUE(
      eventually([&] { return str(node_stats("a"), "state") == "down"; }, 10s));
  EXPECT_EQ(number(test::admin_stats(port_).at("queue").as_object(),
                   "rangesRedispatched"),
            1u);
  // Awake again, it finds its connection gone and joins anew.
  a.resume();
  EXPECT_NE(a.wait_for_log("lost the server"), std::string::npos) << a.log();
  const size_t first = a.log().find("joined the server");
  EXPECT_NE(a.wait_for_log("joined the server", 20s, first + 1),
            std::string::npos)
      << a.log();
  EXPECT_TRUE(eventually([&] { return node_workers("a") == 1; }));
}

TEST_F(cluster_test, a_node_lost_while_merging_costs_only_time) {
  // a holds its range while paused: no straggler rule in the way.
  start_server({"--test-range-size", "16K", "--straggler-bound", "60s"});
  child_process& a = join_node("a");
  child_process& b = join_node("b");
  const std::string csv = varied_csv(30000);
  const std::string id = submit_with_one_range_held(a, csv);
  // b holds every range but one in its partial and falls silent; a reads
  // the last range, so the job goes on to collect b's partial, which never
  // comes: the server reads b's ranges again itself.
  b.pause();
  a.resume();
  test::wait_for_state(port_, id, "finished", 30s);
  EXPECT_EQ(result(id), count_alone(csv));
  EXPECT_EQ(str(node_stats("b"), "state"), "down");
}

TEST_F(cluster_test, with_no_node_a_job_waits_and_goes_on_when_one_joins) {
  start_server({"--test-range-size", "16K"});
  const std::string csv = varied_csv(5000);
  const std::string id = test::submit(port_, csv);
  // Planned and waiting for a worker: with none, it stays so.
  json::object waiting;
  EXPECT_TRUE(eventually([&] {
    waiting = test::job(port_, id);
    return str(waiting, "phase") == "reading" &&
           number(queue_entry(), "queued") > 0;
  })) << json::serialize(waiting);
  EXPECT_EQ(str(waiting, "state"), "started");
  EXPECT_EQ(str(waiting, "phase"), "reading");
  EXPECT_EQ(number(waiting, "bytesDone"), csv.find('\n') + 1); // the header
  EXPECT_GT(number(queue_entry(), "queued"), 0u);
  start_node("late");
  test::wait_for_state(port_, id, "finished");
  EXPECT_EQ(result(id), count_alone(csv));
}

TEST_F(cluster_test, a_node_with_a_wrong_or_missing_token_is_refused) {
  start_server();
  child_process& wrong = start_node("wrong", {"--cluster-token", "guess"});
  child_process& none = start_node("none", {"--cluster-token", ""});
  for (child_process* node : {&wrong, &none}) {
    ASSERT_TRUE(node->wait_exit(20s)) << node->log();
    EXPECT_EQ(node->exit_code(), 1);
    EXPECT_NE(node->log().find("refused this node: wrong or missing cluster "
                               "token"),
              std::string::npos)
        << node->log();
  }
  // At the cluster port's handshake, before the node could say its name.
  const std::string refusal = "refused a worker node at 127.0.0.1:";
  const std::string log = server_->log();
  const size_t first = log.find(refusal);
  ASSERT_NE(first, std::string::npos) << log;
  EXPECT_NE(log.find(refusal, first + 1), std::string::npos) << log;
  EXPECT_EQ(server_->log().find(token), std::string::npos); // never logged
  EXPECT_EQ(server_->log().find("guess"), std::string::npos);
  EXPECT_EQ(test::admin_stats(port_).at("nodes").as_array().size(), 1u);
  // The token may come from the environment.
  child_process& env =
      start_node("env", {}, {"PLAYCOUNT_CLUSTER_TOKEN=" + token});
  EXPECT_TRUE(eventually([&] { return node_workers("env") == 1; }))
      << env.log();
  // A name is what a peer says: it reaches the log and stats printable.
  start_node("two\nlines");
  EXPECT_TRUE(eventually([&] { return node_workers("two?lines") == 1; }))
      << server_->log();
}

TEST_F(cluster_test, a_node_whose_server_goes_away_joins_again_with_back_off) {
  start_server();
  child_process& a = join_node("a");
  EXPECT_EQ(server_->stop(), 0);
  EXPECT_NE(a.wait_for_log("lost the server at 127.0.0.1:"), std::string::npos)
      << a.log();
  EXPECT_NE(a.wait_for_log("trying again in 2 s"), std::string::npos)
      << a.log();
  start_server({"--test-range-size", "16K"});
  EXPECT_TRUE(eventually([&] { return node_workers("a") == 1; }, 30s))
      << a.log();
  const std::string csv = varied_csv(5000);
  const std::string id = test::submit(port_, csv);
  test::wait_for_state(port_, id, "finished");
  EXPECT_EQ(result(id), count_alone(csv));
}

// The address a TCP socket listens on at `port`, as /proc/net/tcp has it
// (hex ip:port; "" when none listens).
std::string listening_at(uint16_t port) {
  std::istringstream table(test::read_file("/proc/net/tcp"));
  std::string line;
  char wanted[16];
  std::snprintf(wanted, sizeof wanted, ":%04X", port);
  std::string address;
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (state == "0A" && local.size() > 5 && // 0A: LISTEN
        local.compare(local.size() - 5, 5, wanted) == 0)
      address = local;
  }
  return address;
}

TEST_F(cluster_test, the_cluster_ports_listen_on_loopback_only_by_default) {
  // (Closed unless asked for: cluster_port_test.cpp.)
  start_server();
  const uint16_t feed_port = server_->feed_port();
  ASSERT_NE(feed_port, 0) << server_->log();
  char hex[16];
  std::snprintf(hex, sizeof hex, ":%04X", cluster_port_);
  EXPECT_EQ(listening_at(cluster_port_), std::string("0100007F") + hex);
  std::snprintf(hex, sizeof hex, ":%04X", feed_port);
  EXPECT_EQ(listening_at(feed_port), std::string("0100007F") + hex);
  // Nodes learn the feed port when they join, whatever it is.
  join_node("a");
  const std::string csv = varied_csv(2000);
  const std::string id = test::submit(port_, csv);
  test::wait_for_state(port_, id, "finished");
  EXPECT_EQ(result(id), count_alone(csv));
}

TEST_F(cluster_test,
       a_taken_cluster_port_stops_the_server_with_a_clear_message) {
  start_server();
  const auto second = test::run({binary, "serve", "--port", "0", "--data-dir",
                                 dir_.file("other"), "--cluster-port",
                                 std::to_string(cluster_port_)});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("cannot open the cluster port 127.0.0.1:" +
                            std::to_string(cluster_port_)),
            std::string::npos)
      << second.err;
}

TEST(worker_command, explains_its_usage_errors) {
  const auto no_join = test::run({binary, "worker"});
  EXPECT_EQ(no_join.exit_code, 2);
  EXPECT_NE(no_join.err.find("--join HOST:PORT is required"), std::string::npos)
      << no_join.err;
  const auto bad = test::run({binary, "worker", "--join", "nowhere"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--join wants HOST:PORT"), std::string::npos)
      << bad.err;
  const auto help = test::run({binary, "worker", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--cluster-token"), std::string::npos);
}

} // namespace
} // namespace playcount
