// The coordinator and its workers in one process: every job must give the
// bytes of a single sequential read, whatever the workers and range sizes.

#include "actors/coordinator.hpp"
#include "actors/messages.hpp"
#include "actors/worker.hpp"
#include "core/csv_layout.hpp"
#include "core/growing_file.hpp"
#include "core/hash.hpp"
#include "core/job_outcome.hpp"
#include "core/mapped_file.hpp"
#include "core/result_writer.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/temp_dir.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "core/range_reader.hpp"
#include "tests/support/eventually.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>

namespace playcount {
namespace {

using test::temp_dir;

struct ground_truth {
  std::string csv;   // the result file, when the input is good
  std::string error; // the `line N: ...` message, when it is not
};

ground_truth read_alone(const std::string& path, bool skip) {
  mapped_file file;
  const auto opened = file.open(path);
  EXPECT_TRUE(opened) << opened.error().text();
  auto layout = read_layout(file.bytes());
  if (auto* e = std::get_if<input_error>(&layout))
    return {"", e->to_string()};
  auto seq =
      read_sequentially(file.bytes(), std::get<csv_layout>(layout),
                        skip ? bad_row_policy::skip : bad_row_policy::fail);
  if (seq.outcome.error)
    return {"", seq.outcome.error->to_string()};
  return {format_result(seq.totals), ""};
}

class cluster_fixture : public ::testing::Test {
protected:
  void start(size_t workers, straggler_policy policy = {}) {
    configure_actor_system(cfg_);
    system_ = std::make_unique<caf::actor_system>(cfg_);
    coordinator_ = spawn_coordinator(*system_, nullptr, policy);
    for (size_t i = 0; i < workers; ++i)
      workers_.push_back(caf::actor_cast<caf::actor>(
          spawn_worker(*system_, coordinator_, std::string{local_node_id})));
  }

  void TearDown() override {
    if (system_) {
      for (auto& w : workers_)
        caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
      // With a sender: the coordinator takes nothing anonymous.
      caf::scoped_actor {
        *system_
        } -> send_exit(coordinator_, caf::exit_reason::user_shutdown);
      workers_.clear();
      coordinator_ = nullptr;
      system_.reset();
    }
  }

  coordinator_stats stats_now() {
    caf::scoped_actor self{*system_};
    coordinator_stats stats;
    self->request(coordinator_, std::chrono::seconds(5), stats_atom::value)
        .receive([&](coordinator_stats& s) { stats = std::move(s); },
                 [](caf::error&) {});
    return stats;
  }

  job_result run(const job_request& request) {
    caf::scoped_actor self{*system_};
    job_result out;
    self->request(coordinator_, std::chrono::seconds(120), request)
        .receive([&](job_result& r) { out = std::move(r); },
                 [&](caf::error& e) { out.error = to_string(e); });
    return out;
  }

  job_request request_for(const std::string& in, const std::string& out,
                          uint64_t range_size, bool skip = false) {
    job_request r;
    r.id = "job-" + std::to_string(++jobs_);
    r.input_path = in;
    r.output_path = out;
    r.range_size = range_size;
    r.on_bad_rows = skip ? bad_row_policy::skip : bad_row_policy::fail;
    return r;
  }

