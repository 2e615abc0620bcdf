// The job registry against a scripted coordinator: queueing and its limits,
// the states a job goes through, what is on disk after each, a second
// registry on the same directory (a restart), and the time to live. And the
// job store's own rules.

#include "actors/job_registry.hpp"
#include "actors/job_store.hpp"
#include "actors/messages.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <caf/all.hpp>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

namespace playcount {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::temp_dir;

// A coordinator that runs nothing by itself: each job waits until the test
// ends it with (finished_atom, job_result). `get_atom` tells the order in
// which jobs were handed over.
struct fake_coordinator_state {
  std::map<std::string, caf::response_promise> running;
  std::map<std::string, std::string> outputs;
  std::vector<std::string> handed_over;
  std::vector<std::string> canceled;
};

caf::behavior
fake_coordinator(caf::stateful_actor<fake_coordinator_state>* self) {
  return {
      [=](job_request& r) {
        auto rp = self->make_response_promise();
        self->state.handed_over.push_back(r.id);
        self->state.outputs[r.id] = r.output_path;
        self->state.running.emplace(r.id, rp);
        return rp;
      },
      [=](finished_atom, job_result& result) {
        auto i = self->state.running.find(result.id);
        if (i == self->state.running.end())
          return;
        if (result.ok)
          std::ofstream(self->state.outputs[result.id]) << "result\n";
        i->second.deliver(std::move(result));
        self->state.running.erase(i);
      },
      [=](status_atom, const std::string& id) {
        job_status s;
        s.id = id;
        s.known = self->state.running.count(id) != 0;
        s.phase = "reading";
        // Bytes of the file (its 10-byte header counts as read once the
        // job is planned), and each phase's own.
        s.bytes_total = 100;
        s.bytes_done = 50;
        s.rows = 7;
        s.progress.scanning = {90, 90};
        s.progress.reading = {40, 90};
        return s;
      },
      [=](cancel_atom, const std::string& id) {
        auto i = self->state.running.find(id);
        if (i == self->state.running.end())
          return false;
        self->state.canceled.push_back(id);
        job_result r;
        r.id = id;
        r.canceled = true;
        r.error = "canceled";
        i->second.deliver(std::move(r));
        self->state.running.erase(i);
        return true;
      },
      [=](stats_atom) {
        coordinator_stats s;
        s.jobs_running = self->state.running.size();
        return s;
      },
      [=](caf::get_atom) { return self->state.handed_over; },
  };
}

class job_registry_test : public ::testing::Test {
protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::off);
    configure_actor_system(cfg_);
    system_ = std::make_unique<caf::actor_system>(cfg_);
    coordinator_ = system_->spawn(fake_coordinator);
  }

  void TearDown() override {
    stop_registry();
    caf::anon_send_exit(coordinator_, caf::exit_reason::user_shutdown);
    coordinator_ = nullptr;
    system_.reset();
  }

  void start_registry(uint64_t max_running = 1, uint64_t max_queued = 10,
                      std::chrono::milliseconds ttl = 1h) {
    stop_registry();
    job_registry_config config;
    config.data_dir = dir_.path();
    config.max_running = max_running;
    config.max_queued = max_queued;
    config.result_ttl = ttl;
    config.retry_after = 7;
    // The fake coordinator answers what a job_runner_actor does.
    auto spawned = spawn_job_registry(
        *system_, caf::actor_cast<job_runner_actor>(coordinator_), config);
    ASSERT_TRUE(spawned) << spawned.error().text();
    registry_ = caf::actor_cast<caf::actor>(*spawned);
  }

  void stop_registry() {
    if (registry_) {
      caf::scoped_actor self{*system_};
      self->send_exit(registry_, caf::exit_reason::user_shutdown);
      self->wait_for(registry_);
      registry_ = nullptr;
    }
  }

  template <class Result, class... Ts>
  Result ask(const caf::actor& to, Ts&&... xs) {
    caf::scoped_actor self{*system_};
    Result out{};
    self->request(to, 5s, std::forward<Ts>(xs)...)
        .receive([&](Result& r) { out = std::move(r); },
                 [&](caf::error& e) { ADD_FAILURE() << to_string(e); });
    return out;
  }

  /// What the HTTP layer does before it submits: the job's input on disk.
  std::string upload(const std::string& content = "Song,Date\nx\n") {
    const std::string id = make_job_id();
    const job_paths p = paths_for(dir_.path(), id);
    fs::create_directories(p.dir);
    std::ofstream(p.input) << content;
    return id;
  }

  submit_reply submit(const std::string& id) {
    return ask<submit_reply>(
        registry_, submit_atom::value,
        job_submission{id, "in.csv", 100, bad_row_policy::fail});
  }

  job_record lookup(const std::string& id) {
    return ask<job_lookup>(registry_, lookup_atom::value, id).record;
  }

  bool known(const std::string& id) {
    return ask<job_lookup>(registry_, lookup_atom::value, id).found;
  }

  void end_job(const std::string& id, bool ok, std::string error = {}) {
    job_result r;
    r.id = id;
    r.ok = ok;
    r.error = std::move(error);
    r.rows = 3;
    r.groups = 2;
    caf::anon_send(coordinator_, finished_atom::value, r);
  }

  /// Waits until the job is in `state` (the registry hears of a job's end
  /// asynchronously).
  job_record wait_for(const std::string& id, job_state state) {
    job_record r;
    if (test::eventually(
            [&] {
              r = lookup(id);
              return r.state == state;
            },
            5s, 5ms))
      return r;
    ADD_FAILURE() << id << " is " << to_string(r.state) << ", not "
                  << to_string(state);
    return r;
  }

  /// Puts a directory where the job's job.json.tmp goes, so saving it fails
  /// (EISDIR, even for root, as on a full disk). The registry may be saving
  /// that record right now (a sweep records a running job's peak memory):
  /// its temporary file is there only until the rename, so wait it out.
  std::string block_saves(const std::string& id) {
    const std::string blocker = paths_for(dir_.path(), id).record + ".tmp";
    std::error_code ec;
    EXPECT_TRUE(test::eventually(
        [&] {
          return fs::create_directory(blocker, ec) || fs::is_directory(blocker);
        },
        5s, 1ms))
        << blocker << ": " << ec.message();
    return blocker;
  }

  std::vector<std::string> handed_over() {
    // A registry's start-up hands jobs over asynchronously: once it has
    // answered a lookup, what it handed over is in the coordinator's mailbox
    // ahead of this question.
    if (registry_)
      (void)known("sync");
    return ask<std::vector<std::string>>(coordinator_, caf::get_atom::value);
  }

  temp_dir dir_;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> system_;
  caf::actor coordinator_;
  caf::actor registry_;
};

