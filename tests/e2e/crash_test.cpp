// `playcount serve` killed with SIGKILL at each point of a job's life, and
// on a disk that fills up (issue: hardening, part 5). After a restart on
// the same data directory, every job the server accepted (answered 202)
// ends finished with the right result or failed with a reason: none is
// lost, none stays queued or started, and no result is ever served half
// written.

#include "tests/support/csv_gen.hpp"
#include "tests/support/server_fixture.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <sys/mount.h>

namespace playcount {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using test::json_of;
using test::str;

/// Inputs by file name, with what the server must make of them.
struct input_file {
  std::string csv;
  std::string result; ///< the finished job's result (empty: it must fail)
  std::string error;  ///< the failed job's reason
};

class crash_test : public test::served_test {
protected:
  /// These tests kill the server on purpose, again and again, while jobs
  /// run: with the default crash-loop cap (--max-attempts 2) a job killed
  /// twice would fail, which store_test covers. Here every job must end
  /// as if nothing had happened.
  std::unique_ptr<test::server_process>
  start(std::vector<std::string> args = {}, std::string data_dir = {}) {
    args.insert(args.end(), {"--max-attempts", "1000"});
    return served_test::start(std::move(args), std::move(data_dir));
  }

  /// Adds an input named `name`; its truth from `playcount count`.
  void add_good(const std::string& name, const test::csv_shape& shape) {
    input_file f;
    f.csv = test::make_csv(shape);
    f.result = count_alone(f.csv, name);
    ASSERT_FALSE(f.result.empty());
    inputs_[name] = std::move(f);
  }

  /// An input that must fail: a good file with one impossible date late in
  /// it (so that the job runs a while before it fails).
  void add_bad(const std::string& name, const test::csv_shape& shape) {
    input_file f;
    f.csv = test::make_csv(shape);
    f.csv += "Late,2021-02-30,1\n";
    // Line numbers count physical lines; the generator's quoted names span
    // lines, so the number comes from `playcount count`, as the truth.
    const auto in = dir_.write(name + "-in.csv", f.csv);
    const auto r =
        test::run({binary, "count", in, "-o", dir_.file(name + ".out")});
    ASSERT_NE(r.exit_code, 0);
    ASSERT_NE(r.err.find("2021-02-30"), std::string::npos) << r.err;
    f.error = r.err.substr(r.err.find("line "));
    while (!f.error.empty() &&
           (f.error.back() == '\n' || f.error.back() == '\r'))
      f.error.pop_back();
    fs::remove(in);
    inputs_[name] = std::move(f);
  }

  /// A form upload of input `name`; the job id, or "" when no 202 came.
  std::string upload(uint16_t port, const std::string& name) {
    const auto r = test::upload_file(port, inputs_.at(name).csv, name);
    return r.status == 202 ? str(json_of(r), "jobId") : "";
  }

  /// A raw upload of input `name`, 64 KiB every 4 ms.
  std::string slow_upload(uint16_t port, const std::string& name) {
    const std::string& csv = inputs_.at(name).csv;
    test::http_connection c(port);
    if (!c.send("POST /jobs/count/ HTTP/1.1\r\nContent-Type: text/csv\r\n"
                "Content-Length: " +
                std::to_string(csv.size()) + "\r\n\r\n"))
      return "";
    for (size_t at = 0; at < csv.size(); at += 64 << 10) {
      if (!c.send(csv.substr(at, 64 << 10)))
        return "";
      // The stimulus: a body in pieces, so that kills fall mid-upload.
      std::this_thread::sleep_for(4ms);
    }
    const auto r = test::parse_response(c.read_all(10s));
    return r.status == 202 ? str(json_of(r), "jobId") : "";
  }

  /// Kills the server as soon as `ready` holds (polled every millisecond);
  /// false when it never did within `timeout` (the server is killed anyway).
  bool kill_when(test::server_process& s, const std::function<bool()>& ready,
                 std::chrono::milliseconds timeout = 20s) {
    const bool seen = test::eventually(ready, timeout, 1ms);
    s.kill9();
    return seen;
  }

