// The HTTP server in front of a job registry that takes its time: no
// Pistache thread waits for the registry, so one slow answer stops nothing
// else, and every answer still comes, the same as from a quick registry.
// The server runs in this process on one HTTP thread, in front of a
// stand-in registry that holds its answers until the test releases them.

#include "http/server.hpp"

#include "actors/job_store.hpp"
#include "actors/messages.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/slowdown.hpp"
#include "tests/support/temp_dir.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

using namespace std::chrono_literals;
using namespace playcount;

namespace {

using hold_atom = caf::atom_constant<caf::atom("hold")>;
using release_atom = caf::atom_constant<caf::atom("release")>;

const std::string job_id = "0b5b2c4e-8f39-4c11-9a53-2f3f0c1d7e6a";

struct slow_registry_state {
  bool holding = true;
  uint32_t admit_wait = 0; // what `admit` answers once released
  std::vector<std::function<void()>> held;
};

// Answers lookup, admit and submit as the job registry does (a job that is
// running; room or no room; accepted), but while `holding`, only when the
// test sends release. `waiting` counts the questions held.
caf::behavior slow_registry(caf::stateful_actor<slow_registry_state>* self,
                            std::shared_ptr<std::atomic<int>> waiting) {
  auto answer = [self, waiting](std::function<caf::message()> make) {
    auto rp = self->make_response_promise();
    if (!self->state.holding) {
      rp.deliver(make());
      return;
    }
    ++*waiting;
    self->state.held.emplace_back([rp, make, waiting]() mutable {
      --*waiting;
      rp.deliver(make());
    });
  };
  return {
      [=](lookup_atom, const std::string& id) {
        answer([id] {
          job_lookup l;
          l.found = true;
          l.record.id = id;
          l.record.state = job_state::started;
          return caf::make_message(l);
        });
      },
      [=](admit_atom) {
        answer([self] { return caf::make_message(self->state.admit_wait); });
      },
      [=](submit_atom, const job_submission& s) {
        submit_reply r;
        r.status = submit_reply::accepted;
        r.record.id = s.id;
        return r;
      },
      [=](hold_atom) { self->state.holding = true; },
      [=](release_atom, uint32_t admit_wait) {
        self->state.holding = false;
        self->state.admit_wait = admit_wait;
        auto held = std::move(self->state.held);
        self->state.held.clear();
        for (auto& f : held)
          f();
      },
  };
}

caf::actor_system_config& system_config() {
  static caf::actor_system_config cfg = [] {
    caf::actor_system_config c;
    configure_actor_system(c);
    return c;
  }();
  return cfg;
}

class server_nonblocking_test : public ::testing::Test {
protected:
  void SetUp() override {
    std::filesystem::create_directories(jobs_dir(dir_.file("data")));
    registry_ = system_.spawn(slow_registry, waiting_);
  }

  void start(std::chrono::milliseconds registry_timeout = 30s) {
    http::server_config cfg;
    cfg.port = 0;
    cfg.threads = 1; // one slow answer would stop everything if it waited
    cfg.data_dir = dir_.file("data");
    cfg.registry_timeout = registry_timeout;
    // The slow registry answers what a job_registry_actor does.
    server_ = std::make_unique<http::server>(
        system_, caf::actor_cast<job_registry_actor>(registry_), cfg);
    const auto started = server_->start();
    ASSERT_TRUE(started) << started.error().text();
  }

  void TearDown() override {
    if (server_)
      server_->stop();
    caf::anon_send_exit(registry_, caf::exit_reason::kill);
  }

  void release(uint32_t admit_wait = 0) {
    caf::anon_send(registry_, release_atom::value, admit_wait);
  }

  bool questions_waiting(int n) {
    return test::eventually(
        [&] { return *waiting_ == n; },
        std::chrono::milliseconds(static_cast<int>(10000 * test::time_factor)));
  }

