#include "http/handlers.hpp"

#include "actors/job_store.hpp"
#include "actors/messages.hpp"
#include "http/download.hpp"
#include "http/download_pump.hpp"
#include "http/job_summaries.hpp"
#include "http/metrics.hpp"
#include "http/result_gzip.hpp"
#include "http/routes.hpp"
#include "http/server_context.hpp"
#include "http/web.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace playcount::http {

using namespace Pistache;

namespace {

// Asks the registry; its answer (or its silence) becomes a reply by
// `to_reply`, which `later` gets.
template <class Result, class ToReply, class... Ts>
void ask_then_reply(server_context& ctx, std::function<void(reply)> later,
                    ToReply to_reply_fn, Ts... xs) {
  ask_registry<Result>(
      ctx,
      [later = std::move(later),
       to_reply_fn = std::move(to_reply_fn)](const std::optional<Result>& r) {
        reply out;
        try {
          out = to_reply_fn(r);
        } catch (const std::exception& e) {
          out = to_reply({api_errc::internal, e.what()});
        }
        later(std::move(out));
      },
      std::move(xs)...);
}

// GET /jobs/<id>/result/ once the registry has answered: the result, or
// its gzip variant for a client that takes gzip (made now when it is not
// yet: result_gzip.hpp; `later` then waits for it).
void answer_result(const std::optional<job_lookup>& found,
                   const job_paths& paths, bool gzip, caf::actor_system& system,
                   const std::shared_ptr<result_gzips>& gzips,
                   std::function<void(reply)> later) {
  reply out;
  try {
    out = found ? result_reply(*found, paths.result)
                : to_reply(registry_silent());
    if (gzip && !out.file.empty()) {
      const std::string gz = paths.result + ".gz";
      struct stat st {};
      if (::stat(gz.c_str(), &st) == 0) {
        use_gzip_variant(out, gz);
      } else if (errno == ENOENT && gzips) {
        gzips->make(system, paths.result, gz,
                    [out, gz, later = std::move(later)](bool made) mutable {
                      if (made)
                        use_gzip_variant(out, gz);
                      later(std::move(out));
                    });
        return;
      }
    }
  } catch (const std::exception& e) {
    out = to_reply({api_errc::internal, e.what()});
  }
  later(std::move(out));
}

// GET /jobs/<id>/summary, /songs, /songs/<name>: as the result endpoint
// for a job that is not there or not finished; the summaries answer the
// rest (off this thread).
void ask_summary(server_context& ctx, const std::string& id,
                 summary_request req, std::function<void(reply)> later) {
  ask_registry<job_lookup>(
      ctx,
      [summaries = ctx.summaries, paths = paths_for(ctx.config.data_dir, id),
       req = std::move(req),
       later = std::move(later)](const std::optional<job_lookup>& found) {
        reply out;
        try {
          if (!found) {
            out = to_reply(registry_silent());
          } else if (!found->found) {
            out = to_reply({api_errc::job_not_found, {}});
          } else if (found->record.state == job_state::finished) {
            return summaries->answer(found->record, paths, req, later);
          } else {
            // The result endpoint's words ("Job: started 40%"); a canceled
            // job is 422 here, as a failed one (no result will come).
            out = result_reply(*found, {});
            if (found->record.state == job_state::canceled)
              out.status = http_status::unprocessable_entity;
          }
        } catch (const std::exception& e) {
          out = to_reply({api_errc::internal, e.what()});
        }
        later(std::move(out));
      },
      lookup_atom::value, id);
}

} // namespace

api_error route_refusal(const route_match& route, const std::string& method,
                        const std::string& path) {
  if (route.kind == route_match::bad_method)
    return {api_errc::method_not_allowed,
            method + " is not allowed here; use " + route.allow, 0,
            route.allow};
  return {api_errc::no_route, "no such endpoint: " + method + " " + path};
}

