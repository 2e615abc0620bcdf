#include "http/server.hpp"

#include "actors/job_store.hpp"
#include "actors/messages.hpp"
#include "core/input_error.hpp"
#include "http/acceptor.hpp"
#include "http/access.hpp"
#include "http/api.hpp"
#include "http/download_pump.hpp"
#include "http/metrics.hpp"
#include "http/multipart.hpp"
#include "http/pistache_access.hpp"
#include "http/routes.hpp"
#include "http/upload.hpp"
#include "http/web.hpp"
#include "http/wire.hpp"

#include <caf/all.hpp>
#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <variant>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

// How a request travels (see PISTACHE_NOTES.md for the facts behind it):
//
// Pistache 0.0.5 buffers a whole request in memory (about twice its size)
// before any handler runs, cannot answer 413 reliably for large overshoots,
// never answers `Expect: 100-continue`, and counts its body timeout from
// the start of the request. So `front_handler` looks at each request's head
// itself, in onInput, before Pistache's parser sees a byte:
//
// - `POST /jobs/count/` is read by us: the limits are checked on the head
//   (413 from Content-Length, 503 from the registry) before the body is
//   read, `100 Continue` is sent when asked for, and the body goes to disk
//   as it arrives. Pistache's parser is never fed; we only reset its clock
//   while bytes arrive, so that Pistache's idle check (header/body timeout)
//   cuts off a stalled upload but never a slow one that makes progress.
//   The answer is written to the socket directly and the connection closed.
// - Everything else is handed to Pistache's own onInput, one request at a
//   time (head and body, never the bytes of a pipelined next request, whose
//   head we look at first too), and answered in onRequest through the
//   route table of http/routes.hpp.
//
// Every head is judged by us before Pistache sees it, so that what
// Pistache 0.0.5 would get wrong gets a JSON error instead: a head that is
// not HTTP/1.x (400; Pistache would wait for more and answer 408), a
// method Pistache does not know (501; Pistache: 400 text), a negative or
// huge Content-Length (400 or 413; Pistache: 500 "std::bad_alloc"), two
// different Content-Lengths (400), a head over 64 KiB (431), a missing or
// wrong bearer token (401). Pistache answers on its own only what it
// finds wrong in a request we handed it (a body under 64 KiB), and
// timeouts: its idle check (TransportImpl::checkIdlePeers) sends a bare
// `408 Request Timeout` without a body and closes the connection, without
// asking the handler (Handler::onTimeout is never called for it).