  temp_dir dir_;
  caf::actor_system_config cfg_; // must outlive the system
  std::unique_ptr<caf::actor_system> system_;
  coordinator_actor coordinator_;
  std::vector<caf::actor> workers_;
  int jobs_ = 0;
};

class workers_and_ranges
    : public cluster_fixture,
      public ::testing::WithParamInterface<std::tuple<size_t, uint64_t>> {};

TEST_P(workers_and_ranges, give_the_bytes_of_one_sequential_read) {
  const auto [workers, range_size] = GetParam();
  start(workers);
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    test::csv_shape shape;
    shape.rows = 3000;
    shape.seed = seed;
    shape.crlf = seed == 2;
    shape.bom = seed == 3;
    shape.final_newline = seed != 2;
    shape.empty_lines = seed == 3;
    shape.extra_column = seed == 1;
    const auto in = dir_.write("in.csv", test::make_csv(shape));
    const auto truth = read_alone(in, false);
    ASSERT_TRUE(truth.error.empty()) << truth.error;
    const auto out = dir_.file("out.csv");
    const auto result = run(request_for(in, out, range_size));
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(test::read_file(out), truth.csv) << "seed " << seed;
    EXPECT_EQ(result.rows, shape.rows);
  }
}

INSTANTIATE_TEST_SUITE_P(
    many, workers_and_ranges,
    ::testing::Combine(::testing::Values(size_t{1}, size_t{2}, size_t{3},
                                         size_t{8}),
                       ::testing::Values(uint64_t{1}, uint64_t{97},
                                         uint64_t{4096}, uint64_t{1} << 30)));

TEST_F(cluster_fixture,
       a_bad_record_fails_the_job_with_its_line_and_no_result) {
  start(3);
  test::csv_shape shape;
  shape.rows = 2000;
  std::string csv = test::make_csv(shape);
  // Break a record near the end, then one near the middle: the middle one
  // is first in file order and must be the one reported.
  const auto break_record_at = [&](size_t offset, const std::string& bad) {
    const size_t start = csv.find("\nSong ", offset) + 1;
    const size_t end = csv.find('\n', start);
    csv.replace(start, end - start, bad);
  };
  break_record_at(csv.size() * 9 / 10, "Song 1,2021-02-30,5");
  break_record_at(csv.size() / 2, "Song 1,2021-01-01,12x");
  const auto in = dir_.write("bad.csv", csv);
  const auto truth = read_alone(in, false);
  ASSERT_NE(truth.error.find("Number of Plays is not a whole number"),
            std::string::npos)
      << truth.error;
  for (uint64_t range_size :
       {uint64_t{64}, uint64_t{1000}, uint64_t{1} << 20}) {
    const auto out = dir_.file("out.csv");
    const auto result = run(request_for(in, out, range_size));
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.error, truth.error);
    EXPECT_FALSE(test::exists(out));
  }
}

TEST_F(cluster_fixture, skipping_bad_records_reports_them_in_file_order) {
  start(2);
  test::csv_shape shape;
  shape.rows = 500;
  shape.songs = 3; // plain names only: one record per line
  std::string csv = test::make_csv(shape);
  for (int k = 1; k <= 12; ++k) {
    const size_t at = csv.find('\n', csv.size() * k / 13) + 1;
    csv.insert(at, "Song 0,not a date,1\n");
  }
  const auto in = dir_.write("skip.csv", csv);
  const auto truth = read_alone(in, true);
  const auto out = dir_.file("out.csv");
  const auto result = run(request_for(in, out, 256, true));
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.bad_rows, 12u);
  ASSERT_EQ(result.first_bad.size(), reported_bad_rows);
  for (size_t i = 1; i < result.first_bad.size(); ++i)
    EXPECT_LT(std::stoul(result.first_bad[i - 1].substr(5)),
              std::stoul(result.first_bad[i].substr(5)));
  EXPECT_EQ(test::read_file(out), truth.csv);
}

TEST_F(cluster_fixture,
       a_total_past_int64_fails_with_overflow_at_the_exact_line) {
  start(2);
  std::string csv = "Song,Date,Number of Plays\n";
  for (int i = 0; i < 200; ++i)
    csv += "A,2020-01-01,1\n";
  csv += "B,2020-01-01,9223372036854775000\n";
  for (int i = 0; i < 200; ++i)
    csv += "A,2020-01-01,1\n";
  csv += "B,2020-01-01,9223372036854775000\n"; // line 403 overflows
  csv += "B,2020-01-01,1\n";
  const auto in = dir_.write("overflow.csv", csv);
  const auto out = dir_.file("out.csv");
  const auto result = run(request_for(in, out, 128));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error.rfind("line 403: overflow", 0), 0u) << result.error;
  EXPECT_FALSE(test::exists(out));
}

