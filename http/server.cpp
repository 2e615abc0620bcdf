#include "http/server.hpp"

#include "http/acceptor.hpp"
#include "http/access.hpp"
#include "http/api.hpp"
#include "http/connection.hpp"
#include "http/download_pump.hpp"
#include "http/handlers.hpp"
#include "http/pistache_access.hpp"
#include "http/request_head.hpp"
#include "http/routes.hpp"
#include "http/server_context.hpp"
#include "http/upload_session.hpp"
#include "http/wire.hpp"

#include <caf/all.hpp>
#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <optional>
#include <shared_mutex>
#include <variant>

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
//   route table of http/routes.hpp (http/handlers.hpp).
//
// No handler waits: what the job registry must answer is asked with a
// continuation (server_context.hpp, ask_registry), and the answer is
// written from the CAF thread it arrives on (Pistache 0.0.5's
// Transport::asyncWrite always goes through its write queue, which any
// thread may push to). Until then the connection is `answering`: a
// pipelined next request waits in `connection::head`, so that answers
// keep their order, and is judged once the answer is out.
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

// The Pistache glue: one instance per Pistache thread (HTTP_PROTOTYPE).
class front_handler : public Http::Handler {
public:
  HTTP_PROTOTYPE(front_handler)

  explicit front_handler(std::shared_ptr<server_context> ctx)
      : ctx_(std::move(ctx)) {}

  void onRequest(const Http::Request& req, Http::ResponseWriter w) override;

private:
  void onInput(const char* data, size_t size,
               const std::shared_ptr<Tcp::Peer>& peer) override;
  void onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) override;

  // These hold `c->mutex`.
  void dispatch_guarded(const std::shared_ptr<connection>& c,
                        std::string_view in,
                        const std::shared_ptr<Tcp::Peer>& peer);
  void dispatch_input(const std::shared_ptr<connection>& c, std::string_view in,
                      const std::shared_ptr<Tcp::Peer>& peer);
  void to_pistache(connection& c, std::string_view bytes,
                   const std::shared_ptr<Tcp::Peer>& peer);
  void judge_head(const std::shared_ptr<connection>& c,
                  const std::shared_ptr<Tcp::Peer>& peer);
  void answer(connection& c, Http::ResponseWriter& w, reply r,
              const std::shared_ptr<Tcp::Peer>& peer, const request_facts& req,
              steady::time_point since);

  std::shared_ptr<server_context> ctx_;
};

void front_handler::onInput(const char* data, size_t size,
                            const std::shared_ptr<Tcp::Peer>& peer) {
  const auto c = connection_of(peer);
  std::lock_guard lock(c->mutex);
  dispatch_guarded(c, std::string_view(data, size), peer);
}

void front_handler::dispatch_guarded(const std::shared_ptr<connection>& c,
                                     std::string_view in,
                                     const std::shared_ptr<Tcp::Peer>& peer) {
  // Nothing may escape into Pistache's reactor loop (or a CAF thread),
  // which would end the process: whatever goes wrong answers this one
  // connection with 500.
  try {
    dispatch_input(c, in, peer);
  } catch (const std::exception& e) {
    spdlog::error("a connection failed: {}", e.what());
    if (c->m != connection::mode::closed) {
      c->drop_upload();
      answer_and_close(*c, peer, to_reply({api_errc::internal, e.what()}), "?",
                       "?", steady::now());
    }
  }
}