namespace playcount::http {

namespace {

using namespace Pistache;
using steady = std::chrono::steady_clock;

// Requests other than the upload carry no body worth having.
constexpr size_t max_request_size = 64 * 1024;
constexpr size_t max_head_size = 64 * 1024;
// Pistache's idle clock is reset at most this often during an upload.
constexpr auto clock_reset_every = std::chrono::milliseconds(500);

struct context {
  context(caf::actor_system& system_in, caf::actor registry_in,
          server_config config_in)
      : system(system_in)
      , registry(std::move(registry_in))
      , config(std::move(config_in)) {}
  caf::actor_system& system;
  caf::actor registry;
  server_config config;
  download_pump* pump = nullptr; // set before the first request
  // Warm shutdown (server::drain): uploads get 503, /healthz 503.
  mutable std::atomic<bool> draining{false};
  // Uploads being received (and answered): the shutdown waits for them.
  mutable std::atomic<size_t> uploads{0};
};

constexpr const char* slot_key = "playcount.slot";

// A response header with a name chosen at run time. Pistache writes only
// typed headers (a raw one added with addRaw is not sent), and its
// CUSTOM_HEADER macro cannot name `Retry-After` or `Content-Disposition`.
class named_header : public Http::Header::Header {
public:
  named_header(std::string name, std::string value)
      : name_(std::move(name))
      , value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void parse(const std::string& data) override { value_ = data; }
  void write(std::ostream& os) const override { os << value_; }
#ifdef SAFE_HEADER_CAST
  uint64_t hash() const override {
    return Http::Header::detail::hash(name_.c_str());
  }
#endif

private:
  std::string name_;
  std::string value_;
};

// Asks the registry and waits (a handler runs on a Pistache thread, not in
// an actor). nullopt when it does not answer in time.
template <class Result, class... Ts>
std::optional<Result> ask(const context& ctx, Ts&&... xs) {
  caf::scoped_actor self{ctx.system};
  std::optional<Result> out;
  self->request(ctx.registry, ctx.config.registry_timeout,
                std::forward<Ts>(xs)...)
      .receive([&](Result& r) { out = std::move(r); },
               [&](caf::error& e) {
                 spdlog::error("the job registry did not answer: {}",
                               caf::to_string(e));
               });
  return out;
}

const api_error registry_silent{api_errc::unavailable,
                                "the job registry did not answer; try again"};

std::string raw_response(const reply& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " +
                    reason_phrase(r.status) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  for (const auto& [name, value] : r.headers)
    out += name + ": " + value + "\r\n";
  out += "Connection: close\r\n\r\n";
  out += r.body;
  return out;
}

bool is_csv_type(std::string_view content_type) {
  const std::string_view media = content_type.substr(0, content_type.find(';'));
  std::string_view trimmed = media;
  while (!trimmed.empty() && trimmed.back() == ' ')
    trimmed.remove_suffix(1);
  return equals_ignoring_case(trimmed, "text/csv") ||
         equals_ignoring_case(trimmed, "application/csv");
}

void log_request(std::string_view method, std::string_view target, int status,
                 steady::time_point since, std::string_view note = {}) {
  const double ms =
      std::chrono::duration<double, std::milli>(steady::now() - since).count();
  request_metrics::process().observe(classify(method, target), status,
                                     ms / 1000);
  spdlog::info("{} {} {} {:.1f} ms{}{}", escape_value(method, 16),
               escape_value(target, 2048), status, ms,
               note.empty() ? "" : " ", note);
}

// An upload being received.
struct upload_state {
  uint64_t since_reset = 0; // bytes received since Pistache's clock reset
  request_head head;
  std::string id;
  job_paths paths;
  received_body body;
  body_decoder decoder;
  file_sink sink;
  bool too_large = false;
  steady::time_point started = steady::now();
  steady::time_point clock_reset = steady::now();
  // Counted in context::uploads until its answer is out.
  std::shared_ptr<void> counted;
};

// What we know of one connection, kept in the peer's data.
struct connection {
  enum class mode : uint8_t {
    head,     // reading a request head
    pistache, // Pistache is parsing the current request
    upload,   // receiving an upload's body
    closed    // answered and closing: input is dropped
  };
  mode m = mode::head;
  std::string head; // bytes of the next request(s), not yet judged
  uint64_t body_left = 0; // pistache: body bytes of this request to come
  std::unique_ptr<upload_state> upload;
  /// Forgets an upload that did not become a job, with its files.
  void drop_upload() {
    if (upload) {
      std::string ignored;
      (void)remove_job_files(upload->paths, ignored);
      upload.reset();
    }
  }
  ~connection() {
    // The connection went away mid-upload (the client gave up, or the
    // server stopped): nothing of the upload may stay.
    drop_upload();
  }
};

constexpr const char* connection_key = "playcount.connection";

class front_handler : public Http::Handler {
public:
  HTTP_PROTOTYPE(front_handler)

  explicit front_handler(std::shared_ptr<const context> ctx)
      : ctx_(std::move(ctx)) {}

  void onRequest(const Http::Request& req, Http::ResponseWriter w) override;

private:
  void onInput(const char* data, size_t size,
               const std::shared_ptr<Tcp::Peer>& peer) override;
  void onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) override;

  void dispatch_input(const char* data, size_t size,
                      const std::shared_ptr<Tcp::Peer>& peer);
  connection& connection_of(const std::shared_ptr<Tcp::Peer>& peer);
  void to_pistache(connection& c, std::string_view bytes,
                   const std::shared_ptr<Tcp::Peer>& peer);
  void judge_head(connection& c, const std::shared_ptr<Tcp::Peer>& peer);
  void start_upload(connection& c, request_head head,
                    std::optional<uint64_t> length, std::string rest,
                    const std::shared_ptr<Tcp::Peer>& peer);
  void continue_upload(connection& c, std::string_view bytes,
                       const std::shared_ptr<Tcp::Peer>& peer);
  void finish_upload(connection& c, const std::shared_ptr<Tcp::Peer>& peer);
  reply submit(upload_state& up);
  void answer_and_close(connection& c, const std::shared_ptr<Tcp::Peer>& peer,
                        const reply& r, std::string_view method,
                        std::string_view target, steady::time_point since,
                        std::string_view note = {},
                        std::shared_ptr<void> hold = {});
  reply handle(const Http::Request& req, const std::string& method);
  std::optional<reply> hand_over(const reply& r, connection& c,
                                 const std::shared_ptr<Tcp::Peer>& peer,
                                 const std::string& label);

