// Progress that only moves forward (issue 13, item 7): a job polled all
// through its life, from an upload that trickles in to its end. Each phase
// has its own done/total, and neither they, nor bytesDone, nor the phase
// under way ever go back.

#include "tests/support/api_client.hpp"
#include "tests/support/count_alone.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_fixture.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <thread>
#include <vector>

namespace playcount {
namespace {

using namespace std::chrono_literals;
using test::json_of;
using test::str;

class progress_test : public test::served_test {};

// The phases in the order a job reaches them.
constexpr std::array<std::string_view, 5> phase_order = {
    "uploading", "scanning", "reading", "merging", "writing"};

size_t rank_of(std::string_view phase) {
  for (size_t i = 0; i < phase_order.size(); ++i)
    if (phase_order[i] == phase)
      return i;
  ADD_FAILURE() << "a phase not known: " << phase;
  return 0;
}

uint64_t number(const boost::json::value& v) {
  return v.is_int64() ? static_cast<uint64_t>(v.as_int64()) : v.as_uint64();
}

TEST_F(progress_test, a_job_polled_through_its_life_never_goes_back) {
  auto s = start({"--test-range-size", "64K"});
  test::csv_shape shape;
  shape.rows = 120000;
  shape.songs = 30000; // a result of many groups: merging and writing last
  const std::string body = test::make_csv(shape);
  const std::string head = "POST /jobs/count/?filename=plays.csv HTTP/1.1\r\n"
                           "Content-Type: text/csv\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  // The upload trickles in on a thread of its own: 64 KiB every 10 ms (a
  // pace, not a wait for anything).
  test::http_response answer;
  std::thread client([&] {
    test::http_connection c(s->port());
    bool sent = c.send(head);
    for (size_t at = 0; sent && at < body.size(); at += 65536) {
      sent = c.send(body.substr(at, 65536));
      std::this_thread::sleep_for(10ms);
    }
    answer = test::parse_response(c.read_all());
  });
  std::vector<boost::json::object> seen;
  const bool ended = test::eventually(
      [&] {
        const auto list = json_of(test::http_get(s->port(), "/jobs/"));
        const auto& jobs = list.at("jobs").as_array();
        if (jobs.empty())
          return false;
        seen.push_back(jobs[0].as_object());
        const std::string state = str(seen.back(), "state");
        return state == "finished" || state == "failed";
      },
      60s, 2ms);
  client.join();
  ASSERT_TRUE(ended);
  ASSERT_EQ(answer.status, 202) << answer.raw;
  ASSERT_EQ(str(seen.back(), "state"), "finished");
  const std::string id = str(seen.back(), "jobId");
  EXPECT_EQ(test::http_get(s->port(), "/jobs/" + id + "/result/").body,
            test::count_alone(binary, dir_, body));

  const boost::json::object* before = nullptr;
  std::vector<std::string> phases; // each phase under way, once
  for (const boost::json::object& now : seen) {
    if (str(now, "state") != "started")
      continue;
    const std::string phase = str(now, "phase");
    if (phases.empty() || phases.back() != phase)
      phases.push_back(phase);
    const auto& progress = now.at("progress").as_object();
    for (const auto& [name, value] : progress) {
      const uint64_t done = number(value.at("done"));
      const uint64_t total = number(value.at("total"));
      if (name != "spilling" && total > 0) {
        EXPECT_LE(done, total) << name << " in " << boost::json::serialize(now);
      }
    }
    if (before != nullptr) {
      const std::string context = boost::json::serialize(*before) + "\nthen\n" +
                                  boost::json::serialize(now);
      EXPECT_GE(number(now.at("bytesDone")), number(before->at("bytesDone")))
          << context;
      EXPECT_GE(rank_of(phase), rank_of(str(*before, "phase"))) << context;
      for (const auto& [name, value] : before->at("progress").as_object()) {
        const auto* later = progress.if_contains(name);
        ASSERT_NE(later, nullptr) << name << " went away\n" << context;
        EXPECT_GE(number(later->at("done")), number(value.at("done")))
            << name << "\n"
            << context;
        EXPECT_GE(number(later->at("total")), number(value.at("total")))
            << name << "\n"
            << context;
      }
    }
    before = &now;
  }
  // The upload was seen arriving, and the job counted on after it.
  ASSERT_FALSE(phases.empty());
  EXPECT_EQ(phases.front(), "uploading");
  EXPECT_GE(phases.size(), 2u) << "only " << phases.front() << " was seen";
}

} // namespace
} // namespace playcount