  /// Whether a file in the job's directory has a name with `piece`.
  bool job_has_file(const std::string& id, const std::string& piece) const {
    return job_has_file_in(paths_for(data(), id).dir, piece);
  }

  /// Every job the server knows ends finished (with the right result for
  /// its file) or failed (with the right reason); every id in `accepted`
  /// is among them. Results polled before the end must be whole.
  void every_job_ends_right(uint16_t port,
                            const std::vector<std::string>& accepted) {
    const auto list = json_of(test::http_get(port, "/jobs/?limit=1000"));
    // Which input a job had: by its size (raw uploads have no file name).
    std::map<uint64_t, std::string> by_size;
    for (const auto& [name, f] : inputs_)
      by_size[f.csv.size()] = name;
    ASSERT_EQ(by_size.size(), inputs_.size()) << "inputs of the same size";
    std::map<std::string, std::string> file_of; // id -> input name
    for (const auto& j : list.at("jobs").as_array()) {
      const auto& o = j.as_object();
      const auto size = by_size.find(o.at("bytesTotal").to_number<uint64_t>());
      file_of[str(o, "jobId")] =
          size == by_size.end() ? "(of another size)" : size->second;
    }
    for (const auto& id : accepted)
      EXPECT_EQ(file_of.count(id), 1u) << "job " << id << " was lost";
    EXPECT_EQ(job_dirs(), file_of.size())
        << "a directory that is no job (a cut upload) was left";
    for (const auto& entry : file_of) {
      const std::string& id = entry.first;
      const std::string& name = entry.second;
      ASSERT_EQ(inputs_.count(name), 1u) << id << ": " << name;
      const input_file& f = inputs_.at(name);
      // Poll the result until the job ends: a 200 is the whole result.
      test::http_response r;
      test::eventually(
          [&] {
            r = test::http_get(port, "/jobs/" + id + "/result/");
            return r.status != 202;
          },
          30s, 10ms);
      if (!f.result.empty()) {
        EXPECT_EQ(r.status, 200) << id << " (" << name << "): " << r.body;
        EXPECT_TRUE(r.body == f.result)
            << id << " (" << name << "): a result of " << r.body.size()
            << " bytes, not the " << f.result.size() << " expected";
      } else {
        EXPECT_EQ(r.status, 422)
            << id << " (" << name << "): " << r.raw.substr(0, 300);
        EXPECT_EQ(r.body, "Job: failed: " + f.error) << id;
      }
    }
  }

  static bool job_has_file_in(const std::string& dir,
                              const std::string& piece) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
         it.increment(ec))
      if (it->path().filename().string().find(piece) != std::string::npos)
        return true;
    return false;
  }

  std::map<std::string, input_file> inputs_;
};