std::optional<reply> handle(server_context& ctx, const request_facts& req,
                            std::function<void(reply)> later) {
  const std::string& path = req.path;
  const route_match route = match_route(req.method, path);
  // HEAD is answered as GET is; the body is left out when it is written.
  const std::string method = req.method == "HEAD" ? "GET" : req.method;
  if (route.kind != route_match::found)
    return to_reply(route_refusal(route, req.method, path));
  switch (route.target) {
  case endpoint::job_result: {
    if (!is_job_id(route.id))
      return result_reply(job_lookup{}, {});
    ask_registry<job_lookup>(
        ctx,
        [paths = paths_for(ctx.config.data_dir, route.id),
         gzip = req.accept_encoding && accepts_gzip(*req.accept_encoding),
         system = &ctx.system, gzips = ctx.gzips,
         later = std::move(later)](const std::optional<job_lookup>& found) {
          answer_result(found, paths, gzip, *system, gzips, later);
        },
        lookup_atom::value, route.id);
    return std::nullopt;
  }
  case endpoint::job_summary:
  case endpoint::job_songs:
  case endpoint::job_song: {
    if (!is_job_id(route.id))
      return to_reply({api_errc::job_not_found, {}});
    summary_request asked;
    if (route.target == endpoint::job_songs) {
      asked.kind = summary_request::songs;
      auto query = parse_song_query(req.query);
      if (auto* refused = std::get_if<api_error>(&query))
        return to_reply(*refused);
      asked.query = std::get<song_query>(std::move(query));
    } else if (route.target == endpoint::job_song) {
      asked.kind = summary_request::song;
      auto name = decode_song_name(route.name);
      if (auto* refused = std::get_if<api_error>(&name))
        return to_reply(*refused);
      asked.name = std::get<std::string>(std::move(name));
    }
    if (route.target != endpoint::job_songs && !req.query.empty())
      return to_reply({api_errc::bad_request,
                       "unknown parameter \"" + req.query.front().first +
                           "\"; this endpoint takes none"});
    ask_summary(ctx, route.id, std::move(asked), std::move(later));
    return std::nullopt;
  }
  case endpoint::job_view:
    // The page reads the job's id from its path and asks for the job.
    if (!is_job_id(route.id))
      return to_reply({api_errc::no_route, "no such page: " + path});
    return web_reply("index.html");
  case endpoint::job: {
    if (!is_job_id(route.id))
      return to_reply({api_errc::job_not_found, {}});
    if (method == "DELETE") {
      ask_then_reply<job_deletion>(
          ctx, std::move(later),
          [](const std::optional<job_deletion>& gone) {
            return gone ? deletion_reply(*gone) : to_reply(registry_silent());
          },
          delete_atom::value, route.id);
      return std::nullopt;
    }
    ask_then_reply<job_lookup>(
        ctx, std::move(later),
        [](const std::optional<job_lookup>& found) {
          return found ? job_reply(*found) : to_reply(registry_silent());
        },
        lookup_atom::value, route.id);
    return std::nullopt;
  }
  case endpoint::jobs: {
    auto query = parse_job_query(req.query);
    if (auto* refused = std::get_if<api_error>(&query))
      return to_reply(*refused);
    ask_then_reply<job_list>(
        ctx, std::move(later),
        [](const std::optional<job_list>& list) {
          return list ? jobs_reply(*list) : to_reply(registry_silent());
        },
        list_atom::value, std::get<job_query>(std::move(query)));
    return std::nullopt;
  }
  case endpoint::stats:
    ask_then_reply<registry_stats>(
        ctx, std::move(later),
        [](const std::optional<registry_stats>& stats) {
          return stats ? stats_reply(*stats) : to_reply(registry_silent());
        },
        stats_atom::value);
    return std::nullopt;
  case endpoint::health:
    return health_reply(ctx.draining);
  case endpoint::ready:
    return ready_reply(ctx.ready, ctx.draining);
  case endpoint::version:
    return version_reply();
  case endpoint::page:
    return web_reply(route.id);
  case endpoint::metrics:
    ask_then_reply<registry_stats>(
        ctx, std::move(later),
        [](const std::optional<registry_stats>& stats) {
          return metrics_reply(stats ? &*stats : nullptr);
        },
        stats_atom::value);
    return std::nullopt;
  case endpoint::upload:
    break; // taken in onInput, never here
  }
  return to_reply({api_errc::internal, "the request took a wrong turn"});
}