  std::shared_ptr<const context> ctx_;
};

connection&
front_handler::connection_of(const std::shared_ptr<Tcp::Peer>& peer) {
  auto data = peer->tryGetData(connection_key);
  if (!data) {
    data = std::make_shared<connection>();
    peer->putData(connection_key, data);
  }
  return *std::static_pointer_cast<connection>(data);
}

void front_handler::onInput(const char* data, size_t size,
                            const std::shared_ptr<Tcp::Peer>& peer) {
  // Nothing may escape into Pistache's reactor loop, which would end the
  // process: whatever goes wrong answers this one connection with 500.
  try {
    dispatch_input(data, size, peer);
  } catch (const std::exception& e) {
    spdlog::error("a connection failed: {}", e.what());
    connection& c = connection_of(peer);
    if (c.m != connection::mode::closed) {
      c.drop_upload();
      answer_and_close(c, peer, to_reply({api_errc::internal, e.what()}), "?",
                       "?", steady::now());
    }
  }
}

// The methods Pistache 0.0.5 parses (http_defs.h HTTP_METHODS); it answers
// any other with a 400 in plain text.
bool pistache_knows(std::string_view method) {
  for (const char* m : {"OPTIONS", "GET", "POST", "HEAD", "PUT", "PATCH",
                        "DELETE", "TRACE", "CONNECT"})
    if (method == m)
      return true;
  return false;
}

// A request line for a message: its first line, at most 60 bytes, escaped
// like any value a client sent (core/input_error.hpp).
std::string printable(std::string_view text) {
  text = text.substr(0, text.find("\r\n"));
  return escape_value(text, 60) + (text.size() > 60 ? "..." : "");
}

// Why a head that parse_request_head refused is no request.
api_error malformed_head(std::string_view text) {
  const std::string_view line = text.substr(0, text.find("\r\n"));
  const size_t last = line.rfind(' ');
  if (last != std::string_view::npos &&
      line.substr(last + 1).rfind("HTTP/", 0) == 0 &&
      line.substr(last + 1).rfind("HTTP/1.", 0) != 0)
    return {api_errc::http_version,
            "this server speaks HTTP/1.1, not " +
                printable(line.substr(last + 1))};
  if (line.find(' ') == std::string_view::npos ||
      line.find(' ') == last || line.substr(last + 1).rfind("HTTP/1.", 0) != 0)
    return {api_errc::bad_request, "not an HTTP/1.1 request line: \"" +
                                       printable(line) + "\""};
  return {api_errc::bad_request,
          "a malformed request head (request line \"" + printable(line) +
              "\")"};
}

// The body's length as the head declares it: nullopt when it declares
// none (or chunked); UINT64_MAX for a length of more digits than any
// limit. An error for what cannot be trusted: a length that is not a
// number, two different ones, or a length and a transfer coding at once
// (RFC 9112 §6.3: a sign of request smuggling).
std::variant<std::optional<uint64_t>, api_error>
declared_length(const request_head& head) {
  std::optional<uint64_t> length;
  for (const auto& [name, value] : head.headers) {
    if (!equals_ignoring_case(name, "Content-Length"))
      continue;
    std::optional<uint64_t> v = parse_content_length(value);
    if (!v && !value.empty() &&
        value.find_first_not_of("0123456789") == std::string::npos)
      v = UINT64_MAX; // 20 digits or more: over every limit
    if (!v)
      return api_error{api_errc::bad_request, "a malformed Content-Length: \"" +
                                                  printable(value) + "\""};
    if (length && *length != *v)
      return api_error{api_errc::bad_request,
                       "two different Content-Length headers"};
    length = v;
  }
  if (length && head.header("Transfer-Encoding") != nullptr)
    return api_error{api_errc::bad_request,
                     "both Content-Length and Transfer-Encoding"};
  return length;
}

void front_handler::dispatch_input(const char* data, size_t size,
                                   const std::shared_ptr<Tcp::Peer>& peer) {
  connection& c = connection_of(peer);
  std::string_view in(data, size);
  while (true) {
    switch (c.m) {
    case connection::mode::pistache: {
      if (c.body_left == 0) // Pistache wants more than we know of
        return to_pistache(c, in, peer);
      const size_t n = static_cast<size_t>(
          std::min<uint64_t>(in.size(), c.body_left));
      c.body_left -= n;
      to_pistache(c, in.substr(0, n), peer);
      in.remove_prefix(n);
      if (in.empty() || c.m == connection::mode::closed)
        return;
      if (c.m != connection::mode::head) { // cannot be: the body is whole
        c.head.clear();
        return to_pistache(c, in, peer);
      }
      continue;
    }
    case connection::mode::upload:
      return continue_upload(c, in, peer);
    case connection::mode::closed:
      return;
    case connection::mode::head:
      break;
    }
    c.head.append(in);
    in = {};
    const size_t before = c.head.size();
    judge_head(c, peer);
    // Another request waits behind the one just handed to Pistache.
    if (c.m == connection::mode::head && !c.head.empty() &&
        c.head.size() < before)
      continue;
    return;
  }
}

void front_handler::judge_head(connection& c,
                               const std::shared_ptr<Tcp::Peer>& peer) {
  const auto since = steady::now();
  // RFC 9112 §2.2: empty lines before a request line are ignored.
  const size_t first = c.head.find_first_not_of("\r\n");
  c.head.erase(0, first == std::string::npos ? c.head.size() : first);
  const size_t end = c.head.find("\r\n\r\n");
  if (end == std::string::npos ? c.head.size() > max_head_size
                               : end > max_head_size)
    return answer_and_close(c, peer,
                            to_reply({api_errc::header_too_large,
                                      "the request head is over 64 KiB"}),
                            "?", "?", since);
  if (end == std::string::npos)
    return;
  const std::string_view text = std::string_view(c.head).substr(0, end);
  request_head head;
  if (!parse_request_head(text, head))
    return answer_and_close(c, peer, to_reply(malformed_head(text)), "?", "?",
                            since);
  const auto refuse = [&](const api_error& e) {
    answer_and_close(c, peer, to_reply(e), head.method, head.target, since);
  };
  if (head.target == "*") {
    // RFC 9110 §9.3.7: `OPTIONS *` asks about the server as a whole.
    if (head.method != "OPTIONS")
      return refuse({api_errc::bad_request,
                     "the target * is for OPTIONS only"});
    reply r;
    r.content_type = "text/plain";
    r.headers.emplace_back("Allow", "GET, POST, DELETE, OPTIONS");
    return answer_and_close(c, peer, r, head.method, head.target, since);
  }
  if (!pistache_knows(head.method))
    return refuse({api_errc::not_implemented,
                   "the method " + printable(head.method) +
                       " is not implemented"});
  const server_config& cfg = ctx_->config;
  if (auto denied = check_access({cfg.api_token, cfg.admin_token}, head.path,
                                 head.header("Authorization")))
    return refuse(*denied);
  auto framing = declared_length(head);
  if (auto* e = std::get_if<api_error>(&framing))
    return refuse(*e);
  const std::optional<uint64_t> length =
      std::get<std::optional<uint64_t>>(framing);
  const route_match route = match_route(head.method, head.path);
  if (route.kind == route_match::found && route.target == endpoint::upload) {
    std::string rest = c.head.substr(end + 4);
    c.head.clear();
    return start_upload(c, std::move(head), length, std::move(rest), peer);
  }
  // Pistache would buffer any body, and answers a large overshoot of its
  // limit with nothing at all. None of these endpoints takes a body.
  if (length && *length > max_request_size)
    return refuse(
        {api_errc::too_large, "this endpoint takes no body over 64 KiB"});
  if (head.header("Transfer-Encoding") != nullptr)
    return refuse({api_errc::bad_request,
                   "only POST /jobs/count/ takes a Transfer-Encoding"});
  // This request, and not a byte of the next: Pistache would drop those.
  const uint64_t body = length.value_or(0);
  const size_t have = std::min<size_t>(c.head.size() - (end + 4),
                                       static_cast<size_t>(body));
  std::string bytes = c.head.substr(0, end + 4 + have);
  c.head.erase(0, end + 4 + have);
  if (head.absolute_form) // Pistache routes the path, never a whole URI
    bytes.replace(0, bytes.find("\r\n"),
                  head.method + " " + head.target + " " + head.version);
  c.body_left = body - have;
  c.m = connection::mode::pistache;
  to_pistache(c, bytes, peer);
}

void front_handler::to_pistache(connection& c, std::string_view bytes,
                                const std::shared_ptr<Tcp::Peer>& peer) {
  pistache_on_input(*this, bytes.data(), bytes.size(), peer);
  // Back at the request line: the request was answered (or refused), and
  // the next one starts with a head we look at again.
  if (c.m == connection::mode::pistache &&
      getParser(peer)->step()->id() == Http::Private::RequestLineStep::Id)
    c.m = connection::mode::head;
}

void front_handler::onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) {
  auto data = peer->tryGetData(connection_key);
  if (data) {
    auto& c = *std::static_pointer_cast<connection>(data);
    if (c.upload) {
      log_request(c.upload->head.method, c.upload->head.target, 0,
                  c.upload->started,
                  "aborted by the client after " +
                      std::to_string(c.upload->decoder.received()) + " bytes");
      c.drop_upload();
    }
  }
  Tcp::Handler::onDisconnection(peer);
}