TEST_F(crash_test, killed_at_each_point_of_a_jobs_life_every_job_ends_right) {
  test::csv_shape big; // many groups: a result of about 25 MB to write
  big.rows = 700000;
  big.songs = 100000;
  big.days = 1000;
  big.seed = 7;
  add_good("big.csv", big);
  test::csv_shape mid;
  mid.rows = 150000;
  mid.seed = 8;
  add_good("mid.csv", mid);
  add_bad("bad.csv", mid);
  ASSERT_GT(inputs_["big.csv"].result.size(), 15u << 20);
  std::vector<std::string> accepted;
  const std::vector<std::string> slow = {
      "--workers", "1", "--range-size", "64K", "--max-running-jobs", "1"};

  // 1. During an upload: half of a body sent.
  {
    auto s = start(slow);
    test::http_connection c(s->port());
    const std::string& csv = inputs_["mid.csv"].csv;
    ASSERT_TRUE(
        c.send("POST /jobs/count/ HTTP/1.1\r\nContent-Type: text/csv\r\n"
               "Content-Length: " +
               std::to_string(csv.size()) + "\r\n\r\n" +
               csv.substr(0, csv.size() / 2)));
    EXPECT_TRUE(kill_when(*s, [&] { return job_dirs() == 1; }));
  }
  // 2. Queued (behind a running job) and 3. running (reading its ranges).
  std::string interrupted; // the job the next server must find interrupted
  int next_server = 0;
  {
    auto s = start(slow);
    const std::string running = upload(s->port(), "big.csv");
    const std::string queued = upload(s->port(), "bad.csv");
    ASSERT_FALSE(running.empty());
    ASSERT_FALSE(queued.empty());
    accepted.insert(accepted.end(), {running, queued});
    // Read while it was uploaded, it may be past its ranges by the time
    // its upload is answered: any point of the run after the first bytes
    // read will do (the write has a case of its own below).
    EXPECT_TRUE(kill_when(*s, [&] {
      const auto o = job(s->port(), running);
      return str(o, "state") == "started" &&
             o.at("bytesDone").to_number<uint64_t>() > 0;
    })) << "the job was never seen running";
    interrupted = running;
    next_server = servers_ + 1;
  }
  // 4. While the result is written: its temporary file exists.
  {
    auto s = start({"--workers", "2"});
    const std::string id = upload(s->port(), "big.csv");
    ASSERT_FALSE(id.empty());
    accepted.push_back(id);
    EXPECT_TRUE(kill_when(*s, [&] { return job_has_file(id, ".partial-"); }))
        << "the result was never seen being written";
    EXPECT_FALSE(test::exists(paths_for(data(), id).result));
  }
  // 5. Between the job's end and the upload's removal, and after: a
  // finished job, killed, then killed again while it is served.
  {
    auto s = start();
    const std::string id = upload(s->port(), "mid.csv");
    accepted.push_back(id);
    wait_for(s->port(), id, "finished");
    s->kill9();
  }
  // Started again twice, killed once more right away (the interrupted
  // jobs just queued again), then left to finish everything.
  {
    auto s = start();
    // The stimulus: killed again soon after its start, whatever it does.
    std::this_thread::sleep_for(30ms);
    s->kill9();
  }
  auto s = start();
  every_job_ends_right(s->port(), accepted);
  // The job killed while reading was found so by the very next start (later
  // ones may find nothing left to do: how far each got depends on speed).
  EXPECT_NE(server_log(next_server)
                .find("job " + interrupted + " was interrupted: queued again"),
            std::string::npos)
      << server_log(next_server);
}