TEST_F(job_registry_test, jobs_start_in_arrival_order_up_to_max_running) {
  start_registry(2);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(upload());
    ASSERT_EQ(submit(ids.back()).status, submit_reply::accepted);
  }
  EXPECT_EQ(handed_over(), (std::vector<std::string>{ids[0], ids[1]}));
  EXPECT_EQ(lookup(ids[1]).state, job_state::started);
  EXPECT_EQ(lookup(ids[2]).state, job_state::queued);
  end_job(ids[1], true);
  wait_for(ids[1], job_state::finished);
  EXPECT_EQ(handed_over(), (std::vector<std::string>{ids[0], ids[1], ids[2]}));
  end_job(ids[0], true);
  end_job(ids[2], true);
  wait_for(ids[4], job_state::started);
  EXPECT_EQ(handed_over(), ids);
}

TEST_F(job_registry_test, a_job_beyond_max_queued_is_refused_with_retry_after) {
  start_registry(1, 2);
  for (int i = 0; i < 3; ++i) // one started, two waiting
    ASSERT_EQ(submit(upload()).status, submit_reply::accepted);
  EXPECT_EQ(ask<uint32_t>(registry_, admit_atom::value), 7u);
  const std::string refused = upload();
  const auto r = submit(refused);
  EXPECT_EQ(r.status, submit_reply::queue_full);
  EXPECT_EQ(r.retry_after, 7u);
  EXPECT_FALSE(known(refused));
  EXPECT_FALSE(test::exists(paths_for(dir_.path(), refused).record));
  end_job(handed_over().front(), true);
  wait_for(handed_over().front(), job_state::finished);
  EXPECT_EQ(ask<uint32_t>(registry_, admit_atom::value), 0u);
}

TEST_F(job_registry_test, a_finished_job_keeps_its_counts_and_loses_its_input) {
  start_registry();
  const std::string id = upload();
  const auto accepted = submit(id);
  EXPECT_EQ(accepted.record.id, id);
  EXPECT_GT(accepted.record.created_at, 0);
  end_job(id, true);
  const job_record r = wait_for(id, job_state::finished);
  EXPECT_EQ(r.rows, 3u);
  EXPECT_EQ(r.groups, 2u);
  EXPECT_EQ(r.bytes_done, r.bytes_total);
  EXPECT_LE(r.created_at, r.started_at);
  EXPECT_LE(r.started_at, r.finished_at);
  const job_paths p = paths_for(dir_.path(), id);
  EXPECT_FALSE(test::exists(p.input));
  EXPECT_TRUE(test::exists(p.result));
  job_record on_disk;
  auto read = parse_record(test::read_file(p.record));
  ASSERT_TRUE(read) << read.error().text();
  on_disk = *read;
  EXPECT_EQ(on_disk.state, job_state::finished);
  EXPECT_EQ(on_disk.groups, 2u);
}

TEST_F(job_registry_test, a_failed_job_keeps_its_error_and_no_result) {
  start_registry();
  const std::string id = upload();
  submit(id);
  end_job(id, false, "line 2: expected 3 fields, found 1");
  const job_record r = wait_for(id, job_state::failed);
  EXPECT_EQ(r.error, "line 2: expected 3 fields, found 1");
  EXPECT_FALSE(test::exists(paths_for(dir_.path(), id).result));
  EXPECT_FALSE(test::exists(paths_for(dir_.path(), id).input));
}

TEST_F(job_registry_test, a_started_job_shows_the_coordinators_progress) {
  start_registry();
  const std::string id = upload();
  submit(id);
  const job_record r = lookup(id);
  EXPECT_EQ(r.state, job_state::started);
  EXPECT_EQ(r.phase, "reading");
  EXPECT_EQ(r.rows, 7u);
  // 40 data bytes read, and the 10 header bytes.
  EXPECT_EQ(r.bytes_done, 50u);
  EXPECT_EQ(r.progress.reading, (phase_progress{40, 90}));
  EXPECT_EQ(r.progress.scanning, (phase_progress{90, 90}));
  job_query ten;
  ten.limit = 10;
  const job_list list = ask<job_list>(registry_, list_atom::value, ten);
  ASSERT_EQ(list.jobs.size(), 1u);
  EXPECT_EQ(list.jobs[0].bytes_done, 50u);
}

