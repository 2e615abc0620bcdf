// A straggling worker node must not hold a job: a node whose feed link is
// throttled or starved (its CAF link, and so its heartbeat, healthy) or
// whose CPU is capped. The server and a healthy node share a network
// namespace (the node joins on its loopback); the straggler sits in a
// namespace of its own behind a veth pair, where `tc` caps only the feed
// port's traffic:
//
//   ns S (server, node b on 127.0.0.1)
//     veth S-A 10.214.1.1/24  <->  ns A (node a) 10.214.1.2/24
//
// Each test times a job with both nodes healthy, slows node a, and times
// the same job again: it must finish within a bound of the healthy time
// with the bytes of `playcount count`. Needs root, iproute2 and (for the
// CPU test) the cgroup v1 cpu controller; skipped with a message otherwise.

#include "tests/support/api_client.hpp"
#include "tests/support/binary.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/count_alone.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>

namespace playcount {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using test::child_process;
using test::eventually;
using test::run_ip;
using test::str;

using test::binary;
const std::string straggler_token = "straggler-secret";
const std::string feed_port = "4243";

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
      .count();
}

class straggler_test : public ::testing::Test {
protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "slowing a node needs root (network namespaces, tc, "
                      "cgroups): run the tests as root";
    if (::access(test::ip_command.c_str(), X_OK) != 0 ||
        ::access(test::tc_command.c_str(), X_OK) != 0)
      GTEST_SKIP() << "needs " << test::ip_command << " and "
                   << test::tc_command << " (iproute2)";
    const std::string tag = std::to_string(::getpid() % 100000);
    server_ns_ = "pc-ss-" + tag;
    a_ns_ = "pc-sa-" + tag;
    if (std::string e = run_ip({"netns", "add", server_ns_}); !e.empty())
      GTEST_SKIP() << "cannot make a network namespace here: " << e;
    made_ = true;
    ASSERT_EQ(run_ip({"netns", "add", a_ns_}), "");
    link_ = "pcts" + tag; // veth names: at most 15 bytes
    const std::string peer = "pcta" + tag;
    const std::vector<std::vector<std::string>> setup = {
        {"-n", server_ns_, "link", "set", "lo", "up"},
        {"-n", server_ns_, "link", "add", link_, "type", "veth", "peer", "name",
         peer, "netns", a_ns_},
        {"-n", server_ns_, "addr", "add", "10.214.1.1/24", "dev", link_},
        {"-n", server_ns_, "link", "set", link_, "up"},
        {"-n", a_ns_, "addr", "add", "10.214.1.2/24", "dev", peer},
        {"-n", a_ns_, "link", "set", peer, "up"},
        {"-n", a_ns_, "link", "set", "lo", "up"},
    };
    for (const auto& step : setup)
      ASSERT_EQ(run_ip(step), "");
  }

  void TearDown() override {
    nodes_.clear();
    server_.reset();
    if (!cgroup_.empty())
      (void)::rmdir(cgroup_.c_str());
    if (made_)
      for (const auto& ns : {server_ns_, a_ns_})
        (void)run_ip({"netns", "del", ns});
  }

  std::unique_ptr<child_process> in_namespace(const std::string& ns,
                                              std::vector<std::string> args,
                                              const std::string& log) {
    args.insert(args.begin(), {test::ip_command, "netns", "exec", ns});
    return std::make_unique<child_process>(args, dir_.file(log));
  }

  // `tc ARGS...` inside the server's namespace.
  std::string tc(std::vector<std::string> args) {
    args.insert(args.begin(), {"netns", "exec", server_ns_, test::tc_command});
    return run_ip(std::move(args));
  }

  // Caps what the server sends to node a from the feed port (the range
  // bytes) at `rate`; the cluster port (CAF, its heartbeat) goes by at full
  // speed. An htb class per kind of traffic and a u32 filter on the feed's
  // source port (netem and tc actions need kernel modules that may be
  // missing; htb and u32 are common).
  std::string cap_feed(const std::string& rate) {
    for (const auto& step : std::vector<std::vector<std::string>>{
             {"qdisc", "add", "dev", link_, "root", "handle", "1:", "htb",
              "default", "10"},
             {"class", "add", "dev", link_, "parent", "1:", "classid", "1:10",
              "htb", "rate", "1gbit", "quantum", "60000"},
             {"class", "add", "dev", link_, "parent", "1:", "classid", "1:30",
              "htb", "rate", rate, "ceil", rate},
             {"filter", "add", "dev", link_, "parent", "1:", "protocol", "ip",
              "prio", "1", "u32", "match", "ip", "sport", feed_port, "0xffff",
              "flowid", "1:30"}})
      if (std::string e = tc(step); !e.empty())
        return e;
    return "";
  }

  // The server and node b in S, node a in A, one worker each; returns once
  // both nodes are up.
  void start_cluster() {
    server_ = in_namespace(server_ns_,
                           {binary,
                            "serve",
                            "--host",
                            "127.0.0.1",
                            "--port",
                            "0",
                            "--workers",
                            "0",
                            "--cluster-host",
                            "0.0.0.0",
                            "--cluster-port",
                            "4242",
                            "--cluster-feed-port",
                            feed_port,
                            "--cluster-token",
                            straggler_token,
                            "--range-size",
                            "1M",
                            "--data-dir",
                            dir_.file("data")},
                           "server.log");
    const std::string marker = "listening on http://127.0.0.1:";
    const size_t at = server_->wait_for_log(marker);
    ASSERT_NE(at, std::string::npos) << server_->log();
    port_ = static_cast<uint16_t>(
        std::stoi(server_->log().substr(at + marker.size())));
    nodes_.push_back(in_namespace(
        a_ns_,
        {binary, "worker", "--join", "10.214.1.1:4242", "--workers", "1",
         "--name", "a", "--cluster-token", straggler_token},
        "a.log"));
    nodes_.push_back(
        in_namespace(server_ns_,
                     {binary, "worker", "--join", "127.0.0.1:4242", "--workers",
                      "1", "--name", "b", "--cluster-token", straggler_token},
                     "b.log"));
    for (auto& node : nodes_)
      ASSERT_NE(node->wait_for_log("joined the server at"), std::string::npos)
          << node->log();
  }

  // Runs the job with both nodes healthy, then again after `slow_down`
  // (which returns an error text or "") and checks the second run; with
  // `straggles`, node a must have been found straggling (not merely slower,
  // taking fewer ranges).
  void healthy_then_slowed(const std::string& what,
                           const std::function<std::string()>& slow_down,
                           bool straggles = true) {
    start_cluster();
    if (HasFatalFailure())
      return;
    test::inside_namespace in_server(server_ns_);
    ASSERT_TRUE(in_server.ok());
    ASSERT_TRUE(eventually([&] { return workers_up() == 2; }, 20s))
        << server_->log();
    test::csv_shape shape;
    shape.rows = 1000000; // about 30 MB: 30 ranges of 1 MiB
    shape.songs = 3000;
    const std::string csv = test::make_csv(shape);
    const std::string truth = test::count_alone(binary, dir_, csv);

    const auto run_job = [&](std::chrono::milliseconds limit) {
      const std::string id = test::submit(port_, csv);
      const auto start = std::chrono::steady_clock::now();
      const auto done = test::wait_for_state(port_, id, "finished", limit);
      const double took = seconds_since(start);
      EXPECT_EQ(str(done, "state"), "finished");
      EXPECT_EQ(test::http_get(port_, "/jobs/" + id + "/result/").body, truth);
      return took;
    };
    const double healthy = run_job(60s);
    const uint64_t before = redispatched();
    if (std::string e = slow_down(); !e.empty())
      GTEST_SKIP() << "cannot slow node a down here: " << e;
    // The straggler bound is max(2 s, 4x the median range time): 2 s here;
    // 4 s more for the ticks and a loaded machine.
    const double bound = 3 * healthy + 6;
    const double slowed = run_job(std::chrono::milliseconds(
        static_cast<int64_t>(std::max(bound, 60.0) * 1000)));
    const uint64_t again = redispatched() - before;
    std::cout << "[ figures  ] healthy pair " << healthy << " s, node a "
              << what << " " << slowed << " s (bound " << bound << " s), "
              << again << " range(s) dispatched again\n";
    RecordProperty("healthy_seconds", std::to_string(healthy));
    RecordProperty("slowed_seconds", std::to_string(slowed));
    EXPECT_LT(slowed, bound);
    const std::string log = server_->log();
    if (const size_t at = log.find("straggles"); at != std::string::npos)
      std::cout << "[ figures  ] "
                << log.substr(log.rfind('\n', at) + 1,
                              log.find('\n', at) - log.rfind('\n', at) - 1)
                << "\n";
    if (straggles) {
      EXPECT_GT(again, 0u) << log;
      EXPECT_NE(log.find("straggles"), std::string::npos) << log;
    }
  }

  size_t workers_up() {
    size_t n = 0;
    const json::object stats = test::admin_stats(port_);
    for (const auto& node : stats.at("nodes").as_array())
      if (str(node.as_object(), "state") == "up" &&
          !node.as_object().at("local").as_bool())
        ++n;
    return n;
  }

  uint64_t redispatched() {
    const json::object stats = test::admin_stats(port_);
    return stats.at("queue").at("rangesRedispatched").to_number<uint64_t>();
  }

  std::string server_ns_, a_ns_, link_, cgroup_;
  bool made_ = false;
  test::temp_dir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<child_process> server_;
  std::vector<std::unique_ptr<child_process>> nodes_;
};