TEST_F(cluster_fixture, totals_past_32_bits_are_exact) {
  start(2);
  std::string csv = "Song,Date,Number of Plays\n";
  for (int i = 0; i < 300; ++i)
    csv += "A,2020-01-0" + std::to_string(1 + i % 3) + ",3000000000\n";
  const auto in = dir_.write("wide.csv", csv);
  const auto out = dir_.file("out.csv");
  const auto result = run(request_for(in, out, 256));
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(test::read_file(out), "Song,Date,Total Number of Plays for Date\n"
                                  "A,2020-01-01,300000000000\n"
                                  "A,2020-01-02,300000000000\n"
                                  "A,2020-01-03,300000000000\n");
}

TEST_F(cluster_fixture, a_header_only_file_gives_a_header_only_result) {
  start(2);
  const auto in = dir_.write("empty.csv", "Song,Date,Number of Plays\n");
  const auto out = dir_.file("out.csv");
  const auto result = run(request_for(in, out, 4096));
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(test::read_file(out), std::string(result_header));
}

TEST_F(cluster_fixture, a_missing_input_fails_with_the_reason) {
  start(1);
  const auto result =
      run(request_for(dir_.file("nope.csv"), dir_.file("out.csv"), 4096));
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.error.find("No such file"), std::string::npos)
      << result.error;
}

TEST_F(cluster_fixture, workers_that_go_down_mid_job_cost_only_time) {
  start(3);
  test::csv_shape shape;
  shape.rows = 200000;
  shape.songs = 300;
  const auto in = dir_.write("big.csv", test::make_csv(shape));
  const auto truth = read_alone(in, false);
  const auto out = dir_.file("out.csv");
  auto request = request_for(in, out, 4096);
  caf::scoped_actor self{*system_};
  self->send(coordinator_, request);
  // Kill two of the three workers while reading: after a quarter and after
  // half of the bytes were read, each holding the ranges in its partial.
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(test::eventually(
        [&] {
          job_status s;
          self->request(coordinator_, std::chrono::seconds(5),
                        status_atom::value, request.id)
              .receive([&](job_status& st) { s = st; }, [](caf::error&) {});
          return s.known && s.bytes_done > s.bytes_total / 4 * (i + 1);
        },
        std::chrono::seconds(60), std::chrono::milliseconds(1)))
        << "the job never got past " << (i + 1) << " quarter(s)";
    caf::anon_send_exit(workers_[i], caf::exit_reason::kill);
  }
  job_result result;
  self->receive([&](job_result& r) { result = std::move(r); },
                caf::after(test::scaled(std::chrono::seconds(120))) >> [] {});
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(test::read_file(out), truth.csv);
  // Without this, the test would pass if the kills came after the reading:
  // the ranges of a lost worker were handed out again.
  const coordinator_stats stats = stats_now();
  EXPECT_GT(stats.ranges_redispatched, 0u)
      << "no worker was lost while the job was reading";
  EXPECT_EQ(stats.workers.size(), 1u);
}

// An input that frees what was read (a spooled pipe, core/spool.hpp) cannot
// be read again: a worker lost with ranges in the freed bytes fails the job,
// saying so, rather than reading them again (as zeros).
TEST_F(cluster_fixture, a_lost_worker_fails_a_job_whose_input_is_freed) {
  start(2);
  test::csv_shape shape;
  shape.rows = 200000;
  shape.songs = 300;
  const std::string csv = test::make_csv(shape);
  const auto in = dir_.write("piped.csv", csv);
  auto request = request_for(in, dir_.file("out.csv"), 4096);
  auto input = std::make_shared<growing_file>();
  input->frees_what_is_read();
  input->grow(csv.size());
  input->complete();
  request.growing = input;
  caf::scoped_actor self{*system_};
  self->send(coordinator_, request);
  ASSERT_TRUE(
      test::eventually([&] { return input->now().done > csv.size() / 4; },
                       std::chrono::seconds(60), std::chrono::milliseconds(1)))
      << "the job never read a quarter of its input";
  input->freeing(input->now().done); // as the spool does
  caf::anon_send_exit(workers_[0], caf::exit_reason::kill);
  job_result result;
  self->receive([&](job_result& r) { result = std::move(r); },
                caf::after(test::scaled(std::chrono::seconds(120))) >> [] {});
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error, growing_file::freed_reread_error);
  EXPECT_FALSE(std::ifstream(dir_.file("out.csv")).good()) << "no result";
}