TEST_F(job_registry_test,
       the_list_pages_newest_first_by_a_cursor_even_through_equal_times) {
  // Nine ended jobs, three to a millisecond: the order is the creation time,
  // then the id, and pages of two cut it without a seam.
  const int64_t t = now_ms() - 1000;
  std::vector<job_record> made;
  for (int i = 0; i < 9; ++i) {
    job_record r;
    r.id = make_job_id();
    r.state = i % 2 == 0 ? job_state::canceled : job_state::failed;
    r.error = r.state == job_state::failed ? "line 2: bad" : "";
    r.file_name = (i % 3 == 0 ? "Week-" : "day-") + std::to_string(i) + ".csv";
    r.created_at = t + i / 3;
    r.finished_at = t + 500;
    const job_paths p = paths_for(dir_.path(), r.id);
    fs::create_directories(p.dir);
    ASSERT_TRUE(save_record(p, r));
    made.push_back(r);
  }
  std::sort(made.begin(), made.end(), [](const auto& a, const auto& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at
                                        : a.id < b.id;
  });
  start_registry();
  job_query q;
  q.limit = 2;
  std::vector<std::string> seen;
  for (int page = 0; page < 9; ++page) {
    const auto list = ask<job_list>(registry_, list_atom::value, q);
    EXPECT_EQ(list.total, 9u);
    for (const auto& r : list.jobs)
      seen.push_back(r.id);
    if (!list.more)
      break;
    ASSERT_EQ(list.jobs.size(), 2u);
    q.before_created = list.jobs.back().created_at;
    q.before_id = list.jobs.back().id;
  }
  std::vector<std::string> expected;
  for (const auto& r : made)
    expected.push_back(r.id);
  EXPECT_EQ(seen, expected);
  // Filters: the total is theirs, whatever the page.
  job_query failed;
  failed.limit = 1;
  failed.states = 1u << static_cast<unsigned>(job_state::failed);
  const auto f = ask<job_list>(registry_, list_atom::value, failed);
  EXPECT_EQ(f.total, 4u);
  ASSERT_EQ(f.jobs.size(), 1u);
  EXPECT_EQ(f.jobs[0].state, job_state::failed);
  EXPECT_TRUE(f.more);
  job_query week;
  week.text = "wEEk-";
  const auto w = ask<job_list>(registry_, list_atom::value, week);
  ASSERT_EQ(w.jobs.size(), 3u);
  EXPECT_EQ(w.total, 3u);
  EXPECT_FALSE(w.more);
  for (const auto& r : w.jobs)
    EXPECT_EQ(r.file_name.rfind("Week-", 0), 0u) << r.file_name;
}

TEST_F(job_registry_test,
       delete_cancels_waiting_and_running_jobs_and_removes_ended_ones) {
  start_registry(1);
  const std::string running = upload();
  const std::string waiting = upload();
  const std::string finished = upload();
  submit(finished);
  end_job(finished, true);
  wait_for(finished, job_state::finished);
  submit(running);
  submit(waiting);
  struct row {
    std::string id;
    bool canceled;
  };
  for (const auto& [id, canceled] :
       {row{waiting, true}, row{running, true}, row{finished, false}}) {
    const auto d = ask<job_deletion>(registry_, delete_atom::value, id);
    EXPECT_TRUE(d.found) << id;
    EXPECT_EQ(d.canceled, canceled) << id;
    EXPECT_EQ(known(id), canceled) << id;
    if (canceled)
      EXPECT_EQ(lookup(id).state, job_state::canceled);
    else
      EXPECT_FALSE(test::exists(paths_for(dir_.path(), id).dir));
  }
  // The waiting job was never handed over; the running one was canceled at
  // the coordinator.
  EXPECT_EQ(handed_over(), (std::vector<std::string>{finished, running}));
  EXPECT_FALSE(
      ask<job_deletion>(registry_, delete_atom::value, std::string("nope"))
          .found);
  // Ends are counted once each, the removed one's too; only the jobs that
  // ran have a duration.
  const job_end_stats ends =
      ask<registry_stats>(registry_, stats_atom::value).ends;
  EXPECT_EQ(ends.finished, 1u);
  EXPECT_EQ(ends.canceled, 2u);
  EXPECT_EQ(ends.failed, 0u);
  EXPECT_EQ(ends.finished_seconds.count, 1u);
  EXPECT_EQ(ends.canceled_seconds.count, 1u);
  EXPECT_EQ(ends.queue_wait.count, 2u) << "finished and running started";
}