void front_handler::start_upload(connection& c, request_head head,
                                 std::optional<uint64_t> length,
                                 std::string rest,
                                 const std::shared_ptr<Tcp::Peer>& peer) {
  const auto since = steady::now();
  const auto refuse = [&](api_error e) {
    answer_and_close(c, peer, to_reply(e), head.method, head.target, since);
  };
  const server_config& cfg = ctx_->config;
  if (ctx_->draining)
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
           (size == UINT64_MAX ? std::string("the upload is")
                               : "the upload is " + std::to_string(size) +
                                     " bytes,") +
               " over the limit of " + std::to_string(cfg.max_upload) +
               " bytes"});
    decoder = body_decoder::fixed(size);
  } else {
    return refuse(
        {api_errc::length_required,
         "an upload needs Content-Length or chunked transfer coding"});
  }

  received_body body;
  const std::string* type = head.header("Content-Type");
  body.content_type = type != nullptr ? *type : "";
  body.multipart = is_multipart_form_data(body.content_type);
  if (body.multipart) {
    const boundary_result boundary = find_boundary(body.content_type);
    if (!boundary.ok)
      return refuse(
          {api_errc::bad_multipart,
           "malformed multipart/form-data: " + boundary.error.message});
  } else if (!is_csv_type(body.content_type)) {
    // As the original service: a request without a form file has no file.
    return refuse({api_errc::file_required, {}});
  }
  if (auto mode = query_param(head.query, "on_bad_rows")) {
    const auto skip = parse_on_bad_rows(*mode);
    if (!skip)
      return refuse({api_errc::bad_request,
                     "on_bad_rows is fail or skip, not \"" + *mode + "\""});
    body.skip_bad_rows = *skip;
  }

  // A full queue is refused before the body is read, not after.
  const auto wait = ask<uint32_t>(*ctx_, admit_atom::value);
  if (!wait)
    return refuse(registry_silent);
  if (*wait > 0)
    return refuse(
        {api_errc::queue_full, "the job queue is full; retry later", *wait});

  auto up = std::make_unique<upload_state>();
  ++ctx_->uploads;
  up->counted = std::shared_ptr<void>(
      nullptr, [ctx = ctx_](void*) { --ctx->uploads; });
  up->id = make_job_id();
  up->paths = paths_for(cfg.data_dir, up->id);
  std::string error;
  if (::mkdir(up->paths.dir.c_str(), 0755) != 0)
    return refuse(storage_error(errno, "cannot create " + up->paths.dir));
  body.path =
      body.multipart ? up->paths.dir + "/body.tmp" : up->paths.input + ".tmp";
  if (!up->sink.open(body.path, !body.multipart, error)) {
    const api_error e = storage_error(up->sink.error_code(), error);
    std::string ignored;
    (void)remove_job_files(up->paths, ignored);
    return refuse(e);
  }
  up->head = std::move(head);
  up->body = std::move(body);
  up->decoder = std::move(decoder);
  up->started = since;
  c.upload = std::move(up);
  c.m = connection::mode::upload;
  getParser(peer)->reset(); // Pistache's idle clock: from now
  const std::string* expect = c.upload->head.header("Expect");
  if (expect != nullptr && equals_ignoring_case(*expect, "100-continue")) {
    static const std::string go_on = "HTTP/1.1 100 Continue\r\n\r\n";
    peer->send(RawBuffer(go_on, go_on.size()));
  }
  continue_upload(c, rest, peer);
}

