#pragma once

// What a finished job's result holds, as JSON (issue 15): GET
// /jobs/<id>/summary, /jobs/<id>/songs?prefix=&limit= and
// /jobs/<id>/songs/<name>, answered from the summary.json and songs.idx
// beside result.csv (actors/job_store.hpp, core/result_summary.hpp,
// core/song_index.hpp).
//
// What holds:
// - No file is read on an HTTP or CAF scheduler thread: the answers are
//   made on one thread of this object's own (`reader`), in arrival order;
//   more than `max_waiting` requests waiting are answered 503 at once.
// - The last `cached` jobs' summaries and mapped indexes stay open (an
//   index is validated whole when opened: not once per request); a job's
//   entry goes when the registry removes the job (forget).
// - A finished job whose summary.json or songs.idx is missing, damaged or
//   made for another result.csv gets both rebuilt from result.csv
//   (summarize_result_file) on a thread of its own (`builder`), one job at
//   a time; meanwhile its requests are answered 503 with Retry-After: 1. A
//   result.csv that does not parse is a 500 saying why (remembered until
//   the job goes); result.csv itself is only ever read.

#include "actors/job_record.hpp"
#include "actors/job_store.hpp"
#include "http/api.hpp"

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>

namespace playcount {
class song_index;
}

namespace playcount::http {

/// What one request asks of a finished job.
struct summary_request {
  enum kind_type : uint8_t { summary, songs, song };
  kind_type kind = summary;
  song_query query; ///< songs
  std::string name; ///< song: the name, decoded
};

class job_summaries {
public:
  explicit job_summaries(size_t cached = 8, size_t max_waiting = 256);
  job_summaries(const job_summaries&) = delete;
  job_summaries& operator=(const job_summaries&) = delete;
  /// Stops both threads (a rebuild under way is finished first).
  ~job_summaries();

  /// Answers `req` for the finished job `record` whose files are `paths`:
  /// `done` is called once, on the reader thread (or at once when too
  /// many wait).
  void answer(const job_record& record, const job_paths& paths,
              summary_request req, std::function<void(reply)> done);

  /// The job is gone: its entry (and a failure remembered) go too.
  void forget(const std::string& id);

  /// Stops the threads; requests after this are answered 503.
  void stop();

private:
  struct entry;
  struct build {
    std::string id;
    job_paths paths;
    std::optional<uint64_t> skipped;
  };

  void read_loop();
  void build_loop();
  // On the reader thread: the open entry of a job, or the reply that says
  // why there is none (503 while it is rebuilt, 500 when it cannot be).
  std::variant<std::shared_ptr<const entry>, reply>
  open(const job_record& record, const job_paths& paths);
  reply answer_now(const job_record& record, const job_paths& paths,
                   const summary_request& req);
  reply being_built(const std::string& id);
  // Holding `mutex_`: queues a rebuild; false when one is queued already.
  bool enqueue_build(const job_record& record, const job_paths& paths);

  const size_t cached_;
  const size_t max_waiting_;
  std::mutex mutex_;
  std::condition_variable wake_reader_;
  std::condition_variable wake_builder_;
  bool stopping_ = false;
  std::deque<std::function<void(bool run)>> waiting_; // run: not stopping
  std::list<std::shared_ptr<const entry>> open_; // most recently used first
  std::deque<build> to_build_;
  std::set<std::string> building_;            // queued or under way
  std::map<std::string, std::string> failed_; // id -> why it cannot be built
  std::thread reader_;
  std::thread builder_;
};

} // namespace playcount::http