TEST_F(job_registry_test,
       a_new_registry_on_the_same_directory_resumes_every_job) {
  start_registry(1);
  const std::string finished = upload();
  submit(finished);
  end_job(finished, true);
  wait_for(finished, job_state::finished);
  const std::string started = upload();
  const std::string queued = upload();
  submit(started);
  // Distinct creation times (in ms): the registry orders by them.
  const int64_t started_created = lookup(started).created_at;
  ASSERT_TRUE(
      test::eventually([&] { return now_ms() > started_created; }, 1s, 1ms));
  submit(queued);
  // An upload that never became a job, and a stray directory.
  const std::string orphan = upload();
  fs::create_directories(dir_.path() + "/jobs/not-a-job");
  stop_registry();
  // The old coordinator still has `started`: a fresh one, as after a crash.
  caf::anon_send_exit(coordinator_, caf::exit_reason::user_shutdown);
  coordinator_ = system_->spawn(fake_coordinator);

  start_registry(1);
  EXPECT_EQ(lookup(finished).state, job_state::finished);
  EXPECT_EQ(lookup(started).state, job_state::started);
  EXPECT_EQ(lookup(started).started_at > 0, true);
  EXPECT_EQ(lookup(queued).state, job_state::queued);
  EXPECT_EQ(handed_over(), std::vector<std::string>{started});
  EXPECT_FALSE(known(orphan));
  EXPECT_FALSE(test::exists(paths_for(dir_.path(), orphan).dir));
  EXPECT_FALSE(test::exists(dir_.path() + "/jobs/not-a-job"));
  end_job(started, true);
  wait_for(queued, job_state::started);
  EXPECT_EQ(handed_over(), (std::vector<std::string>{started, queued}));
}

TEST_F(job_registry_test, ended_jobs_expire_after_their_time_to_live) {
  start_registry(2, 10, 300ms);
  const std::string ok = upload();
  const std::string bad = upload();
  const std::string running = upload();
  submit(ok);
  submit(bad);
  end_job(ok, true);
  end_job(bad, false, "line 1: empty file");
  wait_for(ok, job_state::finished);
  wait_for(bad, job_state::failed);
  submit(running);
  // Removed by the sweep, not by a lookup: the files go first.
  EXPECT_TRUE(test::eventually([&] {
    return !test::exists(paths_for(dir_.path(), ok).dir) &&
           !test::exists(paths_for(dir_.path(), bad).dir);
  }));
  EXPECT_FALSE(known(ok));
  EXPECT_FALSE(known(bad));
  EXPECT_TRUE(known(running)); // a running job never expires
  const auto stats = ask<registry_stats>(registry_, stats_atom::value);
  EXPECT_EQ(stats.finished + stats.failed, 0u);
  EXPECT_EQ(stats.started, 1u);
  EXPECT_TRUE(stats.coordinator_answered);
  // The counters of ends do not drop as the jobs expire.
  EXPECT_EQ(stats.ends.finished, 1u);
  EXPECT_EQ(stats.ends.failed, 1u);
  EXPECT_EQ(stats.ends.canceled, 0u);
  EXPECT_EQ(stats.ends.failed_seconds.count, 1u);
  EXPECT_EQ(stats.ends.queue_wait.count, 3u);
}

// A registry that dies without a clean stop (exit_reason::kill: no exit
// handler runs), with a fresh coordinator, as after a crash.
void crash(caf::actor_system& system, caf::actor& registry,
           caf::actor& coordinator) {
  caf::scoped_actor self{system};
  self->send_exit(registry, caf::exit_reason::kill);
  self->wait_for(registry);
  registry = nullptr;
  caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
  coordinator = system.spawn(fake_coordinator);
}

TEST_F(job_registry_test,
       a_job_running_at_two_crashes_fails_and_the_next_job_runs) {
  start_registry(1);
  const std::string killer = upload();
  submit(killer);
  const std::string other = upload();
  submit(other);
  EXPECT_EQ(handed_over(), std::vector<std::string>{killer});
  job_record on_disk;
  auto read = read_record(paths_for(dir_.path(), killer).record);
  ASSERT_TRUE(read) << read.error().text();
  on_disk = *read;
  EXPECT_EQ(on_disk.attempts, 1u); // counted before the job was handed over
  EXPECT_GT(on_disk.peak_rss_mb, 0u);

  crash(*system_, registry_, coordinator_);
  start_registry(1);
  // Once: it runs again, first in line.
  EXPECT_EQ(handed_over(), std::vector<std::string>{killer});
  EXPECT_EQ(lookup(killer).attempts, 2u);

  crash(*system_, registry_, coordinator_);
  start_registry(1);
  const job_record r = lookup(killer);
  EXPECT_EQ(r.state, job_state::failed);
  EXPECT_EQ(r.error.rfind("the server stopped twice while this job ran; the "
                          "last time it used ",
                          0),
            0u)
      << r.error;
  EXPECT_EQ(r.error.substr(r.error.size() - 3), " MB") << r.error;
  EXPECT_FALSE(test::exists(paths_for(dir_.path(), killer).input));
  // The job behind it goes on.
  EXPECT_EQ(handed_over(), std::vector<std::string>{other});
  end_job(other, true);
  wait_for(other, job_state::finished);
  // And the failure is on disk: a later start says the same.
  crash(*system_, registry_, coordinator_);
  start_registry(1);
  EXPECT_EQ(lookup(killer).error, r.error);
}