void front_handler::continue_upload(connection& c, std::string_view bytes,
                                    const std::shared_ptr<Tcp::Peer>& peer) {
  upload_state& up = *c.upload;
  request_metrics::process().add_upload_bytes(bytes.size());
  const uint64_t limit = ctx_->config.max_upload;
  const auto status = up.decoder.feed(bytes, [&](std::string_view piece) {
    if (up.sink.size() + piece.size() > limit) {
      up.too_large = true;
      return false;
    }
    return up.sink.write(piece);
  });
  if (status == body_decoder::status::more) {
    // Pistache's clock (see idle_timeout) is reset only while the upload
    // keeps up the minimum rate since the last reset: one that trickles
    // runs into the timeout as one that stalls.
    up.since_reset += bytes.size();
    const auto now = steady::now();
    const double seconds =
        std::chrono::duration<double>(now - up.clock_reset).count();
    if (now - up.clock_reset >= clock_reset_every &&
        static_cast<double>(up.since_reset) >=
            static_cast<double>(ctx_->config.min_upload_rate) * seconds) {
      getParser(peer)->reset();
      up.clock_reset = now;
      up.since_reset = 0;
    }
    return;
  }
  if (status == body_decoder::status::done)
    return finish_upload(c, peer);
  api_error e;
  if (up.too_large)
    e = {api_errc::too_large,
         "the upload is over the limit of " + std::to_string(limit) + " bytes"};
  else if (!up.sink.error().empty())
    e = storage_error(up.sink.error_code(), up.sink.error());
  else
    e = {api_errc::bad_request,
         "a malformed chunked body: " + up.decoder.error()};
  const request_head head = up.head;
  const auto since = up.started;
  std::shared_ptr<void> counted = std::move(up.counted);
  c.drop_upload();
  answer_and_close(c, peer, to_reply(e), head.method, head.target, since, {},
                   std::move(counted));
}