void front_handler::dispatch_input(const std::shared_ptr<connection>& cp,
                                   std::string_view in,
                                   const std::shared_ptr<Tcp::Peer>& peer) {
  connection& c = *cp;
  while (true) {
    switch (c.m) {
    case connection::mode::pistache: {
      if (c.body_left == 0) // Pistache wants more than we know of
        return to_pistache(c, in, peer);
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(in.size(), c.body_left));
      c.body_left -= n;
      to_pistache(c, in.substr(0, n), peer);
      in.remove_prefix(n);
      if (in.empty() || c.m == connection::mode::closed)
        return;
      if (c.m == connection::mode::answering)
        break; // the rest waits in `head` for the answer
      if (c.m != connection::mode::head) { // cannot be: the body is whole
        c.head.clear();
        return to_pistache(c, in, peer);
      }
      continue;
    }
    case connection::mode::answering:
      break;
    case connection::mode::upload:
      return continue_upload(ctx_, cp, in, peer);
    case connection::mode::closed:
      return;
    case connection::mode::head:
      break;
    }
    if (c.m == connection::mode::answering) {
      // A pipelining client waits for its answers in order; what it sends
      // meanwhile is kept, up to one more request. Beyond that it is
      // dropped and the connection ends after the answer.
      if (c.head.size() + in.size() > max_head_size + max_request_size)
        c.flooded = true;
      else
        c.head.append(in);
      return;
    }
    c.head.append(in);
    in = {};
    const size_t before = c.head.size();
    judge_head(cp, peer);
    // Another request waits behind the one just handed to Pistache.
    if (c.m == connection::mode::head && !c.head.empty() &&
        c.head.size() < before)
      continue;
    return;
  }
}

void front_handler::judge_head(const std::shared_ptr<connection>& cp,
                               const std::shared_ptr<Tcp::Peer>& peer) {
  connection& c = *cp;
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
      return refuse(
          {api_errc::bad_request, "the target * is for OPTIONS only"});
    reply r;
    r.content_type = "text/plain";
    r.headers.emplace_back("Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS");
    return answer_and_close(c, peer, r, head.method, head.target, since);
  }
  if (!pistache_knows(head.method))
    return refuse(
        {api_errc::not_implemented,
         "the method " + printable(head.method) + " is not implemented"});
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
    return start_upload(ctx_, cp, std::move(head), length, rest, route.id,
                        peer);
  }
  // Routed before the body is judged: a body sent to no endpoint (or with
  // a method it does not take) gets the 404 or 405, not a 413 about it.
  if (route.kind != route_match::found &&
      ((length && *length > max_request_size) ||
       head.header("Transfer-Encoding") != nullptr))
    return refuse(route_refusal(route, head.method, head.path));
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
  const size_t have =
      std::min<size_t>(c.head.size() - (end + 4), static_cast<size_t>(body));
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
  // the next one starts with a head we look at again. One that waits for
  // its answer (`answering`) stays so until the answer is out.
  if (c.m == connection::mode::pistache &&
      getParser(peer)->step()->id() == Http::Private::RequestLineStep::Id)
    c.m = connection::mode::head;
}

void front_handler::onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) {
  if (auto data = peer->tryGetData(connection_key)) {
    auto& c = *std::static_pointer_cast<connection>(data);
    std::lock_guard lock(c.mutex);
    // Before Pistache closes the descriptor: an answer still to come must
    // not be written to a number the next connection may get.
    c.gone = true;
    if (c.upload) {
      log_request(c.upload->head.method, c.upload->head.target, std::nullopt,
                  c.upload->started,
                  "aborted by the client after " +
                      std::to_string(c.upload->decoder.received()) + " bytes");
      c.drop_upload();
    }
  }
  Tcp::Handler::onDisconnection(peer);
}

void front_handler::answer(connection& c, Http::ResponseWriter& w, reply r,
                           const std::shared_ptr<Tcp::Peer>& peer,
                           const request_facts& req, steady::time_point since) {
  if (!r.file.empty()) {
    std::optional<reply> refused = hand_over(*ctx_, r, c, peer, req);
    if (!refused) {
      // The pump answers; `w` goes without a word (Pistache sends nothing
      // for a writer that is not used).
      log_request(req.method, req.path, r.status, since, "(file)");
      return;
    }
    r = std::move(*refused);
  }
  if (req.method == "HEAD") {
    // Pistache would send the body: the head goes out by our hand, with
    // the Content-Length a GET gets (the writer `w` goes unused).
    r.head_only = true;
    return answer_and_close(c, peer, r, req.method, req.path, since);
  }
  send_through(w, r);
  log_request(req.method, req.path, r.status, since);
}