TEST_F(crash_test, killed_at_random_moments_no_accepted_job_is_lost) {
  test::csv_shape a;
  a.rows = 60000;
  a.seed = 21;
  add_good("a.csv", a);
  test::csv_shape b;
  b.rows = 200000;
  b.songs = 20000;
  b.days = 300;
  b.crlf = true;
  b.seed = 22;
  add_good("b.csv", b);
  add_bad("bad.csv", a);
  const std::vector<std::string> names = {"a.csv", "b.csv", "bad.csv"};
  std::mt19937 rng(20261124); // a fixed seed: the same kills each run
  std::vector<std::string> accepted;
  std::mutex accepted_mutex;
  constexpr int rounds = 8;
  for (int round = 0; round < rounds; ++round) {
    // The last round's kill falls on a job seen running (see below); one
    // job at a time on one worker keeps each running long enough to be seen.
    const bool last = round + 1 == rounds;
    auto s = last ? start({"--range-size", "128K", "--workers", "1",
                           "--max-running-jobs", "1"})
                  : start({"--range-size", "128K"});
    const uint16_t port = s->port();
    // Uploads in flight when the server dies; a 202 is a promise.
    const size_t before = accepted.size(); // no client runs yet
    std::vector<std::thread> clients;
    for (int k = 0; k < 3; ++k) {
      const std::string name = names[rng() % names.size()];
      const auto delay = std::chrono::milliseconds(rng() % 150);
      clients.emplace_back([&, name, delay, k] {
        // The stimulus: uploads and kills at random (seeded) moments.
        std::this_thread::sleep_for(delay);
        // One client of each round sends its body in pieces, so that
        // kills also fall in the middle of an upload.
        const std::string id =
            k == 0 ? slow_upload(port, name) : upload(port, name);
        if (!id.empty()) {
          std::lock_guard<std::mutex> lock(accepted_mutex);
          accepted.push_back(id);
        }
      });
    }
    // Each round's kill waits for one of its uploads to be accepted: on a
    // loaded machine a random moment alone may come before any 202, and
    // too few jobs would be left to test (the others are still in flight).
    const auto one_accepted = [&, before] {
      std::lock_guard<std::mutex> lock(accepted_mutex);
      return accepted.size() > before;
    };
    const auto delay = std::chrono::milliseconds(rng() % 400);
    if (!last) {
      std::this_thread::sleep_for(delay); // the stimulus: a random moment
      EXPECT_TRUE(test::eventually(one_accepted, 20s, 1ms))
          << "no upload of round " << round << " was accepted";
      s->kill9();
    } else {
      // A fast machine may finish every job between random kills.
      EXPECT_TRUE(kill_when(*s, [&] {
        if (!one_accepted())
          return false;
        const auto list = json_of(test::http_get(port, "/jobs/"));
        for (const auto& j : list.at("jobs").as_array())
          if (str(j.as_object(), "state") == "started")
            return true;
        return false;
      })) << "no job was ever seen running";
    }
    for (auto& t : clients)
      t.join();
  }
  ASSERT_GE(accepted.size(), 8u) << "too few uploads got through to test";
  auto s = start();
  every_job_ends_right(s->port(), accepted);
  // How the kills fell: jobs found queued or started again at each start.
  size_t requeued = 0, lost_uploads = 0;
  for (int i = 1; i <= servers_; ++i) {
    const std::string log = server_log(i);
    for (size_t at = 0;
         (at = log.find("was interrupted", at)) != std::string::npos; ++at)
      ++requeued;
    for (size_t at = 0;
         (at = log.find("an interrupted upload", at)) != std::string::npos;
         ++at)
      ++lost_uploads;
  }
  std::printf("%zu jobs accepted in %d rounds; %zu found interrupted while "
              "running, %zu cut uploads removed at a start\n",
              accepted.size(), rounds, requeued, lost_uploads);
  EXPECT_GT(requeued, 0u) << "no kill fell on a running job: not tested";
}

TEST_F(crash_test,
       a_finished_job_whose_result_is_gone_fails_at_the_next_start) {
  std::string id;
  {
    auto s = start();
    id = str(json_of(test::upload_csv(s->port(), "Song,Date,Number of Plays\n"
                                                 "a,2020-01-01,2\n")),
             "jobId");
    wait_for(s->port(), id, "finished");
    s->kill9();
  }
  // What a crash in the middle of removing a job could leave before job
  // directories were renamed away first: the record without its result.
  fs::remove(paths_for(data(), id).result);
  auto s = start();
  const auto o = job(s->port(), id);
  EXPECT_EQ(str(o, "state"), "failed");
  EXPECT_EQ(str(o, "error"), "the result was lost while the server was down");
  EXPECT_EQ(test::http_get(s->port(), "/jobs/" + id + "/result/").status, 422);
  // A directory caught halfway through its removal is no job.
  fs::create_directories(data() + "/jobs/" + id + ".removing");
  fs::copy_file(paths_for(data(), id).record,
                data() + "/jobs/" + id + ".removing/job.json");
  s->kill9();
  auto again = start();
  EXPECT_FALSE(test::exists(data() + "/jobs/" + id + ".removing"));
  EXPECT_EQ(job_dirs(), 1u);
  // Deleting renames the directory away in one step, then removes it.
  EXPECT_EQ(test::http_delete(again->port(), "/jobs/" + id + "/").status, 200);
  EXPECT_EQ(job_dirs(), 0u);
}

// -- a full disk --------------------------------------------------------------

/// A tmpfs of `size` mounted on `dir` for the test's life.
class tmpfs_mount {
public:
  tmpfs_mount(const std::string& dir, const std::string& size)
      : dir_(dir) {
    fs::create_directories(dir);
    if (::geteuid() != 0) {
      why_ = "not root";
      return;
    }
    const std::string options = "size=" + size + ",mode=0755";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                options.c_str()) != 0)
      why_ = std::string("mount -t tmpfs failed: ") + std::strerror(errno);
    else
      mounted_ = true;
  }
  tmpfs_mount(const tmpfs_mount&) = delete;
  tmpfs_mount& operator=(const tmpfs_mount&) = delete;
  ~tmpfs_mount() {
    if (mounted_)
      ::umount2(dir_.c_str(), MNT_DETACH);
  }
  [[nodiscard]] bool mounted() const noexcept { return mounted_; }
  [[nodiscard]] const std::string& why_not() const noexcept { return why_; }