  // /healthz answered on a connection of its own, within `within`.
  bool healthy_within(std::chrono::milliseconds within) {
    test::http_connection c(server_->port());
    if (!c.send("GET /healthz HTTP/1.1\r\n\r\n"))
      return false;
    const auto r = test::parse_response(c.read_all(within));
    return r.status == 200 && r.body == "ok";
  }

  static std::string lookup(const std::string& extra = {}) {
    return "GET /jobs/" + job_id + "/ HTTP/1.1\r\n" + extra + "\r\n";
  }

  test::temp_dir dir_;
  caf::actor_system system_{system_config()};
  std::shared_ptr<std::atomic<int>> waiting_ =
      std::make_shared<std::atomic<int>>(0);
  caf::actor registry_;
  std::unique_ptr<http::server> server_;
  const std::chrono::milliseconds prompt{
      static_cast<int>(2000 * test::time_factor)};
};

TEST_F(server_nonblocking_test,
       requests_waiting_for_the_registry_do_not_stop_the_one_http_thread) {
  start();
  test::http_connection first(server_->port());
  test::http_connection second(server_->port());
  ASSERT_TRUE(first.send(lookup()));
  ASSERT_TRUE(questions_waiting(1));
  // With a handler that waited, the one thread would be stuck in the first
  // request: neither this question nor /healthz would get through.
  ASSERT_TRUE(second.send(lookup()));
  ASSERT_TRUE(questions_waiting(2));
  EXPECT_TRUE(healthy_within(prompt));
  std::string nothing;
  EXPECT_FALSE(first.read_some(nothing, 0ms)) << nothing;

  release();
  for (auto* c : {&first, &second}) {
    const auto r = test::parse_response(c->read_all(prompt));
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.header("content-type"), "application/json") << r.raw;
    EXPECT_NE(r.body.find("\"jobId\":\"" + job_id + "\""), std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("\"state\":\"started\""), std::string::npos)
        << r.body;
  }
}

TEST_F(server_nonblocking_test,
       pipelined_requests_behind_a_slow_one_are_answered_in_order) {
  start();
  test::http_connection c(server_->port());
  ASSERT_TRUE(c.send(lookup("Connection: keep-alive\r\n") +
                     "GET /healthz HTTP/1.1\r\nConnection: keep-alive\r\n\r\n" +
                     lookup()));
  ASSERT_TRUE(questions_waiting(1));
  EXPECT_TRUE(healthy_within(prompt)); // on another connection
  std::string early;
  EXPECT_FALSE(c.read_some(early, 0ms)) << "/healthz overtook: " << early;
  release();
  std::string all;
  while (c.read_some(all, prompt)) {
  }
  const size_t first = all.find("HTTP/1.1 200");
  const size_t ok = all.find("\r\n\r\nok");
  const size_t last = all.rfind("\"jobId\"");
  ASSERT_NE(first, std::string::npos) << all;
  ASSERT_NE(ok, std::string::npos) << all;
  EXPECT_LT(all.find("\"jobId\""), ok) << all;
  EXPECT_LT(ok, last) << all;
}

TEST_F(server_nonblocking_test,
       a_client_that_leaves_before_its_answer_costs_nothing) {
  start();
  {
    test::http_connection gone(server_->port());
    ASSERT_TRUE(gone.send(lookup()));
    ASSERT_TRUE(questions_waiting(1));
  } // closed while its answer is pending
  // A new connection likely gets the descriptor number the old one had:
  // the old answer must not reach it.
  test::http_connection next(server_->port());
  ASSERT_TRUE(
      next.send("GET /healthz HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"));
  const auto before = test::parse_response(next.read_all(prompt));
  EXPECT_EQ(before.status, 200) << before.raw;
  release();
  ASSERT_TRUE(questions_waiting(0));
  ASSERT_TRUE(next.send("GET /healthz HTTP/1.1\r\n\r\n"));
  std::string after;
  while (next.read_some(after, prompt)) {
  }
  EXPECT_EQ(after.find("jobId"), std::string::npos) << after;
  EXPECT_EQ(test::parse_response(after).body, "ok") << after;
  EXPECT_TRUE(healthy_within(prompt));
}

