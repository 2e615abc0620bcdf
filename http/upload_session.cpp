#include "http/upload_session.hpp"

#include "actors/messages.hpp"
#include "core/compression.hpp"
#include "http/api.hpp"
#include "http/file_names.hpp"
#include "http/metrics.hpp"
#include "http/multipart.hpp"
#include "http/request_head.hpp"
#include "http/server_context.hpp"

#include <pistache/http.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <sys/stat.h>
#include <variant>

namespace playcount::http {

using namespace Pistache;

namespace {

// Pistache's idle clock is reset at most this often during an upload.
constexpr auto clock_reset_every = std::chrono::milliseconds(500);

void reset_idle_clock(const std::shared_ptr<Tcp::Peer>& peer) {
  Http::Handler::getParser(peer)->reset();
}

// The registry's answer to a submission, as the client gets it.
reply submission_reply(const std::string& id,
                       const std::optional<submit_reply>& answer) {
  if (!answer)
    return to_reply(registry_silent());
  switch (answer->status) {
  case submit_reply::accepted:
    return accepted_reply(id);
  case submit_reply::queue_full:
    return to_reply({api_errc::queue_full, "the job queue is full; retry later",
                     answer->retry_after});
  default:
    // The registry's reason names files: for the log only.
    spdlog::error("job {} could not be stored: {}", id, answer->error);
    return to_reply({api_errc::storage,
                     "the job could not be stored (a storage error on the "
                     "server; see its log)"});
  }
}

void submit_upload(const std::shared_ptr<server_context>& ctx,
                   const std::shared_ptr<connection>& c,
                   const std::shared_ptr<Tcp::Peer>& peer);

// The input is decoded as it arrives, as `kind`, when a turn to decode is
// free; else it is kept as it comes and decoded once whole.
void start_decoding(upload_state& up, compression kind) {
  up.decode_turn = try_streaming_decode();
  if (!up.decode_turn) {
    up.mode = upload_state::input_mode::whole;
    return;
  }
  up.decoding = std::make_unique<decoding_sink>(
      kind, decoded_limit(up.body.max_input, up.paths.input), up.sink);
  up.mode = upload_state::input_mode::decoded;
}

// Bytes of the input once its mode is known.
bool take_input(upload_state& up, std::string_view piece) {
  if (up.mode == upload_state::input_mode::decoded)
    return up.decoding->feed(piece);
  return up.sink.write(piece);
}

// The input's first bytes (fewer than 4 only when it is that short) say
// how it is written: plain CSV, or a gzip or zstd stream.
bool decide_input(upload_state& up) {
  const compression kind = detect_compression(up.input_head);
  if (kind == compression::none)
    up.mode = upload_state::input_mode::plain;
  else
    start_decoding(up, kind);
  const std::string head = std::move(up.input_head);
  up.input_head.clear();
  return take_input(up, head);
}

// Bytes of the job's input (a raw body, or a form's file part).
bool write_input(upload_state& up, std::string_view piece) {
  if (up.mode == upload_state::input_mode::undecided) {
    const size_t n = std::min(piece.size(), 4 - up.input_head.size());
    up.input_head.append(piece.substr(0, n));
    piece.remove_prefix(n);
    if (up.input_head.size() < 4)
      return true;
    if (!decide_input(up))
      return false;
  }
  return piece.empty() || take_input(up, piece);
}

// Why writing the input failed.
api_error input_failure(const upload_state& up) {
  if (up.decoding && up.decoding->error())
    return *up.decoding->error();
  if (up.sink.error())
    return storage_error(*up.sink.error());
  return {api_errc::internal, "the input could not be written"};
}

// The input is over: why it is not whole (a compressed stream that ends
// early), if so.
std::optional<api_error> end_input(upload_state& up) {
  if (up.mode == upload_state::input_mode::undecided && !decide_input(up))
    return input_failure(up);
  if (up.mode == upload_state::input_mode::decoded) {
    if (!up.decoding->finish())
      return input_failure(up);
    up.decoding.reset();
    up.decode_turn.reset();
  }
  return std::nullopt;
}

// What the registry is told of a job counted while it arrives.
job_submission streamed_submission(const upload_state& up) {
  job_submission out;
  out.id = up.id;
  out.file_name = up.body.file_name;
  out.bytes = up.sink.size();
  out.on_bad_rows = up.body.on_bad_rows;
  out.upload_started_at = up.started_ms;
  return out;
}

// The body of a job counted while it arrived is whole: flushed to disk,
// then the registry saves the job's record, and only then is the input
// declared whole (so that a result never comes before the record that
// owns it). On a thread of its own, as the flush may take seconds.
template <class Answer>
void finish_streamed(const std::shared_ptr<server_context>& ctx,
                     const std::shared_ptr<upload_state>& up, Answer answer) {
  ctx->system.spawn<caf::detached>([ctx, up,
                                    answer](caf::event_based_actor* self) {
    const auto cut = [&](const std::string& why) {
      up->cut(why);
      up->cut = nullptr;
    };
    if (auto finished = up->sink.finish(true); !finished) {
      const api_error e = storage_error(finished.error());
      cut("upload incomplete: " + e.message);
      return answer(to_reply(e));
    }
    up->growing->grow(up->sink.written(), up->sink.quotes_written());
    self->request(ctx->registry, ctx->config.registry_timeout,
                  uploaded_atom::value, streamed_submission(*up), std::string{})
        .then(
            [up, answer](submit_reply& r) {
              up->cut = nullptr; // the registry has the whole of it now
              if (r.status == submit_reply::accepted)
                up->growing->complete();
              else
                up->growing->fail(failure::words(r.error));
              answer(submission_reply(up->id, r));
            },
            [up, answer](caf::error& e) {
              spdlog::error("the job registry did not answer: {}",
                            caf::to_string(e));
              up->growing->fail(failure::words("the job registry did not "
                                               "answer"));
              answer(to_reply(registry_silent()));
            });
  });
}

// Submits the job while its body still arrives, once the registry has room
// and the first bytes of its input (a raw body, a form's file part) show
// how it lands: plain CSV, or decoded as it arrives (not one kept as it
// came, to be decoded once whole).
void maybe_stream(const std::shared_ptr<server_context>& ctx,
                  const std::shared_ptr<connection>& c,
                  const std::shared_ptr<Tcp::Peer>& peer) {
  upload_state& up = *c->upload;
  if (up.streamed != upload_state::early::undecided || !up.admitted ||
      up.body_done || up.mode == upload_state::input_mode::undecided)
    return;
  // Kept as it came, to be decoded once whole (make_job_input).
  if (up.mode == upload_state::input_mode::whole) {
    up.streamed = upload_state::early::no;
    return;
  }
  up.streamed = upload_state::early::pending;
  up.growing = std::make_shared<growing_file>();
  up.growing->grow(up.sink.written(), up.sink.quotes_written());
  job_submission sub = streamed_submission(up);
  sub.bytes = up.decoder.announced();
  sub.growing = up.growing;
  // From now on an upload that ends early fails its job at the registry,
  // which owns the job's files.
  up.cut = [ctx, growing = up.growing,
            cut = streamed_submission(up)](const std::string& why) {
    growing->fail(failure::words(why));
    ask_registry<submit_reply>(
        *ctx, [](const std::optional<submit_reply>&) {}, uploaded_atom::value,
        cut, why);
  };
  std::weak_ptr<Tcp::Peer> weak_peer = peer;
  const upload_state* asked = &up;
  ask_registry<submit_reply>(
      *ctx,
      [ctx, c, asked, weak_peer](const std::optional<submit_reply>& r) {
        on_live_connection(
            *ctx, *c, weak_peer, [&](const std::shared_ptr<Tcp::Peer>& p) {
              if (c->upload.get() != asked)
                return; // it ended meanwhile (cut: the registry knows)
              upload_state& u = *c->upload;
              if (r && r->status == submit_reply::accepted) {
                u.streamed = upload_state::early::taken;
              } else {
                // Not taken (the queue filled meanwhile): the usual way,
                // whose submission will say so.
                u.streamed = upload_state::early::no;
                u.cut = nullptr;
                u.growing.reset();
              }
              if (u.body_done)
                submit_upload(ctx, c, p);
            });
      },
      submit_atom::value, std::move(sub));
}

// The body is whole and the registry has room: the job's input is made
// and submitted. The upload leaves the connection here (a client that goes
// now cannot take the files of a job the registry may be accepting); the
// answer comes when the registry's does. Making the input flushes it to
// disk and copies a form's file part out: seconds for a big upload, which
// must stall neither the other connections of this Pistache thread nor
// CAF's scheduler, so it runs on a thread of its own (a detached actor,
// which then asks the registry).
void submit_upload(const std::shared_ptr<server_context>& ctx,
                   const std::shared_ptr<connection>& c,
                   const std::shared_ptr<Tcp::Peer>& peer) {
  std::shared_ptr<upload_state> up(std::move(c->upload));
  c->m = connection::mode::closed;
  std::weak_ptr<Tcp::Peer> weak_peer = peer;
  auto answer = [ctx, c, up, weak_peer](const reply& r) {
    if (r.status != http_status::accepted && !up->growing) {
      (void)remove_job_files(up->paths);
    } // else the job owns its directory now (a streamed one: the registry)
    const std::string note = r.status == http_status::accepted
                                 ? "job " + up->id + ", " +
                                       std::to_string(up->decoder.received()) +
                                       " bytes"
                                 : std::string();
    const bool written = on_live_connection(
        *ctx, *c, weak_peer, [&](const std::shared_ptr<Tcp::Peer>& p) {
          answer_and_close(*c, p, r, up->head.method, up->head.target,
                           up->started, note, up->counted);
        });
    if (!written)
      log_request(up->head.method, up->head.target, r.status, up->started,
                  note + (note.empty() ? "" : "; ") +
                      "the client left before the answer");
  };
  if (up->growing)
    return finish_streamed(ctx, up, answer);
  ctx->system.spawn<caf::detached>(
      [ctx, up, answer](caf::event_based_actor* self) {
        std::variant<job_input, api_error> input;
        try { // as onInput's: whatever goes wrong is this upload's 500
          if (auto finished = up->sink.finish(!up->body.multipart); !finished)
            return answer(to_reply(storage_error(finished.error())));
          input = make_job_input(up->body, up->paths.input);
        } catch (const std::exception& e) {
          return answer(to_reply({api_errc::internal, e.what()}));
        }
        if (auto* e = std::get_if<api_error>(&input))
          return answer(to_reply(*e));
        const job_input& in = std::get<job_input>(input);
        self->request(ctx->registry, ctx->config.registry_timeout,
                      submit_atom::value,
                      job_submission{up->id, in.file_name, in.bytes,
                                     in.on_bad_rows, up->started_ms})
            .then([up, answer](
                      submit_reply& r) { answer(submission_reply(up->id, r)); },
                  [answer](caf::error& e) {
                    spdlog::error("the job registry did not answer: {}",
                                  caf::to_string(e));
                    answer(to_reply(registry_silent()));
                  });
      });
}

// The registry's answer to "is there room?" (on a CAF thread).
void on_admission(const std::shared_ptr<server_context>& ctx,
                  const std::shared_ptr<connection>& c,
                  const upload_state* asked,
                  const std::optional<uint32_t>& wait,
                  const std::shared_ptr<Tcp::Peer>& peer) {
  // The upload ended meanwhile (a bad body, an error answered already).
  if (c->upload.get() != asked)
    return;
  upload_state& up = *c->upload;
  if (!wait || *wait > 0) {
    const api_error e =
        !wait ? registry_silent()
              : api_error{api_errc::queue_full,
                          "the job queue is full; retry later", *wait};
    const request_head head = up.head;
    const auto since = up.started;
    std::shared_ptr<void> counted = std::move(up.counted);
    c->drop_upload();
    return answer_and_close(*c, peer, to_reply(e), head.method, head.target,
                            since, {}, counted);
  }
  up.admitted = true;
  if (up.body_done)
    return submit_upload(ctx, c, peer);
  maybe_stream(ctx, c, peer);
  const std::string* expect = up.head.header("Expect");
  if (expect != nullptr && equals_ignoring_case(*expect, "100-continue")) {
    static const std::string go_on = "HTTP/1.1 100 Continue\r\n\r\n";
    peer->send(RawBuffer(go_on, go_on.size()));
  }
}

} // namespace

// The parser of a form upload: its `file` part goes to the sink (the input),
// the first `on_bad_rows` part is kept (at most 64 bytes of it), the rest is
// skipped.
std::unique_ptr<multipart_stream> form_parser(upload_state& up,
                                              std::string_view boundary) {
  multipart_stream::events on;
  on.part_begin = [&up](const stream_part_head& h) {
    // The first `file` part is the input (as parse_multipart's file()).
    up.in_file_part = h.name == file_field_name && !up.file_part_seen;
    up.in_policy_part = h.name == "on_bad_rows" && !up.policy_field;
    if (up.in_file_part) {
      up.file_part_seen = true;
      up.body.file_name = form_file_name(h.filename);
    }
    if (up.in_policy_part)
      up.policy_field.emplace();
  };
  on.content = [&up](std::string_view piece) {
    if (up.in_file_part)
      return write_input(up, piece);
    if (up.in_policy_part && up.policy_field->size() < 64)
      up.policy_field->append(piece.substr(0, 64 - up.policy_field->size()));
    return true;
  };
  on.part_end = [&up] {
    up.in_file_part = false;
    up.in_policy_part = false;
  };
  return std::make_unique<multipart_stream>(boundary, std::move(on));
}

// A form whose body is whole: what it says, or why it is not a job's. From
// here on the upload is a raw body (its input is the file part).
std::optional<api_error> end_form(upload_state& up) {
  if (up.form->finish() != multipart_stream::status::done)
    return api_error{api_errc::bad_multipart,
                     "malformed multipart/form-data body: " +
                         up.form->error().message};
  if (up.policy_field) {
    const auto policy = parse_bad_row_policy(*up.policy_field);
    if (!policy)
      return api_error{api_errc::bad_request,
                       "on_bad_rows is fail or skip, not \"" +
                           up.policy_field->substr(0, 64) + "\""};
    up.body.on_bad_rows = *policy; // a form field wins over the query
  }
  if (!up.file_part_seen)
    return api_error{api_errc::file_required, {}};
  up.body.multipart = false;
  return end_input(up);
}

void start_upload(const std::shared_ptr<server_context>& ctx,
                  const std::shared_ptr<connection>& c, request_head head,
                  std::optional<uint64_t> length, const std::string& rest,
                  const std::string& name_segment,
                  const std::shared_ptr<Tcp::Peer>& peer) {
  const auto since = steady::now();
  const auto refuse = [&](const api_error& e) {
    answer_and_close(*c, peer, to_reply(e), head.method, head.target, since);
  };
  const server_config& cfg = ctx->config;
  if (ctx->draining)
    return refuse(shutting_down_error());
  body_decoder decoder;
  const std::string* coding = head.header("Transfer-Encoding");
  if (coding != nullptr) {
    if (!equals_ignoring_case(*coding, "chunked"))
      return refuse(
          {api_errc::not_implemented,
           "Transfer-Encoding \"" + *coding +
               "\" is not supported: send Content-Length or chunked"});
    decoder = body_decoder::chunked();
  } else if (length) {
    const uint64_t size = *length;
    if (size > cfg.max_upload)
      return refuse(
          {api_errc::too_large,
           (size == UINT64_MAX
                ? std::string("the upload is")
                : "the upload is " + std::to_string(size) + " bytes,") +
               " over the limit of " + std::to_string(cfg.max_upload) +
               " bytes"});
    decoder = body_decoder::fixed(size);
  } else {
    return refuse(
        {api_errc::length_required,
         "an upload needs Content-Length or chunked transfer coding"});
  }

  received_body body;
  // A raw body's name: in the path (what `curl -T` sends), ?filename=, or
  // Content-Disposition, in that order. A form's file part names itself.
  std::variant<std::string, api_error> named;
  if (!name_segment.empty())
    named = encoded_upload_name(name_segment, "in the path");
  else if (auto q = query_param(head.query, "filename"))
    named = encoded_upload_name(*q, "in ?filename=");
  else if (const std::string* d = head.header("Content-Disposition"))
    if (auto f = disposition_filename(*d))
      named = upload_name(std::move(*f), "in Content-Disposition");
  if (const auto* e = std::get_if<api_error>(&named))
    return refuse(*e);
  body.file_name = std::get<std::string>(std::move(named));
  if (const std::string* encoding = head.header("Content-Encoding")) {
    const auto coding = parse_content_encoding(*encoding);
    if (!coding)
      return refuse({api_errc::unsupported_encoding,
                     "Content-Encoding \"" + encoding->substr(0, 64) +
                         "\" is not supported: send gzip, zstd or identity"});
    body.coding = *coding;
  }
  body.max_input = cfg.max_input_size;
  const std::string* type = head.header("Content-Type");
  body.content_type = type != nullptr ? *type : "";
  body.multipart = is_multipart_form_data(body.content_type);
  if (body.multipart) {
    const boundary_result boundary = find_boundary(body.content_type);
    if (!boundary.ok)
      return refuse(
          {api_errc::bad_multipart,
           "malformed multipart/form-data: " + boundary.error.message});
  } else if (!is_csv_type(body.content_type) &&
             !is_compressed_type(body.content_type) && body.file_name.empty() &&
             head.method != "PUT") {
    // A body that is a file by its method (PUT) or its name is taken
    // whatever its Content-Type (curl -T sends none).
    // As the original service: a request without a form file has no file.
    return refuse({api_errc::file_required, {}});
  }
  if (auto mode = query_param(head.query, "on_bad_rows")) {
    const auto policy = parse_bad_row_policy(*mode);
    if (!policy)
      return refuse({api_errc::bad_request,
                     "on_bad_rows is fail or skip, not \"" + *mode + "\""});
    body.on_bad_rows = *policy;
  }

  auto up = std::make_unique<upload_state>();
  ++ctx->uploads;
  up->counted =
      std::shared_ptr<void>(nullptr, [ctx](void*) { --ctx->uploads; });
  up->id = make_job_id();
  up->paths = paths_for(cfg.data_dir, up->id);
  if (::mkdir(up->paths.dir.c_str(), 0755) != 0)
    return refuse(storage_error(
        failure::of_errno("cannot create", up->paths.dir, errno)));
  // A raw body is written under the input's own name: a job counted while
  // it arrives reads it there (the record, saved once it is whole, is what
  // makes it a job: without one it is an interrupted upload at start-up).
  // So is a form's file part, taken out of the form as it arrives.
  const bool whole_form = body.multipart && body.coding != compression::none;
  body.path = whole_form ? up->paths.dir + "/body.tmp" : up->paths.input;
  if (body.multipart && !whole_form)
    up->form = form_parser(*up, find_boundary(body.content_type).boundary);
  if (auto opened = up->sink.open(body.path, !whole_form); !opened) {
    const api_error e = storage_error(opened.error());
    (void)remove_job_files(up->paths);
    return refuse(e);
  }
  up->head = std::move(head);
  up->body = std::move(body);
  up->decoder = std::move(decoder);
  if (whole_form) {
    up->mode = upload_state::input_mode::whole;
  } else if (up->body.coding != compression::none) {
    // A raw body with Content-Encoding: decoded as it arrives, or kept as
    // it came when no turn is free (make_job_input decodes it then).
    start_decoding(*up, up->body.coding);
    if (up->mode == upload_state::input_mode::decoded)
      up->body.coding = compression::none;
  }
  up->started = since;
  c->upload = std::move(up);
  c->m = connection::mode::upload;
  reset_idle_clock(peer); // Pistache's idle clock: from now

  // A full queue is refused as soon as the registry says so, while the
  // body arrives (a client that sent `Expect: 100-continue` has sent none
  // yet: `100 Continue` waits for the registry's yes). The body goes to
  // disk meanwhile, as it would anyway: nothing of it is held in memory.
  std::weak_ptr<Tcp::Peer> weak_peer = peer;
  const upload_state* asked = c->upload.get();
  ask_registry<uint32_t>(
      *ctx,
      [ctx, c, asked, weak_peer](const std::optional<uint32_t>& wait) {
        on_live_connection(*ctx, *c, weak_peer,
                           [&](const std::shared_ptr<Tcp::Peer>& p) {
                             on_admission(ctx, c, asked, wait, p);
                           });
      },
      admit_atom::value);
  continue_upload(ctx, c, rest, peer);
}

void continue_upload(const std::shared_ptr<server_context>& ctx,
                     const std::shared_ptr<connection>& c,
                     std::string_view bytes,
                     const std::shared_ptr<Tcp::Peer>& peer) {
  upload_state& up = *c->upload;
  request_metrics::process().add_upload_bytes(bytes.size());
  const uint64_t limit = ctx->config.max_upload;
  const auto status = up.decoder.feed(bytes, [&](std::string_view piece) {
    if (up.decoder.received() + piece.size() > limit) {
      up.too_large = true;
      return false;
    }
    if (!up.form)
      return write_input(up, piece);
    const auto parsed = up.form->feed(piece);
    return parsed != multipart_stream::status::failed &&
           parsed != multipart_stream::status::stopped;
  });
  if (up.growing) {
    up.growing->grow(up.sink.written(), up.sink.quotes_written());
    up.sink.release_read(up.growing->now().done);
  }
  if (status == body_decoder::status::more) {
    maybe_stream(ctx, c, peer);
    // Pistache's clock (see idle_timeout) is reset only while the upload
    // keeps up the minimum rate since the last reset: one that trickles
    // runs into the timeout as one that stalls.
    up.since_reset += bytes.size();
    const auto now = steady::now();
    const double seconds =
        std::chrono::duration<double>(now - up.clock_reset).count();
    if (now - up.clock_reset >= clock_reset_every &&
        static_cast<double>(up.since_reset) >=
            static_cast<double>(ctx->config.min_upload_rate) * seconds) {
      reset_idle_clock(peer);
      up.clock_reset = now;
      up.since_reset = 0;
    }
    return;
  }
  std::optional<api_error> refused;
  if (status == body_decoder::status::done)
    refused = up.form ? end_form(up) : end_input(up);
  if (status == body_decoder::status::done && !refused) {
    up.body_done = true;
    // A submission while it arrived that has no answer yet goes on when it
    // has (maybe_stream).
    if (up.admitted && up.streamed != upload_state::early::pending)
      return submit_upload(ctx, c, peer);
    // Bytes after the body are dropped (the answer closes the
    // connection); the registry's yes submits it.
    c->m = connection::mode::closed;
    return;
  }
  api_error e;
  if (refused)
    e = *refused;
  else if (up.too_large)
    e = {api_errc::too_large,
         "the upload is over the limit of " + std::to_string(limit) + " bytes"};
  else if (up.decoding && up.decoding->error())
    e = *up.decoding->error();
  else if (up.sink.error())
    e = storage_error(*up.sink.error());
  else if (up.form && up.form->state() == multipart_stream::status::failed)
    e = {api_errc::bad_multipart,
         "malformed multipart/form-data body: " + up.form->error().message};
  else
    e = {api_errc::bad_request,
         "a malformed chunked body: " + up.decoder.error()};
  if (up.cut) {
    up.cut("upload incomplete: " + e.message);
    up.cut = nullptr;
  }
  const request_head head = up.head;
  const auto since = up.started;
  std::shared_ptr<void> counted = std::move(up.counted);
  c->drop_upload();
  answer_and_close(*c, peer, to_reply(e), head.method, head.target, since, {},
                   counted);
}

} // namespace playcount::http
