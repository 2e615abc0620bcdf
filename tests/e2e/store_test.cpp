// The data directory against what the server did not write itself or could
// not finish writing (issue 10, items 2, 3 and 8): names and values with
// bytes that are not UTF-8, damaged job.json files, the data-directory lock,
// and a job that takes the server down at each start. Real server processes
// on loopback, restarted on the same data directory.

#include "tests/support/eventually.hpp"
#include "tests/support/server_fixture.hpp"

#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace playcount {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using test::json_of;
using test::str;

const std::string header = "Song,Date,Number of Plays\n";
const std::string result_header = "Song,Date,Total Number of Plays for Date\n";

class store_test : public test::served_test {
protected:
  /// A form upload; the job id (a test failure without a 202).
  std::string upload(uint16_t port, const std::string& csv,
                     const std::string& name, bool skip = false) {
    std::vector<test::form_part> parts;
    if (skip)
      parts.push_back({"on_bad_rows", "skip", ""});
    parts.push_back({"file", csv, name});
    const auto r = test::upload_form(port, parts);
    EXPECT_EQ(r.status, 202) << r.raw.substr(0, 400);
    return r.status == 202 ? str(json_of(r), "jobId") : "";
  }

  std::string result(uint16_t port, const std::string& id) {
    const auto r = test::http_get(port, "/jobs/" + id + "/result/");
    return std::to_string(r.status) + " " + r.body;
  }

  [[nodiscard]] std::string damaged() const { return data() + "/damaged"; }
};

TEST_F(store_test, bytes_that_are_not_utf8_survive_a_restart_escaped) {
  const std::string csv = header + "Umbr\xff"
                                   "ella,2020-01-01,3\n"
                                   "b,2020-01-01,\xff\xfe\n"
                                   "Umbr\xff"
                                   "ella,2020-01-01,4\n";
  const std::string expected = result_header + "Umbr\xff"
                                               "ella,2020-01-01,7\n";
  std::string id;
  {
    auto s = start();
    id = upload(s->port(), csv,
                "pl\xff"
                "ays.csv",
                true);
    const auto o = wait_for(s->port(), id, "finished");
    EXPECT_EQ(str(o, "fileName"), "pl\\xFFays.csv");
    EXPECT_EQ(json::serialize(o.at("firstBadRows")).find("\\\\xFF\\\\xFE") !=
                  std::string::npos,
              true)
        << json::serialize(o);
    EXPECT_EQ(result(s->port(), id), "200 " + expected);
    s->kill9();
  }
  // job.json itself is JSON any strict reader takes.
  json::error_code ec;
  (void)json::parse(test::read_file(paths_for(data(), id).record), ec);
  EXPECT_FALSE(ec) << ec.message();
  auto s = start();
  EXPECT_EQ(result(s->port(), id), "200 " + expected); // the bytes as they were
  const auto o = job(s->port(), id); // json_of fails on invalid JSON
  EXPECT_EQ(str(o, "state"), "finished");
  EXPECT_EQ(str(o, "fileName"), "pl\\xFFays.csv");
  ASSERT_EQ(o.at("firstBadRows").as_array().size(), 1u);
  EXPECT_NE(std::string(o.at("firstBadRows").as_array()[0].as_string())
                .find("\\xFF\\xFE"),
            std::string::npos)
      << json::serialize(o);
  const auto list = test::http_get(s->port(), "/jobs/");
  EXPECT_FALSE(json::parse(list.body, ec).is_null());
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_FALSE(test::exists(damaged()));
  EXPECT_EQ(s->log().find("set aside"), std::string::npos) << s->log();
}

