#include "http/api.hpp"

#include "actors/job_store.hpp"
#include "core/utf8.hpp"
#include "http/build_info.hpp"
#include "http/file_names.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace playcount::http {

namespace json = boost::json;

reply json_reply(http_status status, const json::value& body) {
  reply r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

namespace {

reply text_reply(http_status status, std::string body) {
  reply r;
  r.status = status;
  r.content_type = "text/plain";
  r.body = std::move(body);
  return r;
}

json::value time_or_null(int64_t ms) {
  if (ms <= 0)
    return nullptr;
  return json::value(iso_time(ms));
}

// `progress`: each phase that applies as {"done": N, "total": N} (total 0
// while not known), in the order a job goes through them. Uploading shows
// for jobs that came by upload, spilling once something was spilled.
json::object progress_value(const job_progress& p) {
  const std::pair<const char*, const phase_progress*> phases[] = {
      {"uploading", &p.uploading}, {"scanning", &p.scanning},
      {"reading", &p.reading},     {"merging", &p.merging},
      {"writing", &p.writing},     {"spilling", &p.spilling}};
  json::object out;
  for (const auto& [name, phase] : phases) {
    const bool optional = phase == &p.uploading || phase == &p.spilling;
    if (optional && phase->done == 0 && phase->total == 0)
      continue;
    out[name] = json::object{{"done", phase->done}, {"total", phase->total}};
  }
  return out;
}

// The API's value of a field of job_record, by its type and its flags
// (actors/job_record.hpp).
template <class T>
json::value api_value(const record_field<T>& field, const T& x) {
  using namespace record_flag;
  if constexpr (std::is_same_v<T, std::string>) {
    if (field.has(api_null_if_empty) && x.empty())
      return nullptr;
    return json::value(x);
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    json::array out;
    for (const auto& line : x)
      out.emplace_back(line);
    return out;
  } else if constexpr (std::is_same_v<T, job_state> ||
                       std::is_same_v<T, bad_row_policy>) {
    return json::value(to_string(x));
  } else if constexpr (std::is_same_v<T, bool>) {
    return json::value(x);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    if (field.has(api_time))
      return time_or_null(x);
    return json::value(x);
  } else if constexpr (std::is_same_v<T, job_progress>) {
    return progress_value(x);
  } else if constexpr (std::is_same_v<T, double>) {
    if (field.has(api_phase_ms)) // whole milliseconds, rounded
      return json::value(static_cast<int64_t>(std::llround(x * 1000)));
    return json::value(x);
  } else {
    static_assert(std::is_integral_v<T>);
    return json::value(x);
  }
}

// GET /jobs/<id>/: the fields the API shows, each at its rank; the phase
// times together under one key, for finished jobs only (null otherwise).
json::object job_object(const job_record& r) {
  constexpr std::string_view phase_ms_key = "phaseMs";
  std::array<std::pair<std::string_view, json::value>, job_api_keys> slots;
  json::object phases;
  for_each_record_field([&](const auto& field) {
    if (field.api_key.empty())
      return;
    json::value value = api_value(field, r.*field.member);
    if (field.has(record_flag::api_while_running) &&
        r.state != job_state::started && r.phase != "uploading")
      value = nullptr;
    if (field.has(record_flag::api_phase_ms)) {
      phases[field.api_key] = std::move(value);
      slots[field.api_rank].first = phase_ms_key;
    } else {
      slots[field.api_rank] = {field.api_key, std::move(value)};
    }
  });
  json::object o(slots.size());
  for (auto& [key, value] : slots) {
    if (key == phase_ms_key && r.state == job_state::finished)
      value = std::exchange(phases, {}); // one slot has the key

    o.emplace(key, std::move(value));
  }
  return o;
}

std::string percent(uint64_t done, uint64_t total) {
  if (total == 0)
    return "";
  char buf[48];
  std::snprintf(buf, sizeof buf, " (%.0f%% read)",
                100.0 * static_cast<double>(done) / static_cast<double>(total));
  return buf;
}

} // namespace

http_status status_of(api_errc code) noexcept {
  switch (code) {
  case api_errc::file_required:
  case api_errc::bad_request:
  case api_errc::bad_multipart:
  case api_errc::bad_encoding:
    return http_status::bad_request;
  case api_errc::unsupported_encoding:
    return http_status::unsupported_media_type;
  case api_errc::job_not_found:
  case api_errc::no_route:
    return http_status::not_found;
  case api_errc::unauthorized:
    return http_status::unauthorized;
  case api_errc::method_not_allowed:
    return http_status::method_not_allowed;
  case api_errc::length_required:
    return http_status::length_required;
  case api_errc::too_large:
    return http_status::payload_too_large;
  case api_errc::header_too_large:
    return http_status::header_fields_too_large;
  case api_errc::not_implemented:
    return http_status::not_implemented;
  case api_errc::http_version:
    return http_status::http_version_not_supported;
  case api_errc::queue_full:
  case api_errc::unavailable:
    return http_status::service_unavailable;
  case api_errc::storage:
  case api_errc::internal:
    return http_status::internal_server_error;
  }
  return http_status::internal_server_error;
}

http_status status_of(job_state state) noexcept {
  switch (state) {
  case job_state::finished:
    return http_status::ok;
  case job_state::queued:
  case job_state::started:
    return http_status::accepted;
  case job_state::failed:
    return http_status::unprocessable_entity;
  case job_state::canceled:
    return http_status::gone;
  }
  return http_status::internal_server_error;
}

reply to_reply(const api_error& e) {
  json::object body;
  // The upload's answers carry a jobId, as the original service's did.
  const bool upload_error =
      e.code == api_errc::file_required || e.code == api_errc::bad_multipart ||
      e.code == api_errc::too_large || e.code == api_errc::queue_full ||
      e.code == api_errc::length_required || e.code == api_errc::storage ||
      e.code == api_errc::bad_encoding ||
      e.code == api_errc::unsupported_encoding;
  if (upload_error)
    body["jobId"] = nullptr;
  switch (e.code) {
  case api_errc::file_required:
    body["message"] = "file is required.";
    break;
  case api_errc::job_not_found:
    body["message"] = "Job not found.";
    break;
  default:
    body["message"] =
        printable_utf8(e.message); // valid JSON whatever a client sent
    break;
  }
  reply r = json_reply(status_of(e.code), body);
  if (e.code == api_errc::queue_full)
    r.headers.emplace_back(
        "Retry-After", std::to_string(e.retry_after > 0 ? e.retry_after : 1));
  if (e.code == api_errc::method_not_allowed && !e.allow.empty())
    r.headers.emplace_back("Allow", e.allow);
  if (e.code == api_errc::unauthorized)
    r.headers.emplace_back("WWW-Authenticate",
                           e.challenge.empty() ? "Bearer" : e.challenge);
  return r;
}

reply accepted_reply(const std::string& id) {
  json::object body;
  body["jobId"] = id;
  body["message"] = "file is being processed...";
  return json_reply(http_status::accepted, body);
}

reply result_reply(const job_lookup& lookup, const std::string& result_path) {
  if (!lookup.found)
    return text_reply(http_status::not_found, "Job not found.");
  const job_record& r = lookup.record;
  const http_status status = status_of(r.state);
  switch (r.state) {
  case job_state::finished: {
    reply out;
    out.status = status;
    out.content_type = "text/csv";
    out.file = result_path;
    out.file_tag = r.id;
    out.headers.emplace_back(
        "Content-Disposition",
        content_disposition(attachment_name(r.file_name, r.id)));
    // The same URL answers gzip to those who ask (result_gzip.hpp).
    out.headers.emplace_back("Vary", "Accept-Encoding");
    return out;
  }
  case job_state::queued:
    return text_reply(status, "Job: queued");
  case job_state::started:
    return text_reply(status,
                      "Job: started" + percent(r.bytes_done, r.bytes_total));
  case job_state::failed:
    return text_reply(status, "Job: failed: " + r.error);
  case job_state::canceled:
    return text_reply(status, "Job: canceled");
  }
  return text_reply(status, "Job: unknown state");
}

void use_gzip_variant(reply& r, const std::string& gz_path) {
  r.file_origin = r.file;
  r.file = gz_path;
  r.headers.emplace_back("Content-Encoding", "gzip");
}

reply job_reply(const job_lookup& lookup) {
  if (!lookup.found)
    return to_reply({api_errc::job_not_found, {}});
  return json_reply(http_status::ok, job_object(lookup.record));
}

reply deletion_reply(const job_deletion& d) {
  if (!d.found)
    return to_reply({api_errc::job_not_found, {}});
  json::object body;
  body["jobId"] = d.record.id;
  if (d.canceled) {
    body["state"] = "canceled";
    body["message"] = "job canceled.";
  } else {
    body["state"] = to_string(d.record.state);
    body["message"] = "job deleted.";
  }
  return json_reply(http_status::ok, body);
}

namespace {

constexpr uint32_t max_jobs_limit = 1000;
constexpr size_t max_search_bytes = 255; // the longest file name

// A query value as a form sends it: '+' is a space, %XX a byte.
std::optional<std::string> query_value(std::string_view raw) {
  std::string plus_free(raw);
  std::replace(plus_free.begin(), plus_free.end(), '+', ' ');
  return percent_decode(plus_free);
}

// What a client sent, quoted for a message, and cut short.
std::string in_quotes(std::string_view text) {
  constexpr size_t shown = 64;
  std::string out = "\"";
  out.append(text.substr(0, shown));
  if (text.size() > shown)
    out += "...";
  return out + "\"";
}

// A `limit` parameter: a number from 1 to `most`.
std::optional<size_t> limit_value(std::string_view value, size_t most) {
  const bool digits =
      !value.empty() && value.size() <= 4 &&
      value.find_first_not_of("0123456789") == std::string::npos;
  const size_t n = digits ? std::stoul(std::string(value)) : 0;
  if (n < 1 || n > most)
    return std::nullopt;
  return n;
}

std::string limit_error(std::string_view value, size_t most) {
  return "limit is a number from 1 to " + std::to_string(most) + ", not " +
         in_quotes(value);
}

} // namespace

std::variant<job_query, api_error> parse_job_query(const query_params& params) {
  constexpr std::string_view known[] = {"state", "q", "limit", "before"};
  const auto bad = [](std::string message) {
    return api_error{api_errc::bad_request, std::move(message)};
  };
  std::vector<std::string> unknown;
  for (const auto& [name, value] : params)
    if (std::find(std::begin(known), std::end(known), name) == std::end(known))
      unknown.push_back(in_quotes(name));
  if (!unknown.empty()) {
    std::sort(unknown.begin(), unknown.end());
    constexpr size_t named = 8; // a message of a few lines at most
    std::string names;
    for (size_t i = 0; i < unknown.size() && i < named; ++i)
      names += (i == 0 ? "" : ", ") + unknown[i];
    if (unknown.size() > named)
      names += " and " + std::to_string(unknown.size() - named) + " more";
    return bad(
        (unknown.size() == 1 ? "unknown parameter " : "unknown parameters ") +
        names + "; the parameters are state, q, limit, before");
  }
  job_query q;
  for (const auto& [name, raw] : params) {
    const auto value = query_value(raw);
    if (!value)
      return bad(name + " has a malformed %-escape");
    if (name == "limit") {
      const auto n = limit_value(*value, max_jobs_limit);
      if (!n)
        return bad(limit_error(*value, max_jobs_limit));
      q.limit = static_cast<uint32_t>(*n);
    } else if (name == "state") {
      // One state or several, comma-separated; empty: every state.
      // Every piece must be a state: "failed," is refused.
      std::string_view rest = *value;
      for (bool more = !rest.empty(); more;) {
        const size_t comma = rest.find(',');
        job_state state{};
        if (!from_string(rest.substr(0, comma), state))
          return bad("state is queued, started, finished, failed or "
                     "canceled (or several, comma-separated), not " +
                     in_quotes(rest.substr(0, comma)));
        q.states = static_cast<uint8_t>(q.states |
                                        (1u << static_cast<unsigned>(state)));
        more = comma != std::string_view::npos;
        rest.remove_prefix(more ? comma + 1 : rest.size());
      }
    } else if (name == "q") {
      if (value->size() > max_search_bytes)
        return bad("q is at most 255 bytes, not " +
                   std::to_string(value->size()));
      q.text = *value;
    } else if (!value->empty()) { // before; empty: from the newest
      const size_t dot = value->find('.');
      const std::string_view ms = std::string_view(*value).substr(0, dot);
      const bool valid =
          dot != std::string::npos && !ms.empty() && ms.size() <= 15 &&
          ms.find_first_not_of("0123456789") == std::string_view::npos &&
          is_job_id(std::string_view(*value).substr(dot + 1));
      if (!valid || std::stoll(std::string(ms)) <= 0)
        return bad("before is the \"next\" of a previous page, not " +
                   in_quotes(*value));
      q.before_created = std::stoll(std::string(ms));
      q.before_id = value->substr(dot + 1);
    }
  }
  return q;
}

std::variant<song_query, api_error>
parse_song_query(const query_params& params) {
  constexpr size_t max_song_limit = 1000;
  constexpr size_t max_prefix_bytes = 4096;
  const auto bad = [](std::string message) {
    return api_error{api_errc::bad_request, std::move(message)};
  };
  song_query q;
  for (const auto& [name, raw] : params) {
    if (name != "prefix" && name != "limit")
      return bad("unknown parameter " + in_quotes(name) +
                 "; the parameters are prefix, limit");
    const auto value = query_value(raw);
    if (!value)
      return bad(name + " has a malformed %-escape");
    if (name == "limit") {
      const auto n = limit_value(*value, max_song_limit);
      if (!n)
        return bad(limit_error(*value, max_song_limit));
      q.limit = *n;
    } else {
      if (value->size() > max_prefix_bytes)
        return bad("prefix is at most 4096 bytes, not " +
                   std::to_string(value->size()));
      q.prefix = *value;
    }
  }
  return q;
}

std::variant<std::string, api_error>
decode_song_name(std::string_view segment) {
  auto name = percent_decode(segment);
  if (!name)
    return api_error{api_errc::bad_request,
                     "the song's name in the path has a malformed %-escape "
                     "(a '%' not followed by two hex digits)"};
  return std::move(*name);
}

std::string job_cursor(const job_record& r) {
  // The list's order is (created_at descending, id): the cursor is both.
  return std::to_string(r.created_at) + "." + r.id;
}

reply jobs_reply(const job_list& list) {
  json::array jobs;
  for (const auto& r : list.jobs)
    jobs.emplace_back(job_object(r));
  json::object body;
  body["count"] = list.jobs.size();
  body["total"] = list.total;
  body["next"] = list.more && !list.jobs.empty()
                     ? json::value(job_cursor(list.jobs.back()))
                     : json::value(nullptr);
  body["jobs"] = std::move(jobs);
  return json_reply(http_status::ok, body);
}

reply stats_reply(const registry_stats& s) {
  const coordinator_stats& c = s.coordinator;
  json::array nodes;
  for (const node_stats& n : c.nodes) {
    json::object o;
    o["id"] = n.id;
    o["name"] = n.name;
    o["address"] = n.address;
    o["local"] = n.local;
    o["state"] = n.up ? "up" : "down";
    o["workers"] = n.workers;
    o["rangesDone"] = n.ranges_done;
    o["bytesDone"] = n.bytes_done;
    o["joinedAt"] = iso_time(n.joined_at);
    o["lastSeen"] = iso_time(n.last_seen);
    nodes.emplace_back(std::move(o));
  }
  json::array workers;
  for (const worker_stats& w : c.workers) {
    json::object o;
    o["id"] = w.id;
    o["node"] = w.node;
    o["state"] = w.busy ? "busy" : "idle";
    o["rangesDone"] = w.ranges_done;
    o["bytesDone"] = w.bytes_done;
    o["mailbox"] = w.mailbox;
    workers.emplace_back(std::move(o));
  }
  json::array queue_jobs;
  for (const job_queue_stats& q : c.queue) {
    json::object o;
    o["id"] = q.id;
    o["phase"] = q.phase;
    o["ranges"] = q.ranges;
    o["queued"] = q.queued;
    o["inFlight"] = q.in_flight;
    o["done"] = q.done;
    queue_jobs.emplace_back(std::move(o));
  }
  json::object queue;
  queue["rangesQueued"] = c.ranges_queued;
  queue["rangesDispatched"] = c.ranges_dispatched;
  queue["rangesRedispatched"] = c.ranges_redispatched;
  queue["jobs"] = std::move(queue_jobs);
  json::object jobs;
  jobs["queued"] = s.queued;
  jobs["started"] = s.started;
  jobs["finished"] = s.finished;
  jobs["failed"] = s.failed;
  jobs["canceled"] = s.canceled;
  json::object totals;
  totals["bytesRead"] = c.bytes_read;
  totals["rowsRead"] = c.rows_read;
  totals["spilledBytes"] = c.spilled_bytes;
  json::object coordinator;
  coordinator["answered"] = s.coordinator_answered;
  coordinator["jobsRunning"] = c.jobs_running;
  json::object registry;
  registry["mailbox"] = s.mailbox;
  registry["maxRunningJobs"] = s.max_running;
  registry["maxQueuedJobs"] = s.max_queued;
  registry["damagedJobDirs"] = s.damaged; // DATA/damaged/ (docs/operations.md)
  json::object body;
  body["uptimeSeconds"] = s.uptime_ms / 1000;
  body["nodes"] = std::move(nodes);
  body["workers"] = std::move(workers);
  body["queue"] = std::move(queue);
  body["jobs"] = std::move(jobs);
  body["queueDepth"] = s.queued;
  body["totals"] = std::move(totals);
  body["coordinator"] = std::move(coordinator);
  body["registry"] = std::move(registry);
  return json_reply(http_status::ok, body);
}

reply health_reply(bool shutting_down) {
  if (!shutting_down)
    return text_reply(http_status::ok, "ok");
  api_error e = shutting_down_error();
  e.message = "the server is shutting down";
  return to_reply(e);
}

reply ready_reply(bool ready, bool draining) {
  if (ready && !draining)
    return text_reply(http_status::ok, "ready");
  api_error e = shutting_down_error();
  e.message =
      draining ? "the server is shutting down" : "the server is starting";
  return to_reply(e);
}

reply version_reply() {
  const build_facts& b = build_info();
  json::object libraries;
  libraries["caf"] = b.caf;
  libraries["pistache"] = b.pistache;
  libraries["boost"] = b.boost;
  json::object body;
  body["version"] = b.version;
  body["buildType"] = b.build_type;
  body["compiler"] = b.compiler;
  body["libraries"] = std::move(libraries);
  return json_reply(http_status::ok, body);
}

api_error shutting_down_error() {
  // queue_full: the 503 with Retry-After that tells a client to come back.
  return {api_errc::queue_full,
          "the server is shutting down and takes no new uploads; retry "
          "later",
          5};
}

api_error storage_error(int err, const std::string& what) {
  spdlog::error("an upload could not be stored: {}: {}", what,
                std::strerror(err));
  std::string why;
  if (err == ENOSPC)
    why = "no space left on device";
  else if (err == EDQUOT)
    why = "the disk quota is exceeded";
  else {
    why = std::strerror(err);
    if (!why.empty())
      why[0] =
          static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
  }
  return {api_errc::storage, why + " while saving the upload"};
}

api_error storage_error(const failure& why) {
  // The failure's errno is the one the client is told about (the log line
  // is the same as the other overload's: what, then the errno's text).
  failure what = why;
  what.code = 0;
  what.reason.clear();
  return storage_error(why.code, what.text());
}

std::string job_json(const job_record& record) {
  return json::serialize(job_object(record));
}

std::string iso_time(int64_t ms) {
  const time_t secs = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

} // namespace playcount::http