TEST_F(job_registry_test, a_clean_stop_is_not_counted_as_an_attempt) {
  start_registry(1);
  const std::string id = upload();
  submit(id);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(handed_over(), std::vector<std::string>{id}) << i;
    stop_registry(); // exit_reason::user_shutdown, as serve on SIGTERM
    job_record on_disk;
    auto read = read_record(paths_for(dir_.path(), id).record);
    ASSERT_TRUE(read) << read.error().text();
    on_disk = *read;
    EXPECT_EQ(on_disk.attempts, 0u) << i;
    EXPECT_EQ(on_disk.state, job_state::started);
    caf::anon_send_exit(coordinator_, caf::exit_reason::user_shutdown);
    coordinator_ = system_->spawn(fake_coordinator);
    start_registry(1);
  }
  EXPECT_EQ(lookup(id).state, job_state::started);
  end_job(id, true);
  wait_for(id, job_state::finished);
}

TEST_F(job_registry_test, names_and_messages_with_any_bytes_are_kept_escaped) {
  start_registry(1);
  const std::string id = upload();
  const auto reply =
      ask<submit_reply>(registry_, submit_atom::value,
                        job_submission{id,
                                       "pl\xff"
                                       "ays\xfe"
                                       ".csv",
                                       100, bad_row_policy::skip});
  EXPECT_EQ(reply.record.file_name, "pl\\xFFays\\xFE.csv");
  job_result res;
  res.id = id;
  res.ok = true;
  res.bad_rows = 1;
  res.first_bad = {"line 2: bad count \"\xff\xfe\""};
  caf::anon_send(coordinator_, finished_atom::value, res);
  wait_for(id, job_state::finished);
  crash(*system_, registry_, coordinator_);
  start_registry(1);
  const job_record r = lookup(id);
  EXPECT_EQ(r.state, job_state::finished);
  EXPECT_EQ(r.file_name, "pl\\xFFays\\xFE.csv");
  EXPECT_EQ(r.first_bad,
            std::vector<std::string>{"line 2: bad count \"\\xFF\\xFE\""});
  EXPECT_TRUE(test::exists(paths_for(dir_.path(), id).result));
}

TEST_F(job_registry_test, a_state_that_cannot_be_saved_is_said_so_and_kept) {
  start_registry(1, 10, 2s); // a sweep every 500 ms
  const std::string first = upload();
  const std::string second = upload();
  submit(first);
  submit(second);
  const std::string blocker = block_saves(second);
  end_job(first, true);
  // The second cannot count its start on disk: it does not run, and says
  // why (without the server's paths); its upload stays.
  const job_record r = wait_for(second, job_state::failed);
  EXPECT_EQ(r.error, "the job's state could not be saved: Is a directory");
  EXPECT_EQ(handed_over(), std::vector<std::string>{first});
  EXPECT_TRUE(test::exists(paths_for(dir_.path(), second).input));
  job_record on_disk;
  auto read = read_record(paths_for(dir_.path(), second).record);
  ASSERT_TRUE(read) << read.error().text();
  on_disk = *read;
  EXPECT_EQ(on_disk.state, job_state::queued);
  // Once saving works again, the sweep saves it and the upload goes.
  fs::remove(blocker);
  EXPECT_TRUE(test::eventually(
      [&] {
        auto again = read_record(paths_for(dir_.path(), second).record);
        if (again)
          on_disk = *again;
        return again && on_disk.state == job_state::failed;
      },
      5s, 5ms));
  EXPECT_EQ(on_disk.error, r.error);
  EXPECT_TRUE(test::eventually(
      [&] { return !test::exists(paths_for(dir_.path(), second).input); }, 5s,
      5ms));
}

TEST_F(job_registry_test, an_end_that_cannot_be_saved_keeps_the_upload) {
  start_registry(1);
  const std::string id = upload();
  submit(id);
  EXPECT_EQ(handed_over(), std::vector<std::string>{id});
  block_saves(id);
  end_job(id, false, "line 2: bad");
  wait_for(id, job_state::failed); // in memory
  EXPECT_TRUE(test::exists(paths_for(dir_.path(), id).input));
  // A crash before it could be saved: the job runs again, not "lost".
  fs::remove(paths_for(dir_.path(), id).record + ".tmp");
  crash(*system_, registry_, coordinator_);
  start_registry(1);
  EXPECT_EQ(lookup(id).state, job_state::started);
  EXPECT_EQ(handed_over(), std::vector<std::string>{id});
}

// What a job spilled to disk when the server was killed is removed at the
// next start; a file in its spill directory that spilling did not write
// stays (it is not ours to delete).
TEST_F(job_registry_test, spill_files_of_a_killed_server_go_at_the_next_start) {
  start_registry(1);
  const std::string id = upload();
  submit(id);
  EXPECT_EQ(handed_over(), std::vector<std::string>{id});
  crash(*system_, registry_, coordinator_);
  const job_paths p = paths_for(dir_.path(), id);
  fs::create_directories(p.spill);
  std::ofstream(p.spill + "/w7-0-p03.pca") << "spilled";
  std::ofstream(p.spill + "/piece-p03") << "a piece";
  start_registry(1);
  (void)handed_over();
  EXPECT_FALSE(test::exists(p.spill));
  crash(*system_, registry_, coordinator_);
  fs::create_directories(p.spill);
  std::ofstream(p.spill + "/w7-0-p03.pca") << "spilled";
  std::ofstream(p.spill + "/notes") << "someone else's";
  start_registry(1);
  (void)handed_over();
  EXPECT_FALSE(test::exists(p.spill + "/w7-0-p03.pca"));
  EXPECT_TRUE(test::exists(p.spill + "/notes"));
}