TEST_F(store_test, a_damaged_job_json_is_set_aside_and_the_rest_keeps_working) {
  const std::string csv = header + "a,2020-01-01,2\n";
  const std::string expected = result_header + "a,2020-01-01,2\n";
  std::string torn, garbage, intact, gone;
  {
    auto s = start();
    for (std::string* id : {&torn, &garbage, &intact, &gone}) {
      *id = upload(s->port(), csv, "p.csv");
      wait_for(s->port(), *id, "finished");
    }
    s->kill9();
  }
  // Truncated beside a complete result; garbage beside one; garbage with
  // no result at all.
  const std::string torn_text = test::read_file(paths_for(data(), torn).record);
  std::ofstream(paths_for(data(), torn).record, std::ios::trunc)
      << torn_text.substr(0, torn_text.size() / 2);
  std::ofstream(paths_for(data(), garbage).record, std::ios::trunc)
      << "\x7f"
         "ELF garbage";
  std::ofstream(paths_for(data(), gone).record, std::ios::trunc) << "{\"id\":";
  fs::remove(paths_for(data(), gone).result);

  auto s = start();
  const uint16_t port = s->port();
  // Complete results are still served, under rebuilt records.
  for (const auto& id : {torn, garbage, intact})
    EXPECT_EQ(result(port, id), "200 " + expected) << id;
  EXPECT_EQ(str(job(port, torn), "state"), "finished");
  // Without a result the job is not known, but nothing was deleted.
  EXPECT_EQ(test::http_get(port, "/jobs/" + gone + "/result/").status, 404);
  EXPECT_EQ(test::read_file(damaged() + "/" + gone + "/job.json"), "{\"id\":");
  EXPECT_EQ(test::read_file(damaged() + "/" + torn + "/job.json"),
            torn_text.substr(0, torn_text.size() / 2));
  EXPECT_EQ(test::read_file(damaged() + "/" + garbage + "/job.json"),
            "\x7f"
            "ELF garbage");
  // The log says what and why, at warning level.
  const std::string log = s->log();
  for (const auto& id : {torn, garbage, gone}) {
    const size_t at = log.find("jobs/" + id);
    ASSERT_NE(at, std::string::npos) << id << "\n" << log;
    const std::string line = log.substr(at, log.find('\n', at) - at);
    EXPECT_NE(line.find("could not be read"), std::string::npos) << line;
    EXPECT_NE(line.find("set aside in"), std::string::npos) << line;
    const size_t begin = log.rfind('\n', at) + 1;
    EXPECT_NE(log.substr(begin, at - begin).find("warn"), std::string::npos)
        << line;
  }
  EXPECT_NE(log.find("not JSON"), std::string::npos) << log;
  EXPECT_NE(log.find("3 damaged job directories are set aside"),
            std::string::npos)
      << log;
  EXPECT_EQ(test::admin_stats(port)
                .at("registry")
                .at("damagedJobDirs")
                .to_number<uint64_t>(),
            3u);
  // New uploads work; a restart finds nothing more to set aside.
  const std::string fresh = upload(port, csv, "q.csv");
  wait_for(port, fresh, "finished");
  EXPECT_EQ(result(port, fresh), "200 " + expected);
  s->kill9();
  auto again = start();
  for (const auto& id : {torn, garbage, intact, fresh})
    EXPECT_EQ(result(again->port(), id), "200 " + expected) << id;
  EXPECT_EQ(again->log().find("could not be read"), std::string::npos)
      << again->log();
}

TEST_F(store_test, the_lock_holds_when_dot_lock_is_deleted) {
  auto s = start();
  std::error_code ignored;
  fs::remove(data() + "/.lock", ignored); // what an older server used
  const auto second = test::run(
      {binary, "serve", "--port", "0", "--no-cluster", "--data-dir", data()});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("is in use by another server"), std::string::npos)
      << second.err;
  EXPECT_EQ(test::http_get(s->port(), "/healthz").status, 200);
}