reply front_handler::submit(upload_state& up) {
  std::string error;
  if (!up.sink.finish(!up.body.multipart, error))
    return to_reply(storage_error(up.sink.error_code(), error));
  auto input = make_job_input(up.body, up.paths.input);
  if (auto* e = std::get_if<api_error>(&input))
    return to_reply(*e);
  const job_input& in = std::get<job_input>(input);
  const auto answer = ask<submit_reply>(
      *ctx_, submit_atom::value,
      job_submission{up.id, in.file_name, in.bytes, in.skip_bad_rows});
  if (!answer)
    return to_reply(registry_silent);
  switch (answer->status) {
  case submit_reply::accepted:
    return accepted_reply(up.id);
  case submit_reply::queue_full:
    return to_reply({api_errc::queue_full, "the job queue is full; retry later",
                     answer->retry_after});
  default:
    // The registry's reason names files: for the log only.
    spdlog::error("job {} could not be stored: {}", up.id, answer->error);
    return to_reply({api_errc::storage,
                     "the job could not be stored (a storage error on the "
                     "server; see its log)"});
  }
}

void front_handler::finish_upload(connection& c,
                                  const std::shared_ptr<Tcp::Peer>& peer) {
  upload_state& up = *c.upload;
  const reply r = submit(up);
  const std::string note =
      r.status == 202 ? "job " + up.id + ", " +
                            std::to_string(up.decoder.received()) + " bytes"
                      : std::string();
  const request_head head = up.head;
  const auto since = up.started;
  std::shared_ptr<void> counted = std::move(up.counted);
  if (r.status == 202)
    c.upload.reset(); // the job owns its directory now
  else
    c.drop_upload();
  answer_and_close(c, peer, r, head.method, head.target, since, note,
                   std::move(counted));
}

void front_handler::answer_and_close(connection& c,
                                     const std::shared_ptr<Tcp::Peer>& peer,
                                     const reply& r, std::string_view method,
                                     std::string_view target,
                                     steady::time_point since,
                                     std::string_view note,
                                     std::shared_ptr<void> hold) {
  c.m = connection::mode::closed;
  c.head.clear();
  const std::string text = raw_response(r);
  const int fd = peer->fd();
  // Half-close once the answer is out: the client sees the end, and a
  // client still sending (an early 413) stops; Pistache closes the socket
  // when the client does, or at its idle timeout.
  // `hold` (an upload's count) lasts until the answer is written.
  peer->send(RawBuffer(text, text.size()))
      .then([fd, hold](ssize_t) { ::shutdown(fd, SHUT_WR); },
            [hold](std::exception_ptr) {});
  log_request(method, target, r.status, since, note);
}

Async::Promise<ssize_t> send_reply(Http::ResponseWriter& w, const reply& r) {
  for (const auto& [name, value] : r.headers)
    w.headers().add(std::make_shared<named_header>(name, value));
  const auto mime = Http::Mime::MediaType::fromString(r.content_type);
  return w.send(static_cast<Http::Code>(r.status), r.body, mime);
}