// -- the job store ------------------------------------------------------------

TEST(job_store, a_record_round_trips_through_its_json) {
  job_record r;
  r.id = make_job_id();
  r.state = job_state::failed;
  r.file_name = "pl\"ays\n.csv";
  r.on_bad_rows = bad_row_policy::skip;
  r.bytes_total = uint64_t{1} << 40;
  r.bytes_done = 12;
  r.rows = 3;
  r.groups = 4;
  r.bad_rows = 5;
  r.first_bad = {"line 3: x", "line 9: \"y\""};
  r.error = "line 2: overflow";
  r.created_at = 1700000000000;
  r.started_at = 1700000000001;
  r.finished_at = 1700000000002;
  r.scan_seconds = 0.25;
  r.read_seconds = 1.5;
  r.merge_seconds = 0.125;
  r.write_seconds = 2;
  job_record back;
  auto read = parse_record(record_to_json(r));
  ASSERT_TRUE(read) << read.error().text();
  back = *read;
  EXPECT_EQ(record_to_json(back), record_to_json(r));
  EXPECT_EQ(back.first_bad, r.first_bad);
  EXPECT_EQ(back.state, job_state::failed);
  EXPECT_EQ(back.read_seconds, 1.5);
  EXPECT_EQ(back.write_seconds, 2);
}

TEST(job_store, a_torn_or_foreign_record_does_not_parse) {
  const std::string good = record_to_json(job_record{});
  for (const std::string& text :
       {good.substr(0, good.size() / 2), std::string(""), std::string("[]"),
        std::string("{\"id\": 1}"), [&] {
          std::string s = good;
          s.replace(s.find("queued"), 6, "paused");
          return s;
        }()}) {
    const auto parsed = parse_record(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_FALSE(parsed.error().text().empty());
  }
}

// What cannot be saved or removed comes back in parts: the action, the
// path, errno; the log line is made of them.
TEST(job_store, a_failure_names_the_file_and_its_errno) {
  temp_dir dir;
  const job_paths p = paths_for(dir.path(), make_job_id()); // no directory
  const auto saved = save_record(p, job_record{});
  ASSERT_FALSE(saved);
  EXPECT_EQ(saved.error().path, p.record + ".tmp");
  EXPECT_EQ(saved.error().code, ENOENT);
  EXPECT_EQ(saved.error().text(),
            "cannot create " + p.record + ".tmp: No such file or directory");
  EXPECT_TRUE(remove_file(p.record)); // nothing there: no failure
  EXPECT_TRUE(remove_job_files(p));
  const auto synced = sync_dir(p.dir);
  ASSERT_FALSE(synced);
  EXPECT_EQ(synced.error().text(),
            "cannot open " + p.dir + ": No such file or directory");
}

// What start-up says beside the job's directory stays "no job.json",
// "cannot read job.json: ..."; the full path and errno travel along.
TEST(job_store, a_record_that_cannot_be_read_says_so_with_its_path) {
  temp_dir dir;
  const job_paths p = paths_for(dir.path(), make_job_id());
  const auto missing = read_record(p.record);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().path, p.record);
  EXPECT_EQ(missing.error().text(failure::paths::file_names), "no job.json");
  fs::create_directories(p.record); // a directory where the file should be
  const auto unreadable = read_record(p.record);
  ASSERT_FALSE(unreadable);
  EXPECT_EQ(unreadable.error().code, EISDIR);
  EXPECT_EQ(unreadable.error().text(failure::paths::file_names),
            "cannot read job.json: Is a directory");
  EXPECT_EQ(unreadable.error().text(),
            "cannot read " + p.record + ": Is a directory");
}

TEST(job_store, only_canonical_random_uuids_are_job_ids) {
  struct row {
    std::string text;
    bool is_id;
  };
  const std::vector<row> rows = {
      {"0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f", true},
      {"0b0c4e3a-1f2b-4c5d-bb6f-7a8b9c0d1e2f", true},
      {"0B0C4E3A-1F2B-4C5D-8E6F-7A8B9C0D1E2F", false}, // not canonical
      {"0b0c4e3a-1f2b-1c5d-8e6f-7a8b9c0d1e2f", false}, // version 1
      {"0b0c4e3a-1f2b-4c5d-ce6f-7a8b9c0d1e2f", false}, // another variant
      {"0b0c4e3a1f2b4c5d8e6f7a8b9c0d1e2f", false},
      {"0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2", false},
      {"../../../../../../../../../etc/pass", false},
      {"", false},
  };
  for (const auto& [text, expected] : rows)
    EXPECT_EQ(is_job_id(text), expected) << text;
  for (int i = 0; i < 100; ++i)
    EXPECT_TRUE(is_job_id(make_job_id()));
}

TEST(job_store, saving_a_record_replaces_it_whole_and_leaves_no_temporary) {
  temp_dir dir;
  const job_paths p = paths_for(dir.path(), make_job_id());
  fs::create_directories(p.dir);
  job_record r;
  for (auto state :
       {job_state::queued, job_state::started, job_state::finished}) {
    r.state = state;
    const auto saved = save_record(p, r);
    ASSERT_TRUE(saved) << saved.error().text();
  }
  EXPECT_EQ(test::read_file(p.record), record_to_json(r));
  EXPECT_FALSE(test::exists(p.record + ".tmp"));
}

