#pragma once

// The GoogleTest fixture of every suite that starts `playcount serve` (as a
// child process on this test's own data directory, on ports it picked
// itself), with the helpers most server tests need. Only the suites that
// start it inside network namespaces of their own (netns_test,
// straggler_test) run it by hand.

#include "actors/job_store.hpp"
#include "tests/support/api_client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/slowdown.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace playcount::test {

class served_test : public ::testing::Test {
protected:
  static inline const std::string binary = PLAYCOUNT_BINARY;

  /// A server on this test's data directory (`data_dir` if given), two
  /// workers unless `args` says otherwise.
  std::unique_ptr<server_process> start(std::vector<std::string> args = {},
                                        std::string data_dir = {}) {
    if (std::find(args.begin(), args.end(), "--workers") == args.end())
      args.insert(args.end(), {"--workers", "2"});
    args.insert(args.end(),
                {"--data-dir", data_dir.empty() ? data() : data_dir});
    auto s = std::make_unique<server_process>(
        binary, args,
        dir_.file("server-" + std::to_string(++servers_) + ".log"));
    EXPECT_NE(s->port(), 0) << s->log();
    return s;
  }

  [[nodiscard]] std::string data() const { return dir_.file("data"); }

  /// The log of the `n`th server start() started (from 1), kept after it
  /// ended.
  [[nodiscard]] std::string server_log(int n) const {
    return read_file(dir_.file("server-" + std::to_string(n) + ".log"));
  }

  /// Directories in data/jobs: one per job (or upload in progress).
  [[nodiscard]] size_t job_dirs(const std::string& data_dir = {}) const {
    std::error_code ec;
    size_t n = 0;
    for (std::filesystem::directory_iterator
             it((data_dir.empty() ? data() : data_dir) + "/jobs", ec),
         end;
         !ec && it != end; it.increment(ec))
      ++n;
    return n;
  }

  /// Waits (up to `timeout`) until no job directory is left.
  [[nodiscard]] bool
  no_job_dirs_within(std::chrono::milliseconds timeout) const {
    return eventually([&] { return job_dirs() == 0; }, timeout,
                      std::chrono::milliseconds(10));
  }

  /// Waits (up to `timeout`) until no more is left of uploads cut off than
  /// what they leave: nothing, or (a raw body counted while it arrived,
  /// issue 13) a job directory holding only a job.json that says the job
  /// failed as "upload incomplete".
  /// `except` (a job id) may be anything; `data_dir` as in job_dirs.
  [[nodiscard]] bool
  only_cut_uploads_within(std::chrono::milliseconds timeout,
                          const std::string& except = {},
                          const std::string& data_dir = {}) const {
    const auto cut_record = [](const std::filesystem::path& dir) {
      std::error_code ec;
      for (std::filesystem::directory_iterator it(dir, ec), end;
           !ec && it != end; it.increment(ec))
        if (it->path().filename() != "job.json")
          return false;
      boost::system::error_code bad;
      const auto v =
          boost::json::parse(read_file((dir / "job.json").string()), bad);
      if (bad || !v.is_object())
        return false;
      const auto& o = v.as_object();
      const auto* state = o.if_contains("state");
      const auto* error = o.if_contains("error");
      return state != nullptr && state->is_string() &&
             state->as_string() == "failed" && error != nullptr &&
             error->is_string() &&
             std::string_view(error->as_string())
                     .rfind("upload incomplete", 0) == 0;
    };
    return eventually(
        [&] {
          std::error_code ec;
          for (std::filesystem::directory_iterator
                   it((data_dir.empty() ? data() : data_dir) + "/jobs", ec),
               end;
               !ec && it != end; it.increment(ec))
            if (it->path().filename() != except && !cut_record(it->path()))
              return false;
          return true;
        },
        // The record is saved after the job's end: slower in a sanitizer
        // build, where it took over 5 s once.
        scaled(timeout), std::chrono::milliseconds(10));
  }

  /// What is in data/jobs: each directory's files, and its job.json, for
  /// the message of a test that finds something left.
  [[nodiscard]] std::string jobs_left(const std::string& data_dir = {}) const {
    std::string out;
    std::error_code ec;
    for (std::filesystem::directory_iterator
             it((data_dir.empty() ? data() : data_dir) + "/jobs", ec),
         end;
         !ec && it != end; it.increment(ec)) {
      out += it->path().filename().string() + ":";
      std::error_code in;
      for (std::filesystem::directory_iterator f(it->path(), in), none;
           !in && f != none; f.increment(in))
        out += " " + f->path().filename().string();
      out += "\n  " + read_file((it->path() / "job.json").string()) + "\n";
    }
    return out;
  }

  /// Uploads `csv` and returns the job id (empty on failure).
  std::string submit(uint16_t port, const std::string& csv,
                     const std::vector<std::string>& headers = {}) {
    const std::string boundary = "------------------------playcount0123456789";
    std::vector<std::string> all = {
        "Content-Type: multipart/form-data; boundary=" + boundary};
    all.insert(all.end(), headers.begin(), headers.end());
    const auto r = http_exchange(
        port,
        request_text("POST", "/jobs/count/", all,
                     multipart_body(boundary, {{"file", csv, "plays.csv"}})));
    EXPECT_EQ(r.status, 202) << r.raw.substr(0, 600);
    return str(json_of(r), "jobId");
  }

  boost::json::object job(uint16_t port, const std::string& id) {
    std::vector<std::string> headers;
    if (!token_.empty())
      headers.push_back("Authorization: Bearer " + token_);
    return json_of(
        http_exchange(port, request_text("GET", "/jobs/" + id + "/", headers)));
  }

  /// Waits until the job is in one of `states`; returns its JSON (a test
  /// failure when the time ran out).
  boost::json::object
  wait_for(uint16_t port, const std::string& id,
           const std::vector<std::string>& states,
           std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    boost::json::object o;
    if (eventually(
            [&] {
              o = job(port, id);
              return std::find(states.begin(), states.end(), str(o, "state")) !=
                     states.end();
            },
            timeout))
      return o;
    ADD_FAILURE() << "job " << id << " never reached " << states.front() << ": "
                  << boost::json::serialize(o);
    return o;
  }

  // (A `const char*`, not a string: a braced list of two names would
  // convert to either.)
  boost::json::object
  wait_for(uint16_t port, const std::string& id, const char* state,
           std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return wait_for(port, id, std::vector<std::string>{state}, timeout);
  }

  /// The result `playcount count` gives for `csv`: the ground truth (its
  /// files named after `name`; the input removed, as it may be large).
  std::string count_alone(const std::string& csv,
                          const std::string& name = "truth") {
    const auto in = dir_.write(name + "-in.csv", csv);
    const auto out = dir_.file(name + "-out.csv");
    const auto r = run({binary, "count", in, "-o", out, "--quiet"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::filesystem::remove(in);
    return read_file(out);
  }

  temp_dir dir_;
  int servers_ = 0;
  std::string token_; ///< sent by job() and wait_for() when not empty
};

} // namespace playcount::test