TEST_F(server_nonblocking_test,
       a_registry_that_does_not_answer_in_time_gets_the_same_503) {
  start(std::chrono::milliseconds(static_cast<int>(300 * test::time_factor)));
  test::http_connection c(server_->port());
  ASSERT_TRUE(c.send(lookup()));
  const auto r = test::parse_response(c.read_all(prompt * 5));
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_NE(r.body.find("the job registry did not answer; try again"),
            std::string::npos)
      << r.body;
  EXPECT_TRUE(healthy_within(prompt));
}

TEST_F(server_nonblocking_test,
       an_upload_waits_for_the_registry_to_admit_it_without_stopping_others) {
  start();
  const std::string body = "Song,Date,Number of Plays\nA,2020-01-01,1\n";
  test::http_connection c(server_->port());
  ASSERT_TRUE(c.send("POST /jobs/count/ HTTP/1.1\r\nContent-Type: text/csv\r\n"
                     "Expect: 100-continue\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n"));
  ASSERT_TRUE(questions_waiting(1)); // admit?
  EXPECT_TRUE(healthy_within(prompt));
  std::string early;
  EXPECT_FALSE(c.read_some(early, 0ms)) << "100 Continue before admission";
  release();
  std::string go_on;
  ASSERT_TRUE(c.read_until(go_on, "\r\n\r\n", prompt));
  EXPECT_EQ(go_on.rfind("HTTP/1.1 100 Continue", 0), 0u) << go_on;
  ASSERT_TRUE(c.send(body));
  const auto r = test::parse_response(c.read_all(prompt));
  EXPECT_EQ(r.status, 202) << r.raw;
  EXPECT_NE(r.body.find("\"jobId\":\""), std::string::npos) << r.body;
  // Counted until Pistache has written the answer, which the client may
  // read a moment before.
  EXPECT_TRUE(
      test::eventually([&] { return server_->uploads_in_progress() == 0; }));
}

TEST_F(server_nonblocking_test,
       an_upload_the_registry_has_no_room_for_gets_503_when_it_says_so) {
  start();
  test::http_connection c(server_->port());
  // The body is on its way while the registry thinks.
  ASSERT_TRUE(
      c.send("POST /jobs/count/ HTTP/1.1\r\nContent-Type: text/csv\r\n"
             "Content-Length: 100000\r\n\r\nSong,Date,Number of Plays\n"));
  ASSERT_TRUE(questions_waiting(1));
  release(7);
  const auto r = test::parse_response(c.read_all(prompt));
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_EQ(r.header("retry-after"), "7") << r.raw;
  // Nothing of the refused upload stays.
  EXPECT_TRUE(test::eventually([&] {
    return std::filesystem::is_empty(jobs_dir(dir_.file("data"))) &&
           server_->uploads_in_progress() == 0;
  }));
}

TEST_F(server_nonblocking_test,
       readyz_is_503_until_the_server_is_ready_and_again_once_it_drains) {
  start(); // the registry holds its answers: /readyz does not ask it
  const auto ready = [&] { return test::http_get(server_->port(), "/readyz"); };
  const auto starting = ready();
  EXPECT_EQ(starting.status, 503) << starting.raw;
  EXPECT_NE(starting.body.find("starting"), std::string::npos) << starting.raw;
  EXPECT_FALSE(starting.header("retry-after").empty()) << starting.raw;
  EXPECT_FALSE(server_->ready());
  server_->set_ready();
  EXPECT_TRUE(server_->ready());
  const auto up = ready();
  EXPECT_EQ(up.status, 200) << up.raw;
  EXPECT_EQ(up.body, "ready");
  server_->drain();
  EXPECT_FALSE(server_->ready());
  const auto draining = ready();
  EXPECT_EQ(draining.status, 503) << draining.raw;
  EXPECT_NE(draining.body.find("shutting down"), std::string::npos)
      << draining.raw;
  EXPECT_EQ(*waiting_, 0);
}

} // namespace
