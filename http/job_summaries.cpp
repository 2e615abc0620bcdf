#include "http/job_summaries.hpp"

#include "core/fields.hpp"
#include "core/result_summary.hpp"
#include "core/song_index.hpp"
#include "core/utf8.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <algorithm>
#include <utility>

namespace playcount::http {

namespace json = boost::json;

struct job_summaries::entry {
  std::string id;
  std::string summary; ///< summary.json's text, as answered
  song_index index;
};

namespace {

// The errors of these endpoints carry {"error": ...} (docs/http-api.md),
// and "message" as every other error of the API does.
reply error_reply(http_status status, const std::string& text) {
  json::object body;
  body["error"] = printable_utf8(text);
  body["message"] = printable_utf8(text);
  return json_reply(status, body);
}

json::string date(day_number day) {
  char out[10];
  format_date(day, out);
  return json::string(std::string_view(out, sizeof out));
}

json::object song_object(const song_entry& e) {
  json::object o;
  o["song"] = e.song;
  o["plays"] = e.plays;
  o["firstDate"] = date(e.first);
  o["lastDate"] = date(e.last);
  return o;
}

} // namespace

job_summaries::job_summaries(size_t cached, size_t max_waiting)
    : cached_(std::max<size_t>(cached, 1))
    , max_waiting_(std::max<size_t>(max_waiting, 1)) {
  reader_ = std::thread([this] { read_loop(); });
  builder_ = std::thread([this] { build_loop(); });
}

job_summaries::~job_summaries() {
  stop();
}

void job_summaries::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !reader_.joinable())
      return;
    stopping_ = true;
  }
  wake_reader_.notify_all();
  wake_builder_.notify_all();
  if (reader_.joinable())
    reader_.join();
  if (builder_.joinable())
    builder_.join();
}

void job_summaries::answer(const job_record& record, const job_paths& paths,
                           summary_request req,
                           std::function<void(reply)> done) {
  bool stopping = false;
  {
    std::lock_guard lock(mutex_);
    stopping = stopping_;
    if (!stopping_ && waiting_.size() < max_waiting_) {
      waiting_.emplace_back([this, record, paths, req = std::move(req),
                             done = std::move(done)](bool run) {
        done(run ? answer_now(record, paths, req)
                 : error_reply(http_status::service_unavailable,
                               "the server is shutting down"));
      });
      wake_reader_.notify_one();
      return;
    }
  }
  reply busy = error_reply(
      http_status::service_unavailable,
      stopping ? "the server is shutting down"
               : "too many requests for summaries wait; retry later");
  busy.headers.emplace_back("Retry-After", "1");
  done(std::move(busy));
}

void job_summaries::forget(const std::string& id) {
  std::lock_guard lock(mutex_);
  open_.remove_if([&](const auto& e) { return e->id == id; });
  failed_.erase(id);
  building_.erase(id); // a rebuild under way is not remembered
  to_build_.erase(std::remove_if(to_build_.begin(), to_build_.end(),
                                 [&](const build& b) { return b.id == id; }),
                  to_build_.end());
}

void job_summaries::read_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_reader_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
    if (waiting_.empty())
      return; // stopping, nothing left
    auto task = std::move(waiting_.front());
    waiting_.pop_front();
    const bool run = !stopping_;
    lock.unlock();
    try {
      task(run);
    } catch (const std::exception& e) {
      spdlog::error("a summary request failed: {}", e.what());
    }
    lock.lock();
  }
}

void job_summaries::build_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_builder_.wait(lock, [&] { return stopping_ || !to_build_.empty(); });
    if (stopping_)
      return;
    build b = std::move(to_build_.front());
    to_build_.pop_front();
    lock.unlock();
    spdlog::info("job {}: building its summary and song index from {}", b.id,
                 b.paths.result);
    std::string why;
    try {
      auto made = summarize_result_file(b.paths.result, b.paths.summary,
                                        b.paths.index, b.skipped);
      if (!made)
        why = made.error().text();
    } catch (const std::exception& e) {
      why = e.what();
    }
    lock.lock();
    // Not wanted any more when the job went meanwhile (forget).
    if (building_.erase(b.id) > 0 && !why.empty()) {
      spdlog::error("job {}: its summary cannot be built: {}", b.id, why);
      failed_[b.id] = why;
    } else if (why.empty()) {
      spdlog::info("job {}: summary and song index built", b.id);
    }
  }
}

bool job_summaries::enqueue_build(const job_record& record,
                                  const job_paths& paths) {
  if (!building_.insert(record.id).second)
    return false;
  std::optional<uint64_t> skipped;
  if (record.on_bad_rows == bad_row_policy::skip)
    skipped = record.bad_rows;
  to_build_.push_back({record.id, paths, skipped});
  wake_builder_.notify_one();
  return true;
}

