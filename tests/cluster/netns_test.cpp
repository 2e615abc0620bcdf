// The cluster across a real (virtual) network: the server and two worker
// nodes each in a network namespace of its own, joined by veth pairs, and
// one node's link cut mid-job. Needs root (CAP_SYS_ADMIN) and iproute2;
// skipped with a message otherwise.
//
//   ns S (server, cluster port on every interface of S)
//     veth S-A 10.213.1.1/24  <->  ns A (node a) 10.213.1.2/24
//     veth S-B 10.213.2.1/24  <->  ns B (node b) 10.213.2.2/24
//
// The test talks HTTP to the server on S's loopback: its thread enters S.

#include "tests/support/api_client.hpp"
#include "tests/support/binary.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/count_alone.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <memory>

namespace playcount {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using test::child_process;
using test::eventually;
using test::str;

using test::binary;
using test::inside_namespace;
using test::run_ip;
const std::string ip = test::ip_command;

class netns_test : public ::testing::Test {
protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "network namespaces need root: run the tests as root "
                      "to cut a node's link (the loopback cluster tests run "
                      "anyway)";
    const std::string tag = std::to_string(::getpid() % 100000);
    server_ns_ = "pc-s-" + tag;
    a_ns_ = "pc-a-" + tag;
    b_ns_ = "pc-b-" + tag;
    if (std::string e = run_ip({"netns", "add", server_ns_}); !e.empty())
      GTEST_SKIP() << "cannot make a network namespace here: " << e;
    made_ = true;
    for (const auto& ns : {a_ns_, b_ns_})
      ASSERT_EQ(run_ip({"netns", "add", ns}), "");
    // veth names: at most 15 bytes.
    link_a_ = "pcsa" + tag;
    link_b_ = "pcsb" + tag;
    const std::vector<std::vector<std::string>> setup = {
        {"-n", server_ns_, "link", "set", "lo", "up"},
        {"-n", server_ns_, "link", "add", link_a_, "type", "veth", "peer",
         "name", "pcas" + tag, "netns", a_ns_},
        {"-n", server_ns_, "link", "add", link_b_, "type", "veth", "peer",
         "name", "pcbs" + tag, "netns", b_ns_},
        {"-n", server_ns_, "addr", "add", "10.213.1.1/24", "dev", link_a_},
        {"-n", server_ns_, "addr", "add", "10.213.2.1/24", "dev", link_b_},
        {"-n", server_ns_, "link", "set", link_a_, "up"},
        {"-n", server_ns_, "link", "set", link_b_, "up"},
        {"-n", a_ns_, "addr", "add", "10.213.1.2/24", "dev", "pcas" + tag},
        {"-n", a_ns_, "link", "set", "pcas" + tag, "up"},
        {"-n", a_ns_, "link", "set", "lo", "up"},
        {"-n", b_ns_, "addr", "add", "10.213.2.2/24", "dev", "pcbs" + tag},
        {"-n", b_ns_, "link", "set", "pcbs" + tag, "up"},
        {"-n", b_ns_, "link", "set", "lo", "up"},
    };
    for (const auto& step : setup)
      ASSERT_EQ(run_ip(step), "");
  }

  void TearDown() override {
    nodes_.clear();
    server_.reset();
    if (made_)
      for (const auto& ns : {server_ns_, a_ns_, b_ns_})
        (void)run_ip({"netns", "del", ns});
  }

  std::unique_ptr<child_process> in_namespace(const std::string& ns,
                                              std::vector<std::string> args,
                                              const std::string& log) {
    args.insert(args.begin(), {ip, "netns", "exec", ns});
    return std::make_unique<child_process>(args, dir_.file(log));
  }

  std::string server_ns_, a_ns_, b_ns_, link_a_, link_b_;
  bool made_ = false;
  test::temp_dir dir_;
  std::unique_ptr<child_process> server_;
  std::vector<std::unique_ptr<child_process>> nodes_;
};