void front_handler::onRequest(const Http::Request& req,
                              Http::ResponseWriter w) {
  const auto since = steady::now();
  request_facts facts{Http::methodString(req.method()), req.resource()};
  // Pistache keeps the first of repeated names.
  const auto& query = req.query();
  facts.query.assign(query.parameters_begin(), query.parameters_end());
  const auto header = [&](const char* name) -> std::optional<std::string> {
    if (auto raw = req.headers().tryGetRaw(name))
      return raw->value();
    return std::nullopt;
  };
  facts.range = header("Range");
  facts.if_none_match = header("If-None-Match");
  facts.if_modified_since = header("If-Modified-Since");
  facts.if_range = header("If-Range");
  facts.accept_encoding = header("Accept-Encoding");
  const auto peer = w.getPeer();
  if (!peer)
    return log_request(facts.method, facts.path, std::nullopt, since,
                       "the connection is gone");
  const auto c = connection_of(peer); // c->mutex is held: see onInput
  auto writer = std::make_shared<Http::ResponseWriter>(std::move(w));
  std::weak_ptr<Tcp::Peer> weak_peer = peer;
  // The answer the registry's reply becomes, on a CAF thread. `this`
  // lives as long as Pistache's transport, which on_live_connection
  // checks is still there.
  auto later = [this, ctx = ctx_, c, writer, weak_peer, facts,
                since](reply r) mutable {
    const bool written = on_live_connection(
        *ctx, *c, weak_peer, [&](const std::shared_ptr<Tcp::Peer>& p) {
          answer(*c, *writer, std::move(r), p, facts, since);
          if (c->m != connection::mode::answering)
            return; // the answer closed the connection (a download)
          c->m = connection::mode::head;
          if (c->flooded) {
            c->m = connection::mode::closed;
            c->head.clear();
          } else if (!c->head.empty()) {
            dispatch_guarded(c, {}, p); // what was pipelined behind it
          }
        });
    if (!written)
      log_request(facts.method, facts.path, std::nullopt, since,
                  "the client left before the answer");
  };
  std::optional<reply> now;
  try {
    now = handle(*ctx_, facts, std::move(later));
  } catch (const std::exception& e) {
    now = to_reply({api_errc::internal, e.what()});
  }
  if (now)
    answer(*c, *writer, std::move(*now), peer, facts, since);
  else
    c->m = connection::mode::answering;
}

} // namespace

struct server::impl {
  std::shared_ptr<server_context> ctx;
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

server::server(caf::actor_system& system, job_registry_actor registry,
               server_config config)
    : impl_(std::make_unique<impl>()) {
  impl_->ctx = std::make_shared<server_context>(system, std::move(registry),
                                                std::move(config));
}
server::~server() {
  stop();
}

result<void> server::start() {
  const server_config& cfg = impl_->ctx->config;
  impl_->pump = std::make_unique<download_pump>(cfg.idle_timeout);
  if (auto started = impl_->pump->start(); !started)
    return started;
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
    if (auto started = accepting->start(); !started) {
      stop();
      return started;
    }
    impl_->accepting = std::move(accepting);
  } catch (const std::exception& e) {
    return failure::because(
        "cannot serve on", cfg.host + ":" + std::to_string(cfg.port), e.what());
  }
  return {};
}

uint16_t server::port() const noexcept {
  return impl_->port;
}

void server::set_ready() {
  impl_->ctx->ready = true;
}

bool server::ready() const noexcept {
  return impl_->ctx->ready && !impl_->ctx->draining;
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
  {
    // Answers still on their way are dropped from here on (see
    // server_context::answering); one being written is finished first.
    std::unique_lock no_more(impl_->ctx->answering);
    impl_->ctx->stopped = true;
  }
  if (impl_->endpoint) {
    impl_->endpoint->shutdown();
    impl_->endpoint.reset();
  }
  impl_->pump.reset();           // downloads not done are cut off
  impl_->ctx->summaries->stop(); // a rebuild under way is finished first
}

} // namespace playcount::http