TEST(job_store, any_bytes_give_valid_json_and_new_fields_round_trip) {
  job_record r;
  r.id = make_job_id();
  r.state = job_state::started;
  r.file_name = "a\xff.csv";
  r.error = "line 3: bad count \"\xff\xfe\"";
  r.first_bad = {"line 2: \xC3"};
  r.attempts = 2;
  r.peak_rss_mb = 1234;
  r.note = "recovered";
  const std::string text = record_to_json(r);
  // Boost.JSON's strict parser: what any other reader would say.
  boost::json::error_code ec;
  (void)boost::json::parse(text, ec);
  EXPECT_FALSE(ec) << ec.message() << ": " << text;
  job_record back;
  auto read = parse_record(text);
  ASSERT_TRUE(read) << read.error().text();
  back = *read;
  EXPECT_EQ(back.file_name, "a\\xFF.csv");
  EXPECT_EQ(back.error, "line 3: bad count \"\\xFF\\xFE\"");
  EXPECT_EQ(back.first_bad, std::vector<std::string>{"line 2: \\xC3"});
  EXPECT_EQ(back.attempts, 2u);
  EXPECT_EQ(back.peak_rss_mb, 1234u);
  EXPECT_EQ(back.note, "recovered");
  EXPECT_EQ(record_to_json(back), text);
  // A record an older server wrote with the raw bytes still reads.
  std::string old = text;
  old.replace(old.find("a\\\\xFF.csv"), 10, "a\xff.csv");
  read = parse_record(old);
  ASSERT_TRUE(read) << read.error().text();
  back = *read;
  EXPECT_EQ(back.file_name, "a\\xFF.csv");
  // And one without the later fields.
  boost::json::object o = boost::json::parse(text).as_object();
  o.erase("attempts");
  o.erase("peak_rss_mb");
  o.erase("note");
  read = parse_record(boost::json::serialize(o));
  ASSERT_TRUE(read) << read.error().text();
  back = *read;
  EXPECT_EQ(back.attempts, 0u);
}

TEST(job_store, a_parse_error_says_what_and_where) {
  const std::string good = record_to_json(job_record{});
  std::string error;
  const auto fails = [&](std::string_view text) {
    const auto parsed = parse_record(text);
    error = parsed ? std::string() : parsed.error().text();
    return !parsed;
  };
  EXPECT_TRUE(fails(good.substr(0, 40)));
  EXPECT_NE(error.find("of 40"), std::string::npos) << error;
  EXPECT_TRUE(fails("{\"id\": \"x\",, }"));
  EXPECT_NE(error.find("at byte"), std::string::npos) << error;
  boost::json::object o = boost::json::parse(good).as_object();
  o.erase("rows");
  EXPECT_TRUE(fails(boost::json::serialize(o)));
  EXPECT_NE(error.find("\"rows\""), std::string::npos) << error;
  EXPECT_TRUE(fails(good + "garbage"));
  EXPECT_NE(error.find("text after the record"), std::string::npos) << error;
  EXPECT_TRUE(fails(""));
  EXPECT_EQ(error, "empty file");
}

// A job directory as the registry leaves it.
job_paths make_job(const std::string& data, job_state state, bool with_result) {
  job_record r;
  r.id = make_job_id();
  r.state = state;
  r.created_at = now_ms();
  const job_paths p = paths_for(data, r.id);
  fs::create_directories(p.dir);
  const auto saved = save_record(p, r);
  EXPECT_TRUE(saved) << saved.error().text();
  if (with_result)
    std::ofstream(p.result) << "Song,Date,Total Number of Plays for Date\n";
  return p;
}