reply job_summaries::being_built(const std::string& id) {
  reply r = error_reply(http_status::service_unavailable,
                        "the summary of job " + id + " is being built");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

std::variant<std::shared_ptr<const job_summaries::entry>, reply>
job_summaries::open(const job_record& record, const job_paths& paths) {
  const std::string& id = record.id;
  {
    std::lock_guard lock(mutex_);
    for (auto i = open_.begin(); i != open_.end(); ++i)
      if ((*i)->id == id) {
        auto found = *i;
        open_.splice(open_.begin(), open_, i);
        return found;
      }
    if (building_.count(id) > 0)
      return being_built(id);
    if (auto f = failed_.find(id); f != failed_.end())
      return error_reply(http_status::internal_server_error,
                         "the summary of job " + id +
                             " cannot be built: " + f->second);
  }
  // Deleted since the registry answered (its summary would be rebuilt for
  // nothing): as the result endpoint says it.
  if (!test_exists(paths.result))
    return to_reply({api_errc::job_not_found, {}});
  // Outside the lock: a large index takes a while to check.
  std::string why;
  auto made = std::make_shared<entry>();
  made->id = id;
  if (auto s = read_summary(paths.summary); !s) {
    why = s.error().text();
  } else if (auto index = song_index::open(paths.index); !index) {
    why = index.error().text();
  } else {
    struct stat st {};
    if (::stat(paths.result.c_str(), &st) != 0)
      return error_reply(http_status::internal_server_error,
                         "the result of job " + id + " cannot be read");
    if (index->result_bytes() != static_cast<uint64_t>(st.st_size)) {
      why = paths.index + " was made for a result of " +
            std::to_string(index->result_bytes()) + " bytes, not " +
            std::to_string(st.st_size);
    } else {
      made->summary = summary_json(*s);
      made->index = std::move(*index);
    }
  }
  std::lock_guard lock(mutex_);
  if (why.empty()) {
    open_.push_front(made);
    while (open_.size() > cached_)
      open_.pop_back();
    return std::shared_ptr<const entry>(std::move(made));
  }
  if (stopping_)
    return error_reply(http_status::service_unavailable,
                       "the server is shutting down");
  if (enqueue_build(record, paths))
    spdlog::warn("job {}: {}; rebuilt from its result", id, why);
  return being_built(id);
}

reply job_summaries::answer_now(const job_record& record,
                                const job_paths& paths,
                                const summary_request& req) {
  auto opened = open(record, paths);
  if (auto* r = std::get_if<reply>(&opened))
    return std::move(*r);
  const auto& e = *std::get<std::shared_ptr<const entry>>(opened);
  switch (req.kind) {
  case summary_request::summary: {
    reply r;
    r.body = e.summary;
    return r;
  }
  case summary_request::songs: {
    bool more = false;
    const auto found =
        e.index.with_prefix(req.query.prefix, req.query.limit, more);
    json::array songs;
    songs.reserve(found.size());
    for (const auto& s : found) {
      json::object o = song_object(s);
      o["dates"] = s.dates;
      songs.emplace_back(std::move(o));
    }
    json::object body;
    body["prefix"] = req.query.prefix;
    body["songs"] = std::move(songs);
    body["more"] = more;
    return json_reply(http_status::ok, body);
  }
  case summary_request::song: {
    const auto found = e.index.find(req.name);
    if (!found)
      return error_reply(http_status::not_found, "job " + record.id +
                                                     " has no song named \"" +
                                                     req.name + "\"");
    auto rows = read_song_rows(paths.result, *found);
    if (!rows) {
      // The index and the result disagree: the index is made again.
      spdlog::warn("job {}: {}", record.id, rows.error().text());
      std::lock_guard lock(mutex_);
      open_.remove_if([&](const auto& x) { return x->id == record.id; });
      enqueue_build(record, paths);
      return being_built(record.id);
    }
    // A song on more than 10 000 dates comes by month (or year), as the
    // summary's series does: an answer of a song on every date of 9999
    // years would be 100 MB, held until a slow reader has it.
    const result_summary::unit unit = bucket_series(*rows);
    json::array points;
    points.reserve(rows->size());
    for (const auto& [day, plays] : *rows)
      points.emplace_back(json::array{date(day), plays});
    json::object body = song_object(*found);
    body["dates"] = found->dates;
    body["unit"] = series_unit_name(unit);
    body["points"] = std::move(points);
    return json_reply(http_status::ok, body);
  }
  }
  return error_reply(http_status::internal_server_error,
                     "the request took a wrong turn");
}

} // namespace playcount::http
