#include "http/connection.hpp"

#include "actors/job_store.hpp"
#include "core/input_error.hpp"
#include "core/log_fields.hpp"
#include "http/metrics.hpp"
#include "http/routes.hpp"
#include "http/server_context.hpp"
#include "http/upload_session.hpp"
#include "http/wire.hpp"

#include <spdlog/spdlog.h>

#include <sys/socket.h>

namespace playcount::http {

using namespace Pistache;

connection::connection() = default;

connection::~connection() {
  drop_upload();
}

void connection::drop_upload() {
  if (upload) {
    // A job counted while it arrived is the registry's: it fails the job
    // and removes its input.
    if (upload->cut)
      upload->cut("upload incomplete: the connection ended after " +
                  std::to_string(upload->decoder.received()) + " bytes");
    else if (!upload->growing)
      (void)remove_job_files(upload->paths);
    upload.reset();
  }
}

std::shared_ptr<connection>
connection_of(const std::shared_ptr<Tcp::Peer>& peer) {
  auto data = peer->tryGetData(connection_key);
  if (!data) {
    data = std::make_shared<connection>();
    peer->putData(connection_key, data);
  }
  return std::static_pointer_cast<connection>(data);
}

std::string raw_response(const reply& r) {
  std::string out = status_line(r.status);
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  for (const auto& [name, value] : r.headers)
    out.append(name).append(": ").append(value).append("\r\n");
  out += "Connection: close\r\n\r\n";
  if (!r.head_only)
    out += r.body;
  return out;
}

void log_request(std::string_view method, std::string_view target,
                 std::optional<http_status> answered, steady::time_point since,
                 std::string_view note) {
  const int status = answered ? code(*answered) : 0;
  const double ms =
      std::chrono::duration<double, std::milli>(steady::now() - since).count();
  const request_route route = route_of(method, target);
  request_metrics::process().observe(route, status, ms / 1000);
  const log_request_fields fields{method.substr(0, 16), target.substr(0, 2048),
                                  status, ms};
  const scoped_request_fields with_fields(fields);
  // What a scraper or a load balancer asks every few seconds is noise at
  // info.
  const bool probe =
      route.cls == request_class::metrics || route.cls == request_class::health;
  spdlog::log(probe ? spdlog::level::debug : spdlog::level::info,
              "{} {} {} {:.1f} ms{}{}", escape_value(method, 16),
              escape_value(target, 2048), status, ms, note.empty() ? "" : " ",
              note);
}

void answer_and_close(connection& c, const std::shared_ptr<Tcp::Peer>& peer,
                      const reply& r, std::string_view method,
                      std::string_view target, steady::time_point since,
                      std::string_view note,
                      const std::shared_ptr<void>& hold) {
  c.m = connection::mode::closed;
  c.head.clear();
  const std::string text = raw_response(r);
  const int fd = peer->fd();
  // Half-close once the answer is out: the client sees the end, and a
  // client still sending (an early 413) stops; Pistache closes the socket
  // when the client does, or at its idle timeout.
  peer->send(RawBuffer(text, text.size()))
      .then([fd, hold](ssize_t) { ::shutdown(fd, SHUT_WR); },
            [hold](const std::exception_ptr&) {});
  log_request(method, target, r.status, since, note);
}

bool on_live_connection(
    server_context& ctx, connection& c, const std::weak_ptr<Tcp::Peer>& peer,
    const std::function<void(const std::shared_ptr<Tcp::Peer>&)>& write) {
  std::shared_lock live(ctx.answering);
  if (ctx.stopped)
    return false;
  std::lock_guard lock(c.mutex);
  // `gone` is set by onDisconnection before Pistache closes the socket,
  // under the same mutex: a descriptor number seen here is still ours.
  const auto p = peer.lock();
  if (c.gone || !p)
    return false;
  write(p);
  return true;
}

namespace {

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

} // namespace

void send_through(Http::ResponseWriter& w, const reply& r) {
  // Pistache says `Connection: Close` to a request that did not ask for
  // keep-alive, but leaves the socket open: close it once the answer is
  // out, or a client that reads to the end waits for the idle timeout.
  const auto connection = w.headers().tryGet<Http::Header::Connection>();
  const bool close =
      !connection || connection->control() == Http::ConnectionControl::Close;
  const auto peer = w.getPeer();
  const int fd = peer ? peer->fd() : -1;
  for (const auto& [name, value] : r.headers)
    w.headers().add(std::make_shared<named_header>(name, value));
  const auto mime = Http::Mime::MediaType::fromString(r.content_type);
  // A writer whose peer is gone answers with a rejected promise (Pistache's
  // ResponseWriter::peer() throws, putOnWire catches): nothing is written.
  w.send(static_cast<Http::Code>(code(r.status)), r.body, mime)
      .then(
          [close, fd](ssize_t) {
            if (close && fd >= 0)
              ::shutdown(fd, SHUT_WR);
          },
          [](const std::exception_ptr&) {});
}

} // namespace playcount::http
