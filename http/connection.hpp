#pragma once

// One client connection as the server sees it (the state of its request
// heads, its upload, an answer it waits for) and how answers go out on it.

#include "http/api.hpp"

#include <pistache/http.h>
#include <pistache/peer.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace playcount::http {

struct server_context;
struct upload_state;

using steady = std::chrono::steady_clock;

/// Kept in the peer's data (connection_key). Its bytes are handled on the
/// peer's Pistache thread, its answers may be written from a CAF thread
/// (server_context.hpp): `mutex` orders the two, and is held by whoever
/// touches anything below.
struct connection {
  enum class mode : uint8_t {
    head,      // reading a request head
    pistache,  // Pistache is parsing the current request
    answering, // the current request waits for its answer; the client's
               // next bytes wait in `head`, so answers keep their order
    upload,    // receiving an upload's body
    closed     // answered and closing (or an upload submitted): input is
               // dropped
  };
  connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  /// The connection went away mid-upload (the client gave up, or the
  /// server stopped): nothing of the upload may stay.
  ~connection();

  std::mutex mutex;
  mode m = mode::head;
  std::string head;       // bytes of the next request(s), not yet judged
  uint64_t body_left = 0; // pistache: body bytes of this request to come
  std::unique_ptr<upload_state> upload;
  bool gone = false; // the client disconnected: nothing more is written
  // answering: the client sent more than a pipelined request while it
  // waited; the connection ends after the answer.
  bool flooded = false;

  /// Forgets an upload that did not become a job, with its files.
  void drop_upload();
};

inline constexpr const char* connection_key = "playcount.connection";
inline constexpr const char* slot_key = "playcount.slot";

/// The peer's connection, made at its first use (on the peer's thread).
std::shared_ptr<connection>
connection_of(const std::shared_ptr<Pistache::Tcp::Peer>& peer);

/// A whole response with `Connection: close`, as written to the socket
/// (without the body when `r.head_only`).
[[nodiscard]] std::string raw_response(const reply& r);

/// The access log line and the request metrics of one request; no status:
/// not answered (logged as 0).
void log_request(std::string_view method, std::string_view target,
                 std::optional<http_status> answered, steady::time_point since,
                 std::string_view note = {});

/// Writes `r` on the socket itself (not through Pistache's writer), closes
/// the connection for writing once it is out, and drops what the client
/// sends after. `hold` (an upload's count) lasts until the answer is
/// written.
void answer_and_close(connection& c,
                      const std::shared_ptr<Pistache::Tcp::Peer>& peer,
                      const reply& r, std::string_view method,
                      std::string_view target, steady::time_point since,
                      std::string_view note = {},
                      const std::shared_ptr<void>& hold = {});

/// For an answer that arrives on a CAF thread: calls `write(peer)` holding
/// what makes writing safe (server_context::answering shared, then
/// c.mutex), unless the server is stopping or the client has gone; false
/// then, and `write` is not called.
bool on_live_connection(
    server_context& ctx, connection& c,
    const std::weak_ptr<Pistache::Tcp::Peer>& peer,
    const std::function<void(const std::shared_ptr<Pistache::Tcp::Peer>&)>&
        write);

/// Sends `r` (no file) through Pistache's writer; closes the connection
/// for writing once it is out when the request did not ask for keep-alive.
void send_through(Pistache::Http::ResponseWriter& w, const reply& r);

} // namespace playcount::http