TEST_F(cluster_fixture, a_canceled_job_ends_as_canceled_and_others_go_on) {
  start(1);
  test::csv_shape shape;
  shape.rows = 300000;
  const auto in = dir_.write("big.csv", test::make_csv(shape));
  caf::scoped_actor self{*system_};
  auto first = request_for(in, dir_.file("first.csv"), 1024);
  auto second = request_for(in, dir_.file("second.csv"), 1 << 20);
  self->send(coordinator_, first);
  self->send(coordinator_, second);
  bool known = false;
  self->request(coordinator_, std::chrono::seconds(5), cancel_atom::value,
                first.id)
      .receive([&](bool k) { known = k; }, [](caf::error&) {});
  EXPECT_TRUE(known);
  std::vector<job_result> results;
  for (int i = 0; i < 2; ++i)
    self->receive([&](job_result& r) { results.push_back(std::move(r)); },
                  caf::after(std::chrono::seconds(120)) >> [] {});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].canceled);
  EXPECT_EQ(results[0].id, first.id);
  EXPECT_TRUE(results[1].ok) << results[1].error;
  EXPECT_FALSE(test::exists(dir_.file("first.csv")));
  EXPECT_EQ(test::read_file(dir_.file("second.csv")),
            read_alone(in, false).csv);
}

TEST_F(cluster_fixture, stats_list_every_worker_with_its_counters) {
  start(3);
  // Workers join on their own threads: wait until all three have.
  ASSERT_TRUE(
      test::eventually([&] { return stats_now().workers.size() == 3; }));
  test::csv_shape shape;
  const auto in = dir_.write("in.csv", test::make_csv(shape));
  ASSERT_TRUE(run(request_for(in, dir_.file("out.csv"), 512)).ok);
  const coordinator_stats stats = stats_now();
  ASSERT_EQ(stats.workers.size(), 3u);
  uint64_t ranges = 0;
  for (auto& w : stats.workers) {
    EXPECT_EQ(w.node, "local");
    ranges += w.ranges_done;
  }
  EXPECT_GT(ranges, 1u);
  EXPECT_EQ(stats.jobs_running, 0u);
}

} // namespace
} // namespace playcount

namespace playcount {
namespace {

// --- Stragglers ------------------------------------------------------------

// What a scripted worker saw, for the test to check.
struct script_log {
  std::mutex mutex;
  std::vector<std::string> drops;    // jobs it was told to forget
  std::vector<std::string> collects; // jobs whose partial was collected
  std::vector<uint32_t> held;        // ranges it was given and sits on
  size_t items = 0;                  // work items it was given
  size_t late_reports = 0;           // reports sent after its drop
  std::vector<size_t> holding;       // ranges it held as each came