TEST(job_store, what_cannot_be_read_is_set_aside_never_removed) {
  temp_dir dir;
  const std::string data = dir.path();
  const job_paths good = make_job(data, job_state::finished, true);
  // Truncated, no result: set aside whole.
  const job_paths torn = make_job(data, job_state::started, false);
  std::ofstream(torn.input) << "Song,Date,Number of Plays\n";
  const std::string torn_text = test::read_file(torn.record);
  std::ofstream(torn.record, std::ios::trunc) << torn_text.substr(0, 30);
  // Garbage beside a complete result: the result stays, rebuilt record.
  const job_paths garbage = make_job(data, job_state::finished, true);
  std::ofstream(garbage.record, std::ios::trunc) << "\x01\x02 garbage";
  // No job.json but a result: someone removed it; recovered as well.
  const job_paths bare = make_job(data, job_state::finished, true);
  fs::remove(bare.record);
  // The server's own: an interrupted upload, a half-removed job.
  const std::string upload_id = make_job_id();
  const job_paths upload = paths_for(data, upload_id);
  fs::create_directories(upload.dir);
  std::ofstream(upload.dir + "/body.tmp") << "part";
  fs::create_directories(jobs_dir(data) + "/" + make_job_id() + ".removing");
  // Not the server's: a stray file and directory, an upload-like directory
  // with something else in it.
  std::ofstream(jobs_dir(data) + "/notes.txt") << "mine";
  const job_paths odd = paths_for(data, make_job_id());
  fs::create_directories(odd.dir);
  std::ofstream(odd.input) << "x";
  std::ofstream(odd.dir + "/photo.jpg") << "y";
  // A name already taken in damaged/.
  fs::create_directories(damaged_dir(data) + "/" +
                         fs::path(torn.dir).filename().string());

  auto loaded = load_jobs(data);
  ASSERT_TRUE(loaded) << loaded.error().text();
  const stored_jobs& out = *loaded;
  std::map<std::string, job_record> by_id;
  for (const auto& r : out.records)
    by_id[r.id] = r;
  const auto id_of = [](const job_paths& p) {
    return fs::path(p.dir).filename().string();
  };
  EXPECT_EQ(by_id.size(), 3u);
  EXPECT_EQ(by_id.count(id_of(good)), 1u);
  for (const job_paths* p : {&garbage, &bare}) {
    ASSERT_EQ(by_id.count(id_of(*p)), 1u);
    const job_record& r = by_id[id_of(*p)];
    EXPECT_EQ(r.state, job_state::finished);
    EXPECT_NE(r.note.find("recovered"), std::string::npos) << r.note;
    EXPECT_GT(r.finished_at, 0);
    EXPECT_TRUE(test::exists(p->result));
    const auto saved = read_record(p->record);
    EXPECT_TRUE(saved) << saved.error().text();
  }
  const std::string damaged = damaged_dir(data);
  EXPECT_EQ(test::read_file(damaged + "/" + id_of(garbage) + "/job.json"),
            "\x01\x02 garbage");
  EXPECT_EQ(test::read_file(damaged + "/" + id_of(torn) + ".1/job.json"),
            torn_text.substr(0, 30));
  EXPECT_TRUE(test::exists(damaged + "/" + id_of(torn) + ".1/input.csv"));
  EXPECT_TRUE(test::exists(damaged + "/notes.txt"));
  EXPECT_TRUE(test::exists(damaged + "/" + id_of(odd) + "/photo.jpg"));
  EXPECT_FALSE(test::exists(upload.dir));
  // damaged/: the torn one and its older namesake, garbage, bare, notes,
  // odd.
  EXPECT_EQ(out.damaged_total, 6u);
  EXPECT_EQ(out.damaged.size(), 5u);
  EXPECT_EQ(out.removed.size(), 2u);
  for (const auto& d : out.damaged)
    EXPECT_FALSE(d.moved_to.empty()) << d.path << ": " << d.error;
  // In jobs/: the three jobs, nothing else.
  size_t left = 0;
  for (const auto& e : fs::directory_iterator(jobs_dir(data))) {
    (void)e;
    ++left;
  }
  EXPECT_EQ(left, 3u);
  // A second start finds nothing more to do.
  auto reloaded = load_jobs(data);
  ASSERT_TRUE(reloaded) << reloaded.error().text();
  const stored_jobs& again = *reloaded;
  EXPECT_EQ(again.records.size(), 3u);
  EXPECT_TRUE(again.damaged.empty());
  EXPECT_EQ(again.damaged_total, 6u);
}

// A server killed while an upload was counted as it arrived (its job had
// started: it has a `spill` directory, but no job.json yet), or while an
// upload was being decoded whole: an interrupted upload, removed. A spill
// directory holding something spilling did not write keeps it (set aside).
TEST(job_store, an_upload_counted_or_decoded_when_the_server_died_is_removed) {
  temp_dir dir;
  const std::string data = dir.path();
  const job_paths counted = paths_for(data, make_job_id());
  fs::create_directories(counted.spill);
  std::ofstream(counted.input) << "Song,Date,Number of Plays\nA,2020-01-01,1\n";
  std::ofstream(counted.spill + "/w7-0-p03.pca") << "spilled";
  const job_paths started = paths_for(data, make_job_id());
  fs::create_directories(started.spill); // empty: nothing spilled yet
  std::ofstream(started.input) << "Song,Date,Number";
  const job_paths decoding = paths_for(data, make_job_id());
  fs::create_directories(decoding.dir);
  std::ofstream(decoding.input) << "\x1f\x8b";
  std::ofstream(decoding.input + ".decoded.tmp") << "Song,Date";
  const job_paths form = paths_for(data, make_job_id());
  fs::create_directories(form.dir);
  std::ofstream(form.dir + "/body.tmp") << "\x1f\x8b";
  std::ofstream(form.input + ".body.tmp") << "--b\r\n";
  const job_paths odd = paths_for(data, make_job_id());
  fs::create_directories(odd.spill);
  std::ofstream(odd.input) << "x";
  std::ofstream(odd.spill + "/notes") << "someone else's";

  auto loaded = load_jobs(data);
  ASSERT_TRUE(loaded) << loaded.error().text();
  EXPECT_TRUE(loaded->records.empty());
  for (const job_paths* p : {&counted, &started, &decoding, &form}) {
    EXPECT_FALSE(test::exists(p->dir)) << p->dir;
  }
  EXPECT_EQ(loaded->removed.size(), 4u);
  ASSERT_EQ(loaded->damaged.size(), 1u);
  EXPECT_EQ(loaded->damaged[0].path, odd.dir);
  const std::string aside =
      damaged_dir(data) + "/" + fs::path(odd.dir).filename().string();
  EXPECT_TRUE(test::exists(aside + "/spill/notes"));
}

} // namespace
} // namespace playcount