namespace {

// Out of descriptors (or memory) for this download: the client may retry.
reply out_of_resources(const std::string& what, int err) {
  reply busy = to_reply(
      {api_errc::unavailable,
       what + " (" + std::string(std::strerror(err)) + "); retry later"});
  busy.headers.emplace_back("Retry-After", "1");
  return busy;
}

bool is_transient(int err) {
  return err == EMFILE || err == ENFILE || err == ENOMEM;
}

} // namespace

std::optional<reply> hand_over(server_context& ctx, const reply& r,
                               connection& c,
                               const std::shared_ptr<Tcp::Peer>& peer,
                               const request_facts& req) {
  const int file = ::open(r.file.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  struct stat origin {};
  if (file < 0 || ::fstat(file, &st) != 0 ||
      (!r.file_origin.empty() && ::stat(r.file_origin.c_str(), &origin) != 0)) {
    const int err = errno;
    if (file >= 0)
      ::close(file);
    if (err == ENOENT) // deleted or expired since the lookup
      return result_reply(job_lookup{}, {});
    spdlog::error("cannot send {}: {}", r.file, std::strerror(err));
    if (is_transient(err)) // not the result's fault: 503, not 500
      return out_of_resources("the result cannot be opened now", err);
    return to_reply({api_errc::internal, "the result cannot be read: " +
                                             std::string(std::strerror(err))});
  }
  if (r.file_origin.empty())
    origin = st;
  const int socket = ::fcntl(peer->fd(), F_DUPFD_CLOEXEC, 0);
  if (socket < 0) {
    const int err = errno;
    ::close(file);
    spdlog::error("cannot send {}: {}", r.file, std::strerror(err));
    return out_of_resources("the server is out of resources", err);
  }
  // The ETag and Last-Modified are the result's (the gzip variant's tag has
  // its own suffix); sizes and ranges are those of the file sent.
  const auto mtime_ns = [](const struct stat& s) {
    return static_cast<int64_t>(s.st_mtim.tv_sec) * 1000000000 +
           static_cast<int64_t>(s.st_mtim.tv_nsec);
  };
  const file_identity sent{static_cast<uint64_t>(st.st_size), mtime_ns(st)};
  const file_identity made_from{static_cast<uint64_t>(origin.st_size),
                                mtime_ns(origin)};
  const bool gzip = !r.file_origin.empty();
  download_request asked;
  asked.head_only = req.method == "HEAD";
  asked.range = req.range;
  asked.if_none_match = req.if_none_match;
  asked.if_modified_since = req.if_modified_since;
  asked.if_range = req.if_range;
  const download_plan plan =
      plan_download(asked, sent, strong_etag(r.file_tag, made_from, gzip),
                    static_cast<int64_t>(origin.st_mtim.tv_sec));
  const bool full = plan.status == http_status::ok ||
                    plan.status == http_status::partial_content;
  std::string head = status_line(plan.status);
  if (full)
    head += "Content-Type: " + r.content_type + "\r\n";
  for (const auto& [name, value] : plan.headers)
    head.append(name).append(": ").append(value).append("\r\n");
  // A 304 or 416 has no representation: of the reply's own headers only
  // Vary applies (RFC 9110 §15.4.5).
  for (const auto& [name, value] : r.headers)
    if (full || name == "Vary")
      head.append(name).append(": ").append(value).append("\r\n");
  // One response on this connection: the pump ends it by closing its side.
  head += "Connection: close\r\n\r\n";
  c.m = connection::mode::closed;
  c.head.clear();
  // Pistache's idle check then closes its descriptor quietly at the idle
  // timeout (an idle peer gets no 408), which leaves the pump's copy open.
  peer->setIdle(true);
  ctx.pump->hand_over(socket, file, std::move(head), plan.offset, plan.length,
                      peer->tryGetData(slot_key), req.path);
  return std::nullopt;
}

} // namespace playcount::http