  template <class F>
  auto with(F f) {
    std::lock_guard<std::mutex> guard{mutex};
    return f(*this);
  }
};

struct script {
  /// Ranges read (really) and reported at once before it stalls.
  size_t prompt = 0;
  /// After that: each range is reported this long after it came; negative:
  /// never (it sits on the range).
  std::chrono::milliseconds delay{-1};
  /// Asks for the next range as soon as one comes, as a remote worker does
  /// (with a delay set).
  bool ask_ahead = false;
  /// Answers the collect with a partial of this many bytes in its byte
  /// form, in pieces as a remote worker sends one: a song whose name is
  /// that long, which no row of the file has (0: its real partial).
  size_t oversized = 0;
};

struct scripted_state {
  partial_aggregate totals; // of its one job: what it would hand over
  std::vector<work_item> held;
  size_t holding = 0;  // ranges given and not reported
  bool asking = false; // an ask is unanswered
  static inline const char* name = "scripted_worker";
};

// Reads `w` from the file into `totals`, as a worker does.
range_report read_item(const work_item& w, partial_aggregate& totals) {
  mapped_file file;
  const auto opened = file.open(w.path);
  EXPECT_TRUE(opened) << opened.error().text();
  return read_range(file.bytes(), w.range, w.layout, bad_row_policy::fail,
                    totals, w.index);
}

using scripted_actor = caf::stateful_actor<scripted_state>;

// Sends `bytes` to `to` in pieces as a worker on another node does
// (worker.cpp, send_parts): the last piece is a request naming partition p.
void send_in_pieces(scripted_actor* self, const caf::actor& to,
                    const std::string& job, const std::string& bytes,
                    uint32_t p, caf::response_promise promise) {
  uint32_t pieces = 1;
  size_t at = 0;
  for (; bytes.size() - at > partial_piece_size; at += partial_piece_size) {
    self->send(to, partial_piece_atom::value, job,
               bytes.substr(at, partial_piece_size));
    ++pieces;
  }
  self->request(to, caf::infinite, partial_piece_atom::value, job,
                bytes.substr(at), uint32_t{1} << p)
      .then(
          [=](bool) mutable {
            promise.deliver(partial_blob{job, nullptr, true, pieces});
          },
          [=](const caf::error&) mutable {
            promise.deliver(partial_blob{job, nullptr, false, pieces});
          });
}

void report(scripted_actor* self, const caf::actor& coordinator,
            const work_item& w) {
  read_done out{w.job, w.index, read_item(w, self->state.totals), {}, 0};
  self->send(coordinator, std::move(out));
  --self->state.holding;
}

void ask(scripted_actor* self, const caf::actor& coordinator, script how,
         std::shared_ptr<script_log> log) {
  if (self->state.asking)
    return;
  self->state.asking = true;
  self->request(coordinator, caf::infinite, ask_work_atom::value)
      .then([=](work_item& w) {
        self->state.asking = false;
        const size_t holding = ++self->state.holding;
        const size_t n = log->with([&](script_log& l) {
          l.holding.push_back(holding);
          return ++l.items;
        });
        if (how.ask_ahead)
          ask(self, coordinator, how, log);
        if (n <= how.prompt) {
          report(self, coordinator, w);
          ask(self, coordinator, how, log);
        } else if (how.delay.count() >= 0) {
          self->delayed_send(self, how.delay, w);
        } else {
          log->with([&](script_log& l) { l.held.push_back(w.index); });
          self->state.held.push_back(w);
        }
      });
}

// A worker in the server's process that follows `how`: the straggler.
caf::behavior scripted_worker(scripted_actor* self, caf::actor coordinator,
                              script how, std::shared_ptr<script_log> log) {
  self->send(coordinator, join_atom::value, worker_info{"local", 0});
  ask(self, coordinator, how, log);
  return {
      [=](work_item& w) { // its delay is over
        report(self, coordinator, w);
        ask(self, coordinator, how, log);
      },
      [=](drop_atom, const std::string& job) {
        log->with([&](script_log& l) { l.drops.push_back(job); });
        self->state.totals = partial_aggregate{};
        // Now out of the job, it reports what it sat on, with rows that
        // would show if they were counted.
        for (const work_item& w : self->state.held) {
          read_done out{w.job, w.index, {}, {}, 0};
          out.report.rows = 1000000000;
          self->send(coordinator, std::move(out));
          log->with([](script_log& l) { ++l.late_reports; });
        }
        // ... and, its read over at last, asks for more, as a worker would.
        if (!self->state.held.empty()) {
          self->state.holding -= self->state.held.size();
          self->state.held.clear();
          ask(self, coordinator, how, log);
        }
      },
      [=](collect_atom, const std::string& job) -> caf::result<partial_blob> {
        log->with([&](script_log& l) { l.collects.push_back(job); });
        if (how.oversized == 0)
          return partial_blob{job,
                              std::make_shared<partial_aggregate>(
                                  std::move(self->state.totals)),
                              true};
        const std::string name(how.oversized, 'x');
        const uint64_t hash = hash_bytes(name.data(), name.size());
        partial_aggregate fake;
        const pending_row row{name, hash, 18262, 1, 0};
        EXPECT_EQ(fake.add_rows(&row, 1, 0), 1u);
        const uint32_t p = partial_aggregate::partition_of(hash);
        // The sender first: the promise takes it from the message.
        const auto to = caf::actor_cast<caf::actor>(self->current_sender());
        auto promise = self->make_response_promise();
        send_in_pieces(self, to, job, fake.encode_partition(p), p, promise);
        return promise;
      },
  };
}

class straggler_fixture : public cluster_fixture {
protected:
  // Short bounds, so that the tests take a moment, not minutes.
  static straggler_policy quick() {
    straggler_policy p;
    p.min_bound = std::chrono::milliseconds(150);
    p.silent_bound = std::chrono::milliseconds(5000);
    p.tick = std::chrono::milliseconds(10);
    return p;
  }