TEST_F(store_test, a_data_directory_that_cannot_be_used_is_said_so) {
  // A file where the directory should be.
  const std::string file = dir_.write("not-a-dir", "x");
  auto r = test::run(
      {binary, "serve", "--port", "0", "--no-cluster", "--data-dir", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("it is not a directory"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("in use"), std::string::npos) << r.err;

  // A directory the server's user may not read: as root (who reads any),
  // run the server as nobody.
  const std::string locked = dir_.file("locked");
  fs::create_directories(locked);
  ASSERT_EQ(::chmod(locked.c_str(), 0), 0);
  std::vector<std::string> command = {
      binary, "serve", "--port", "0", "--no-cluster", "--data-dir", locked};
  if (::geteuid() == 0) {
    if (::access("/usr/bin/setpriv", X_OK) != 0)
      GTEST_SKIP() << "root reads any directory, and setpriv (to run the "
                      "server as nobody) is missing";
    // nobody must reach the directory (temp dirs are 0700) and the binary.
    ::chmod(dir_.path().c_str(), 0711);
    command.insert(command.begin(), {"/usr/bin/setpriv", "--reuid=65534",
                                     "--regid=65534", "--clear-groups"});
  }
  r = test::run(command);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot open the data directory " + locked +
                       ": Permission denied"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("in use"), std::string::npos) << r.err;
}

TEST_F(store_test, a_job_that_kills_the_server_twice_fails_and_the_next_runs) {
  const std::string killer_csv = header + "k,2020-01-01,1\n";
  const std::string other_csv = header + "o,2020-01-01,5\n";
  std::string killer, other;
  int n = 0;
  const auto server = [&](bool hook, std::vector<std::string> args) {
    args.insert(args.end(), {"--data-dir", data(), "--max-running-jobs", "1"});
    std::vector<std::string> env;
    if (hook)
      env.push_back("PLAYCOUNT_TEST_KILL_ON_FILE=killer.csv");
    return std::make_unique<test::server_process>(
        binary, args, dir_.file("store-" + std::to_string(++n) + ".log"), env);
  };
  {
    // No workers: the killer is started (handed over) and waits; the other
    // queues behind it. SIGTERM is a clean stop: no attempt is counted.
    auto s = server(false, {"--workers", "0"});
    ASSERT_NE(s->port(), 0) << s->log();
    killer = upload(s->port(), killer_csv, "killer.csv");
    wait_for(s->port(), killer, "started");
    other = upload(s->port(), other_csv, "other.csv");
    s->stop();
    job_record r;
    auto read = read_record(paths_for(data(), killer).record);
    ASSERT_TRUE(read) << read.error().text();
    r = *read;
    EXPECT_EQ(r.state, job_state::started);
    EXPECT_EQ(r.attempts, 0u) << "a clean stop was counted as a crash";
  }
  // Twice: the killer runs first and takes the server down.
  for (uint32_t attempt = 1; attempt <= 2; ++attempt) {
    auto s = server(true, {"--workers", "1"});
    EXPECT_TRUE(s->process().wait_exit(20s)) << "the test hook did not kill";
    job_record r;
    auto read = read_record(paths_for(data(), killer).record);
    ASSERT_TRUE(read) << read.error().text();
    r = *read;
    EXPECT_EQ(r.state, job_state::started);
    EXPECT_EQ(r.attempts, attempt);
    EXPECT_GT(r.peak_rss_mb, 0u);
  }
  // The third start fails it, with the reason, and runs the other.
  auto s = server(true, {"--workers", "1"});
  ASSERT_NE(s->port(), 0) << s->log();
  const auto o = wait_for(s->port(), killer, "failed");
  const std::string error = str(o, "error");
  EXPECT_EQ(error.rfind("the server stopped twice while this job ran; the last "
                        "time it used ",
                        0),
            0u)
      << error;
  EXPECT_EQ(error.substr(error.size() - 3), " MB") << error;
  EXPECT_EQ(test::http_get(s->port(), "/jobs/" + killer + "/result/").body,
            "Job: failed: " + error);
  wait_for(s->port(), other, "finished");
  EXPECT_EQ(result(s->port(), other),
            "200 " + result_header + "o,2020-01-01,5\n");
  EXPECT_TRUE(s->process().running());
  EXPECT_NE(
      s->log().find("job " + killer + " failed: the server stopped twice"),
      std::string::npos)
      << s->log();
}

// A server killed after the finisher renamed result.csv (with summary.json
// and songs.idx) into place but before job.json said finished leaves a
// "started" record beside a whole result. When the next start fails that
// job (its last attempt, or its upload gone), the result goes with it: a
// failed job leaves no result file that could be taken for a real one.
TEST_F(store_test, a_job_failed_at_a_start_keeps_no_result_of_an_earlier_run) {
  std::string last_attempt, no_upload;
  {
    auto s = start();
    last_attempt = upload(s->port(), header + "a,2020-01-01,2\n", "a.csv");
    no_upload = upload(s->port(), header + "b,2020-01-01,3\n", "b.csv");
    wait_for(s->port(), last_attempt, "finished");
    wait_for(s->port(), no_upload, "finished");
    s->kill9();
  }
  // What the kill in that window leaves: the record as it was while the
  // job ran (the second with its upload gone since, by whatever means).
  const auto as_started = [&](const std::string& id, uint32_t attempts) {
    const job_paths p = paths_for(data(), id);
    auto read = read_record(p.record);
    ASSERT_TRUE(read) << read.error().text();
    job_record r = *read;
    r.state = job_state::started;
    r.finished_at = 0;
    r.attempts = attempts;
    ASSERT_TRUE(save_record(p, r));
    for (const auto& file : {p.result, p.summary, p.index})
      ASSERT_TRUE(test::exists(file)) << file;
  };
  as_started(last_attempt, 2); // --max-attempts is 2 by default
  as_started(no_upload, 1);
  ASSERT_FALSE(test::exists(paths_for(data(), no_upload).input));
  auto s = start();
  for (const auto& id : {last_attempt, no_upload}) {
    EXPECT_EQ(str(job(s->port(), id), "state"), "failed") << id;
    const job_paths p = paths_for(data(), id);
    for (const auto& file : {p.result, p.summary, p.index})
      EXPECT_FALSE(test::exists(file)) << file << " of a failed job is left";
  }
  EXPECT_EQ(result(s->port(), no_upload).substr(0, 16), "422 Job: failed:");
}

// A job whose input cannot be read when it runs again fails with the
// file's name, not where the server keeps it (the planner named the whole
// path: "cannot read DATA/jobs/<id>/input.csv: ..."); the log has it whole.
TEST_F(store_test, a_job_error_names_its_files_not_the_data_directory) {
  std::string id;
  {
    // No workers: the job is started and waits for one.
    auto s = start({"--workers", "0"});
    id = upload(s->port(), header + "a,2020-01-01,2\n", "a.csv");
    wait_for(s->port(), id, "started");
    s->kill9();
  }
  // Its input is no file any more when it runs again.
  const job_paths p = paths_for(data(), id);
  ASSERT_TRUE(fs::remove(p.input));
  ASSERT_TRUE(fs::create_directory(p.input));
  auto s = start({"--workers", "1"});
  const auto o = wait_for(s->port(), id, "failed");
  const std::string error = str(o, "error");
  EXPECT_EQ(error, "cannot read input.csv: not a regular file");
  EXPECT_EQ(error.find(data()), std::string::npos) << error;
  EXPECT_EQ(result(s->port(), id), "422 Job: failed: " + error);
  EXPECT_NE(s->log().find("failed after"), std::string::npos) << s->log();
  EXPECT_NE(s->log().find(p.input + ": not a regular file"), std::string::npos)
      << s->log();
}

/// A cgroup (v1) memory controller group of this test's own, removed at the
/// end; ok() false (with why) where there is none or it may not be made.
class memory_cgroup {
public:
  explicit memory_cgroup(const std::string& limit) {
    const std::string root = "/sys/fs/cgroup/memory";
    if (::geteuid() != 0) {
      why_ = "not root";
      return;
    }
    if (!test::exists(root + "/memory.limit_in_bytes")) {
      why_ = "no cgroup v1 memory controller at " + root;
      return;
    }
    path_ = root + "/playcount-test-" + std::to_string(::getpid());
    std::error_code ec;
    fs::create_directories(path_, ec);
    if (ec) {
      why_ = "cannot create " + path_ + ": " + ec.message();
      path_.clear();
      return;
    }
    // No swap to escape to: the kernel's OOM killer acts at the limit.
    if (!write("memory.limit_in_bytes", limit) ||
        (test::exists(path_ + "/memory.memsw.limit_in_bytes") &&
         !write("memory.memsw.limit_in_bytes", limit)))
      why_ = "cannot set the limit in " + path_;
  }
  memory_cgroup(const memory_cgroup&) = delete;
  memory_cgroup& operator=(const memory_cgroup&) = delete;
  ~memory_cgroup() {
    if (!path_.empty())
      ::rmdir(path_.c_str()); // empty once its processes are gone
  }
  [[nodiscard]] bool ok() const { return !path_.empty() && why_.empty(); }
  [[nodiscard]] const std::string& why_not() const { return why_; }
  [[nodiscard]] const std::string& path() const { return path_; }

private:
  bool write(const std::string& file, const std::string& value) {
    std::ofstream out(path_ + "/" + file);
    out << value;
    out.flush();
    return static_cast<bool>(out);
  }
  std::string path_;
  std::string why_;
};

TEST_F(store_test, a_job_the_oom_killer_stops_twice_fails_and_the_next_runs) {
  memory_cgroup cgroup("160M");
  if (!cgroup.ok())
    GTEST_SKIP() << "a memory cgroup is needed (" << cgroup.why_not()
                 << "); the test hook variant above covers the rule";
  // 1.5 M groups: far more than 160 MB of hash table (the server has no
  // memory budget of its own: issue 8).
  std::string big = header;
  for (int i = 0; i < 1500000; ++i)
    big += "song number " + std::to_string(i) + ",2020-01-" +
           std::to_string(10 + i % 18) + "," + std::to_string(i % 7) + "\n";
  const std::string small = header + "o,2020-01-01,5\n";
  int n = 0;
  // The server started inside the cgroup (so that a job it runs at once on
  // start-up is limited too), its port from its log.
  const auto in_cgroup = [&](std::vector<std::string> args, uint16_t& port) {
    std::vector<std::string> all = {"/bin/sh",
                                    "-c",
                                    "echo $$ > " + cgroup.path() +
                                        "/cgroup.procs && exec \"$0\" \"$@\"",
                                    binary,
                                    "serve",
                                    "--host",
                                    "127.0.0.1",
                                    "--port",
                                    "0",
                                    "--no-cluster",
                                    "--data-dir",
                                    data(),
                                    "--max-running-jobs",
                                    "1"};
    all.insert(all.end(), args.begin(), args.end());
    auto p = std::make_unique<test::child_process>(
        all, dir_.file("oom-" + std::to_string(++n) + ".log"));
    const std::string marker = "listening on http://127.0.0.1:";
    port = 0;
    if (const size_t at = p->wait_for_log(marker); at != std::string::npos)
      port =
          static_cast<uint16_t>(std::stoi(p->log().substr(at + marker.size())));
    return p;
  };
  std::string killer, other;
  {
    // Outside the cgroup, no workers: the big job is handed over and waits,
    // the small one queues behind it; SIGTERM is a clean stop.
    auto s = start({"--workers", "0", "--max-running-jobs", "1"});
    const auto r = test::upload_csv(s->port(), big);
    ASSERT_EQ(r.status, 202) << r.raw.substr(0, 300);
    killer = str(json_of(r), "jobId");
    wait_for(s->port(), killer, "started");
    const auto o = test::upload_csv(s->port(), small);
    ASSERT_EQ(o.status, 202);
    other = str(json_of(o), "jobId");
    s->stop();
  }
  uint64_t last_mb = 0;
  // A memory limit far over the cgroup's: the server would otherwise take
  // the cgroup's own (default_memory_limit) and spill instead of being
  // killed.
  const std::vector<std::string> unbounded = {"--workers", "1",
                                              "--memory-limit", "16G"};
  for (uint32_t attempt = 1; attempt <= 2; ++attempt) {
    uint16_t port = 0;
    auto s = in_cgroup(unbounded, port);
    ASSERT_TRUE(s->wait_exit(60s)) << "not killed at the memory limit";
    EXPECT_EQ(s->exit_code(), -1) << "it exited, it was not killed";
    job_record r;
    auto read = read_record(paths_for(data(), killer).record);
    ASSERT_TRUE(read) << read.error().text();
    r = *read;
    EXPECT_EQ(r.state, job_state::started);
    EXPECT_EQ(r.attempts, attempt);
    last_mb = r.peak_rss_mb;
  }
  // The memory seen grow before the kill is on record (the limit is 160 MB;
  // the server starts at about 10 MB).
  EXPECT_GE(last_mb, 40u);
  uint16_t port = 0;
  auto s = in_cgroup(unbounded, port);
  ASSERT_NE(port, 0) << s->log();
  const auto o = wait_for(port, killer, "failed");
  EXPECT_EQ(str(o, "error"), "the server stopped twice while this job ran; the "
                             "last time it used " +
                                 std::to_string(last_mb) + " MB");
  wait_for(port, other, "finished");
  EXPECT_EQ(result(port, other), "200 " + result_header + "o,2020-01-01,5\n");
  EXPECT_TRUE(s->running());
  std::printf(
      "killed twice at the memory limit; the last record said %llu MB\n",
      static_cast<unsigned long long>(last_mb));
  s->stop();
}

TEST_F(store_test, max_attempts_is_in_the_help_and_checked) {
  const auto help = test::run({binary, "serve", "--help"});
  EXPECT_NE(help.out.find("--max-attempts N"), std::string::npos) << help.out;
  const auto bad = test::run({binary, "serve", "--max-attempts", "0"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--max-attempts must be from 1 to 1000"),
            std::string::npos)
      << bad.err;
}

} // namespace
} // namespace playcount