TEST_F(straggler_test, a_node_whose_feed_is_throttled_does_not_hold_the_job) {
  healthy_then_slowed("throttled to 100 kbit/s",
                      [&] { return cap_feed("100kbit"); });
}

TEST_F(straggler_test, a_node_whose_feed_is_starved_does_not_hold_the_job) {
  // 8 bit/s: nothing, in effect; CAF's heartbeat goes on.
  healthy_then_slowed("starved (feed capped at 8 bit/s)",
                      [&] { return cap_feed("8bit"); });
}

TEST_F(straggler_test, a_node_capped_at_one_percent_cpu_does_not_hold_the_job) {
  const std::string root = "/sys/fs/cgroup/cpu";
  if (::access((root + "/cpu.cfs_quota_us").c_str(), W_OK) != 0)
    GTEST_SKIP() << "needs the cgroup v1 cpu controller at " << root;
  healthy_then_slowed(
      "capped at 1 % CPU",
      [&]() -> std::string {
        cgroup_ = root + "/playcount-straggler-" + std::to_string(::getpid());
        if (::mkdir(cgroup_.c_str(), 0755) != 0) {
          cgroup_.clear();
          return "cannot make a cgroup under " + root;
        }
        const auto put = [&](const std::string& file,
                             const std::string& value) {
          std::ofstream out(cgroup_ + "/" + file);
          out << value << '\n';
          out.flush();
          return static_cast<bool>(out);
        };
        if (!put("cpu.cfs_period_us", "100000") ||
            !put("cpu.cfs_quota_us", "1000") ||
            !put("cgroup.procs", std::to_string(nodes_[0]->pid())))
          return "cannot cap node a's CPU in " + cgroup_;
        return "";
      },
      false); // at 1 % a range of 1 MiB takes about 0.5 s: slower, and
              // so taking fewer ranges, but inside the 2 s bound
}

} // namespace
} // namespace playcount