  // Starts `workers` real workers and one scripted one; returns when all
  // have joined.
  std::shared_ptr<script_log> start_with(size_t workers, script how,
                                         straggler_policy policy = quick()) {
    start(workers, policy);
    auto log = std::make_shared<script_log>();
    workers_.push_back(system_->spawn(
        scripted_worker, caf::actor_cast<caf::actor>(coordinator_), how, log));
    EXPECT_TRUE(test::eventually(
        [&] { return stats_now().workers.size() == workers + 1; }));
    return log;
  }

  std::string big_input() {
    test::csv_shape shape;
    shape.rows = 20000;
    shape.songs = 200;
    return dir_.write("in.csv", test::make_csv(shape));
  }
};

TEST_F(straggler_fixture, a_worker_that_never_reports_is_out_of_the_job) {
  auto log = start_with(2, script{});
  const auto in = big_input();
  const auto truth = read_alone(in, false);
  const auto out = dir_.file("out.csv");
  const auto request = request_for(in, out, 16 << 10);
  const auto started = std::chrono::steady_clock::now();
  const auto result = run(request);
  ASSERT_TRUE(result.ok) << result.error;
  // The bound: 150 ms after the others went idle, not the 5 s silence.
  EXPECT_LT(std::chrono::steady_clock::now() - started,
            test::scaled(std::chrono::seconds(3)));
  EXPECT_EQ(test::read_file(out), truth.csv);
  EXPECT_EQ(result.rows, 20000u);
  log->with([&](script_log& l) {
    EXPECT_EQ(l.items, 1u); // one range, and no other once it was out
    EXPECT_EQ(l.drops, std::vector<std::string>{request.id});
    EXPECT_TRUE(l.collects.empty());
    EXPECT_EQ(l.late_reports, 1u);
  });
  EXPECT_GE(stats_now().ranges_redispatched, 1u);
}

TEST_F(straggler_fixture, the_ranges_in_a_stragglers_partial_are_read_again) {
  // Three ranges read and reported, then it sits on the fourth: all four
  // go to others, and what it totalled is never merged.
  auto log = start_with(1, script{3, std::chrono::milliseconds(-1)});
  const auto in = big_input();
  const auto truth = read_alone(in, false);
  const auto out = dir_.file("out.csv");
  const auto request = request_for(in, out, 4 << 10);
  const auto result = run(request);
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(test::read_file(out), truth.csv);
  EXPECT_EQ(result.rows, 20000u);
  log->with([&](script_log& l) {
    EXPECT_EQ(l.items, 4u);
    EXPECT_EQ(l.drops, std::vector<std::string>{request.id});
    EXPECT_TRUE(l.collects.empty());
  });
  EXPECT_EQ(stats_now().ranges_redispatched, 4u);
}

TEST_F(straggler_fixture, a_slow_worker_is_out_of_the_job_before_it_reports) {
  // It reports every range 3 s after it got it, far past the bound.
  auto log = start_with(1, script{0, std::chrono::milliseconds(3000)});
  const auto in = big_input();
  const auto truth = read_alone(in, false);
  const auto out = dir_.file("out.csv");
  const auto result = run(request_for(in, out, 16 << 10));
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(test::read_file(out), truth.csv);
  EXPECT_EQ(result.rows, 20000u);
  EXPECT_GE(stats_now().ranges_redispatched, 1u);
  log->with([&](script_log& l) {
    EXPECT_EQ(l.drops.size(), 1u);
    EXPECT_TRUE(l.collects.empty());
  });
}

// The same slow worker on a job whose input frees what was read (a spooled
// pipe): its ranges could not be read again, so it stays in the job and the
// job waits for it.
TEST_F(straggler_fixture, a_slow_worker_stays_in_a_job_whose_input_is_freed) {
  auto log = start_with(1, script{0, std::chrono::milliseconds(600)});
  const auto in = big_input();
  const auto truth = read_alone(in, false);
  const auto out = dir_.file("out.csv");
  auto request = request_for(in, out, 16 << 10);
  auto input = std::make_shared<growing_file>();
  input->frees_what_is_read();
  input->grow(std::ifstream(in, std::ios::ate | std::ios::binary).tellg());
  input->complete();
  request.growing = input;
  const auto result = run(request);
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(test::read_file(out), truth.csv);
  EXPECT_EQ(result.rows, 20000u);
  EXPECT_EQ(stats_now().ranges_redispatched, 0u);
  log->with([&](script_log& l) {
    EXPECT_GE(l.items, 1u) << "the slow worker got no range";
    EXPECT_TRUE(l.drops.empty());
    EXPECT_EQ(l.collects, std::vector<std::string>{request.id});
  });
}

TEST_F(straggler_fixture,
       a_range_without_a_report_for_the_silence_bound_runs_elsewhere) {
  // The idle rule out of play (10 s): only the silence bound (300 ms) can
  // take the range back.
  straggler_policy policy = quick();
  policy.min_bound = std::chrono::milliseconds(10000);
  policy.silent_bound = std::chrono::milliseconds(300);
  auto log = start_with(1, script{}, policy);
  const auto in = big_input();
  const auto out = dir_.file("out.csv");
  const auto started = std::chrono::steady_clock::now();
  const auto result = run(request_for(in, out, 16 << 10));
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_LT(std::chrono::steady_clock::now() - started,
            test::scaled(std::chrono::seconds(5)));
  EXPECT_EQ(test::read_file(out), read_alone(in, false).csv);
  log->with([&](script_log& l) { EXPECT_EQ(l.drops.size(), 1u); });
}

TEST_F(straggler_fixture, a_job_whose_only_worker_is_slow_goes_on_with_it) {
  // No other worker: never out of the job, however slow (silence bound
  // 100 ms, each range 150 ms).
  straggler_policy policy = quick();
  policy.silent_bound = std::chrono::milliseconds(100);
  auto log = start_with(0, script{0, std::chrono::milliseconds(150)}, policy);
  test::csv_shape shape;
  shape.rows = 2000;
  const auto in = dir_.write("in.csv", test::make_csv(shape));
  const auto out = dir_.file("out.csv");
  const auto result = run(request_for(in, out, 16 << 10));
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(test::read_file(out), read_alone(in, false).csv);
  EXPECT_EQ(stats_now().ranges_redispatched, 0u);
  log->with([&](script_log& l) {
    EXPECT_TRUE(l.drops.empty());
    EXPECT_EQ(l.collects.size(), 1u);
  });
}

TEST_F(straggler_fixture, a_straggler_stays_a_worker_for_other_jobs) {
  auto log = start_with(1, script{});
  const auto in = big_input();
  const auto truth = read_alone(in, false);
  const auto first = run(request_for(in, dir_.file("first.csv"), 16 << 10));
  ASSERT_TRUE(first.ok) << first.error;
  const auto second = run(request_for(in, dir_.file("second.csv"), 16 << 10));
  ASSERT_TRUE(second.ok) << second.error;
  EXPECT_EQ(test::read_file(dir_.file("first.csv")), truth.csv);
  EXPECT_EQ(test::read_file(dir_.file("second.csv")), truth.csv);
  // It sat on one range of each job and was out of each in turn.
  log->with([&](script_log& l) {
    EXPECT_EQ(l.items, 2u);
    EXPECT_EQ(l.drops.size(), 2u);
  });
}

} // namespace
} // namespace playcount