private:
  std::string dir_;
  std::string why_;
  bool mounted_ = false;
};

TEST_F(crash_test, a_full_disk_while_writing_the_result_fails_the_job_clearly) {
  // 8 MiB: the upload (about 4.5 MB, every record its own group) fits, its
  // result as large again does not.
  tmpfs_mount disk(dir_.file("small-disk"), "8m");
  if (!disk.mounted())
    GTEST_SKIP() << "a full disk needs a small tmpfs as the data directory, "
                    "and mounting one is not permitted here ("
                 << disk.why_not() << "); run the tests as root to cover it";
  const std::string data_dir = dir_.file("small-disk") + "/data";
  test::csv_shape shape;
  shape.rows = 160000;
  shape.songs = 100000;
  shape.days = 3000;
  shape.seed = 31;
  const std::string csv = test::make_csv(shape);
  ASSERT_GT(csv.size(), 4u << 20);
  ASSERT_LT(csv.size(), 6u << 20);

  auto s = start({}, data_dir);
  const uint16_t port = s->port();
  const auto r = test::upload_csv(port, csv);
  ASSERT_EQ(r.status, 202) << r.raw;
  const std::string id = str(json_of(r), "jobId");
  const auto o = wait_for(port, id, {"failed", "finished"});
  EXPECT_EQ(str(o, "state"), "failed");
  const std::string error = str(o, "error");
  EXPECT_EQ(error.rfind("the result could not be written: ", 0), 0u) << error;
  EXPECT_NE(error.find("No space left on device"), std::string::npos) << error;
  EXPECT_EQ(error.find(data_dir), std::string::npos)
      << "the message names where the server keeps its files: " << error;
  const auto result = test::http_get(port, "/jobs/" + id + "/result/");
  EXPECT_EQ(result.status, 422);
  EXPECT_EQ(result.body, "Job: failed: " + error);
  // Nothing half written is left, and the space is back.
  const job_paths p = paths_for(data_dir, id);
  EXPECT_FALSE(test::exists(p.result));
  EXPECT_FALSE(job_has_file_in(p.dir, ".partial-"));
  EXPECT_FALSE(test::exists(p.input));

  // An upload that does not fit at all: a clear 500, nothing kept.
  const std::string huge = test::make_csv([] {
    test::csv_shape x;
    x.rows = 300000;
    x.seed = 32;
    return x;
  }());
  ASSERT_GT(huge.size(), 8u << 20);
  const auto full = test::upload_file(port, huge);
  EXPECT_EQ(full.status, 500) << full.raw.substr(0, 300);
  EXPECT_NE(str(json_of(full), "message")
                .find("no space left on device while saving the upload"),
            std::string::npos)
      << full.body;
  // Besides the failed job, at most the record of the upload that was
  // counted as it arrived and failed as incomplete; its input is gone, and
  // so is the space it took, once its job has ended.
  EXPECT_TRUE(only_cut_uploads_within(5s, id, data_dir));

  // The server goes on: a small job finishes, and a restart reads it all.
  const auto small = test::upload_csv(port, "Song,Date,Number of Plays\n"
                                            "a,2020-01-01,2\n");
  ASSERT_EQ(small.status, 202) << small.raw;
  const std::string small_id = str(json_of(small), "jobId");
  wait_for(port, small_id, "finished");
  s->kill9();
  auto again = start({}, data_dir);
  EXPECT_EQ(str(job(again->port(), id), "state"), "failed");
  EXPECT_EQ(
      test::http_get(again->port(), "/jobs/" + small_id + "/result/").body,
      "Song,Date,Total Number of Plays for Date\na,2020-01-01,2\n");
  again->stop();
}

} // namespace
} // namespace playcount