// Gives a file reply to the download pump (download_pump.hpp), which
// sends it on a duplicate of the socket; Pistache's side of the
// connection only drops what the client sends after its request, and is
// closed by Pistache (idle) or when the client closes. nullopt when the
// pump took it; otherwise the reply to send instead.
std::optional<reply>
front_handler::hand_over(const reply& r, connection& c,
                         const std::shared_ptr<Tcp::Peer>& peer,
                         const std::string& label) {
  const int file = ::open(r.file.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (file < 0 || ::fstat(file, &st) != 0) {
    const int err = errno;
    if (file >= 0)
      ::close(file);
    if (err == ENOENT) // deleted or expired since the lookup
      return result_reply(job_lookup{}, {});
    spdlog::error("cannot send {}: {}", r.file, std::strerror(err));
    return to_reply({api_errc::internal, "the result cannot be read: " +
                                             std::string(std::strerror(err))});
  }
  const int socket = ::fcntl(peer->fd(), F_DUPFD_CLOEXEC, 0);
  if (socket < 0) {
    const int err = errno;
    ::close(file);
    spdlog::error("cannot send {}: {}", r.file, std::strerror(err));
    reply busy = to_reply({api_errc::unavailable,
                           "the server is out of resources (" +
                               std::string(std::strerror(err)) +
                               "); retry later"});
    busy.headers.emplace_back("Retry-After", "1");
    return busy;
  }
  const auto length = static_cast<uint64_t>(st.st_size);
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " +
                     reason_phrase(r.status) + "\r\n";
  head += "Content-Type: " + r.content_type + "\r\n";
  head += "Content-Length: " + std::to_string(length) + "\r\n";
  for (const auto& [name, value] : r.headers)
    head += name + ": " + value + "\r\n";
  // One response on this connection: the pump ends it by closing its side.
  head += "Connection: close\r\n\r\n";
  c.m = connection::mode::closed;
  c.head.clear();
  // Pistache's idle check then closes its descriptor quietly at the idle
  // timeout (an idle peer gets no 408), which leaves the pump's copy open.
  peer->setIdle(true);
  ctx_->pump->hand_over(socket, file, std::move(head), length,
                        peer->tryGetData(slot_key), label);
  return std::nullopt;
}

reply front_handler::handle(const Http::Request& req,
                            const std::string& method) {
  const std::string path = req.resource();
  const route_match route = match_route(method, path);
  if (route.kind == route_match::no_route)
    return to_reply(
        {api_errc::no_route, "no such endpoint: " + method + " " + path});
  if (route.kind == route_match::bad_method)
    return to_reply({api_errc::method_not_allowed,
                     method + " is not allowed here; use " + route.allow, 0,
                     route.allow});
  const context& ctx = *ctx_;
  switch (route.target) {
  case endpoint::job_result: {
    if (!is_job_id(route.id))
      return result_reply(job_lookup{}, {});
    const auto found = ask<job_lookup>(ctx, lookup_atom::value, route.id);
    if (!found)
      return to_reply(registry_silent);
    return result_reply(*found,
                        paths_for(ctx.config.data_dir, route.id).result);
  }
  case endpoint::job: {
    if (!is_job_id(route.id))
      return to_reply({api_errc::job_not_found, {}});
    if (method == "DELETE") {
      const auto gone = ask<job_deletion>(ctx, delete_atom::value, route.id);
      return gone ? deletion_reply(*gone) : to_reply(registry_silent);
    }
    const auto found = ask<job_lookup>(ctx, lookup_atom::value, route.id);
    return found ? job_reply(*found) : to_reply(registry_silent);
  }
  case endpoint::jobs: {
    uint32_t limit = 100;
    if (auto text = req.query().get("limit")) {
      const bool digits =
          !text->empty() && text->size() <= 4 &&
          text->find_first_not_of("0123456789") == std::string::npos;
      if (!digits || std::stoul(*text) < 1 || std::stoul(*text) > 1000)
        return to_reply(
            {api_errc::bad_request, "limit is a number from 1 to 1000"});
      limit = static_cast<uint32_t>(std::stoul(*text));
    }
    const auto list = ask<job_list>(ctx, list_atom::value, limit);
    return list ? jobs_reply(*list) : to_reply(registry_silent);
  }
  case endpoint::stats: {
    const auto stats = ask<registry_stats>(ctx, stats_atom::value);
    return stats ? stats_reply(*stats) : to_reply(registry_silent);
  }
  case endpoint::health:
    return health_reply(ctx.draining);
  case endpoint::page:
    return web_reply(route.id);
  case endpoint::metrics: {
    const auto stats = ask<registry_stats>(ctx, stats_atom::value);
    return metrics_reply(stats ? &*stats : nullptr);
  }
  case endpoint::upload:
    break; // taken in onInput, never here
  }
  return to_reply({api_errc::internal, "the request took a wrong turn"});
}

void front_handler::onRequest(const Http::Request& req,
                              Http::ResponseWriter w) {
  const auto since = steady::now();
  const std::string method = Http::methodString(req.method());
  reply r;
  try {
    r = handle(req, method);
  } catch (const std::exception& e) {
    r = to_reply({api_errc::internal, e.what()});
  }
  if (!r.file.empty()) {
    const auto peer = w.getPeer();
    std::optional<reply> refused =
        peer ? hand_over(r, connection_of(peer), peer, req.resource())
             : std::optional<reply>(to_reply({api_errc::internal,
                                              "the connection is gone"}));
    if (!refused) {
      // The pump answers; `w` goes without a word (Pistache sends nothing
      // for a writer that is not used).
      log_request(method, req.resource(), r.status, since, "(file)");
      return;
    }
    r = std::move(*refused);
  }
  const int status = r.status;
  const std::string note;
  // Pistache says `Connection: Close` to a request that did not ask for
  // keep-alive, but leaves the socket open: close it once the answer is
  // out, or a client that reads to the end waits for the idle timeout.
  const auto connection = w.headers().tryGet<Http::Header::Connection>();
  const bool close =
      !connection || connection->control() == Http::ConnectionControl::Close;
  const auto peer = w.getPeer();
  const int fd = peer ? peer->fd() : -1;
  send_reply(w, r)
      .then(
          [close, fd](ssize_t) {
            if (close && fd >= 0)
              ::shutdown(fd, SHUT_WR);
          },
          [](std::exception_ptr) {});
  log_request(method, req.resource(), status, since, note);
}

} // namespace