namespace playcount {
namespace {

TEST_F(straggler_fixture,
       an_early_ask_waits_until_the_worker_shows_it_keeps_up) {
  // Alone on the job: its first early ask waits for its first report (it
  // has shown nothing yet); then it is the job's pace, and fetches ahead.
  script how{0, std::chrono::milliseconds(20), true};
  auto log = start_with(0, how);
  const auto in = big_input();
  const auto out = dir_.file("out.csv");
  const auto result = run(request_for(in, out, 16 << 10));
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(test::read_file(out), read_alone(in, false).csv);
  log->with([&](script_log& l) {
    ASSERT_GT(l.holding.size(), 3u);
    EXPECT_EQ(l.holding[0], 1u);
    EXPECT_EQ(l.holding[1], 1u);
    EXPECT_EQ(*std::max_element(l.holding.begin(), l.holding.end()), 2u);
  });
}

TEST_F(straggler_fixture,
       a_worker_that_does_not_keep_up_never_holds_two_ranges) {
  // 100 ms a range beside a worker that takes about 1 ms: far behind the
  // job's pace, so its early asks wait for its reports. (The straggler
  // bound is 5 s here, so that it stays in the job.)
  straggler_policy policy = quick();
  policy.min_bound = std::chrono::milliseconds(5000);
  auto log =
      start_with(1, script{0, std::chrono::milliseconds(100), true}, policy);
  const auto in = big_input();
  const auto out = dir_.file("out.csv");
  const auto result = run(request_for(in, out, 16 << 10));
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(test::read_file(out), read_alone(in, false).csv);
  EXPECT_EQ(stats_now().ranges_redispatched, 0u);
  log->with([&](script_log& l) {
    ASSERT_FALSE(l.holding.empty());
    EXPECT_EQ(*std::max_element(l.holding.begin(), l.holding.end()), 1u);
  });
}

TEST_F(straggler_fixture,
       a_partial_larger_than_its_ranges_can_hold_is_not_believed) {
  // A worker that read its ranges, then sends a partial of 40 MiB (one
  // song with a 40 MiB name): no partial of this 400 KB file is that
  // large. The finisher stops taking its pieces past what the ranges can
  // justify (it never holds them all) and reads its ranges again.
  script how;
  how.prompt = 1000000;
  how.oversized = 40u << 20;
  auto log = start_with(1, how);
  const auto in = big_input();
  const auto truth = read_alone(in, false);
  const auto out = dir_.file("out.csv");
  const auto request = request_for(in, out, 16 << 10);
  const auto result = run(request);
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(test::read_file(out), truth.csv);
  EXPECT_EQ(result.rows, 20000u);
  log->with([&](script_log& l) {
    EXPECT_GE(l.items, 1u);
    EXPECT_EQ(l.collects, std::vector<std::string>{request.id});
  });
}

} // namespace
} // namespace playcount