TEST_F(netns_test, a_node_whose_link_is_cut_mid_job_costs_only_time) {
  server_ = in_namespace(server_ns_,
                         {binary, "serve", "--host", "127.0.0.1", "--port", "0",
                          "--workers", "0", "--cluster-host", "0.0.0.0",
                          "--cluster-port", "4242", "--cluster-token",
                          "netns-secret", "--test-range-size", "16K",
                          "--data-dir", dir_.file("data")},
                         "server.log");
  const std::string marker = "listening on http://127.0.0.1:";
  const size_t at = server_->wait_for_log(marker);
  ASSERT_NE(at, std::string::npos) << server_->log();
  const auto port = static_cast<uint16_t>(
      std::stoi(server_->log().substr(at + marker.size())));
  nodes_.push_back(
      in_namespace(a_ns_,
                   {binary, "worker", "--join", "10.213.1.1:4242", "--workers",
                    "1", "--name", "a", "--cluster-token", "netns-secret"},
                   "a.log"));
  nodes_.push_back(
      in_namespace(b_ns_,
                   {binary, "worker", "--join", "10.213.2.1:4242", "--workers",
                    "1", "--name", "b", "--cluster-token", "netns-secret"},
                   "b.log"));
  child_process& a = *nodes_[0];
  for (auto& node : nodes_)
    ASSERT_NE(node->wait_for_log("joined the server at 10.213."),
              std::string::npos)
        << node->log();

  inside_namespace in_server(server_ns_);
  ASSERT_TRUE(in_server.ok());
  const auto node_state = [&](const std::string& name) {
    const json::object stats = test::admin_stats(port);
    std::string state;
    for (const auto& n : stats.at("nodes").as_array())
      if (str(n.as_object(), "name") == name)
        state = str(n.as_object(), "state") + " " +
                std::to_string(n.at("workers").to_number<int>()) + " " +
                str(n.as_object(), "address");
    return state;
  };
  // Once a's worker is listed, its first ask is on its way: the worker
  // sends it right behind its join, on the same connection, so pausing a
  // cannot hold it back.
  ASSERT_TRUE(eventually(
      [&] { return node_state("a").rfind("up 1 10.213.1.2:", 0) == 0; }, 10s))
      << node_state("a");

  test::csv_shape shape;
  shape.rows = 30000;
  shape.songs = 300;
  const std::string csv = test::make_csv(shape);
  // a holds one range and stops; b reads every other one.
  a.pause();
  const std::string id = test::submit(port, csv);
  ASSERT_TRUE(eventually(
      [&] {
        const json::object stats = test::admin_stats(port);
        const auto& jobs = stats.at("queue").at("jobs").as_array();
        if (jobs.empty())
          return false;
        const auto& q = jobs[0].as_object();
        return q.at("ranges").to_number<uint64_t>() > 10 &&
               q.at("done").to_number<uint64_t>() + 1 ==
                   q.at("ranges").to_number<uint64_t>();
      },
      20s));
  // Cut a's link; a goes on, but nothing it sends arrives.
  ASSERT_EQ(run_ip({"-n", server_ns_, "link", "set", link_a_, "down"}), "");
  const auto cut = std::chrono::steady_clock::now();
  a.resume();
  const auto done = test::wait_for_state(port, id, "finished", 30s);
  EXPECT_LT(std::chrono::steady_clock::now() - cut, test::scaled(10s));
  EXPECT_EQ(str(done, "state"), "finished");
  // a's range may have run elsewhere already (a straggler: b idle for 2 s);
  // a is down once silent for 5 s.
  EXPECT_TRUE(
      eventually([&] { return node_state("a").rfind("down", 0) == 0; }, 15s))
      << node_state("a");

  EXPECT_EQ(test::http_get(port, "/jobs/" + id + "/result/").body,
            test::count_alone(binary, dir_, csv));

  // With its link back, a finds its connection gone and joins again.
  ASSERT_EQ(run_ip({"-n", server_ns_, "link", "set", link_a_, "up"}), "");
  EXPECT_NE(a.wait_for_log("lost the server at 10.213.1.1:4242", 20s),
            std::string::npos)
      << a.log();
  EXPECT_TRUE(
      eventually([&] { return node_state("a").rfind("up", 0) == 0; }, 40s))
      << a.log();
}

} // namespace
} // namespace playcount