struct server::impl {
  std::shared_ptr<context> ctx;
  // Destroyed in this order's reverse; stop() stops them in the right one.
  std::unique_ptr<download_pump> pump;
  std::unique_ptr<Http::Endpoint> endpoint;
  std::unique_ptr<acceptor> accepting;
  uint16_t port = 0;
};

namespace {

// A 503 the acceptor sends on its own (no request read).
std::string refusal(const std::string& message) {
  reply r = to_reply({api_errc::unavailable, message});
  r.headers.emplace_back("Retry-After", "1");
  return raw_response(r);
}

} // namespace

server::server(caf::actor_system& system, caf::actor registry,
               server_config config)
    : impl_(std::make_unique<impl>()) {
  impl_->ctx = std::make_shared<context>(system, std::move(registry),
                                         std::move(config));
}

server::~server() {
  stop();
}

bool server::start(std::string& error) {
  const server_config& cfg = impl_->ctx->config;
  impl_->pump = std::make_unique<download_pump>(cfg.idle_timeout);
  if (!impl_->pump->start(error))
    return false;
  impl_->ctx->pump = impl_->pump.get();
  try {
    auto endpoint =
        std::make_unique<Http::Endpoint>(Address(cfg.host, Port(cfg.port)));
    endpoint->init(Http::Endpoint::options()
                       .threads(static_cast<int>(cfg.threads))
                       .threadsName("playcount-http")
                       .flags(Tcp::Options::ReuseAddr)
                       .maxRequestSize(max_request_size)
                       .headerTimeout(cfg.idle_timeout)
                       .bodyTimeout(cfg.idle_timeout)
                       .keepaliveTimeout(cfg.idle_timeout));
    endpoint->setHandler(std::make_shared<front_handler>(impl_->ctx));
    endpoint->serveThreaded();
    impl_->port = static_cast<uint16_t>(endpoint->getPort());
    // From here on we accept (acceptor.hpp); a connection Pistache took
    // in the moment before is served as any other, uncounted.
    const int listen_fd = pistache_take_listener(*endpoint);
    Http::Endpoint* ep = endpoint.get();
    impl_->endpoint = std::move(endpoint);
    auto accepting = std::make_unique<acceptor>(
        listen_fd, std::make_shared<connection_slots>(cfg.max_connections),
        [ep](int fd, const sockaddr_storage& addr, std::shared_ptr<void> slot) {
          sockaddr_storage copy = addr;
          auto peer = Tcp::Peer::Create(
              fd, Address::fromUnix(reinterpret_cast<sockaddr*>(&copy)));
          peer->putData(slot_key, std::move(slot));
          pistache_dispatch(*ep, peer);
        },
        refusal("the server has too many connections open (" +
                std::to_string(cfg.max_connections) + "); retry later"),
        refusal("the server is out of file descriptors; retry later"));
    if (!accepting->start(error)) {
      stop();
      return false;
    }
    impl_->accepting = std::move(accepting);
  } catch (const std::exception& e) {
    error = "cannot serve on " + cfg.host + ":" + std::to_string(cfg.port) +
            ": " + e.what();
    return false;
  }
  return true;
}

uint16_t server::port() const noexcept {
  return impl_->port;
}

void server::drain() {
  impl_->ctx->draining = true;
}

size_t server::uploads_in_progress() const noexcept {
  return impl_->ctx->uploads;
}

size_t server::downloads_in_progress() const noexcept {
  return impl_->pump ? impl_->pump->active() : 0;
}

void server::stop() {
  if (!impl_)
    return;
  if (impl_->accepting)
    impl_->accepting.reset(); // no new connection
  if (impl_->endpoint) {
    impl_->endpoint->shutdown();
    impl_->endpoint.reset();
  }
  impl_->pump.reset(); // downloads not done are cut off
}

} // namespace playcount::http
