#pragma once

// Range bytes for worker nodes, beside CAF (actors/range_feed.hpp says why).
//
// Each worker on a node opens one TCP connection, a feed, to the server's
// feed port and shows the secret its node got at registration; the server
// answers with the feed's id, which the worker gives the coordinator when it
// joins. From then on the server only writes: for each work item the
// coordinator hands that worker, a header (parcel number, size) and the range's
// bytes, straight from the page cache (sendfile), in the order of the items.
// TCP's flow control bounds what is in flight; nothing is copied on the server.

#include "actors/range_feed.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace playcount {

/// The server's side: the feed port and one sending thread per feed.
class byte_feed final : public range_sender {
public:
  /// Listens on host:port (port 0: any free port), or why it cannot.
  static result<std::shared_ptr<byte_feed>> open(const std::string& host,
                                                 uint16_t port);
  ~byte_feed() override;
  byte_feed(const byte_feed&) = delete;
  byte_feed& operator=(const byte_feed&) = delete;

  [[nodiscard]] uint16_t port() const noexcept { return port_; }

  /// A new secret for node `node`: feeds opened with it are the node's.
  [[nodiscard]] std::string admit(const std::string& node);

  /// Forgets the node's secret and closes its feeds (it is down).
  void forget(const std::string& node) override;

  [[nodiscard]] std::string node_of(uint64_t feed) const override;
  bool send(uint64_t feed, uint64_t number,
            std::shared_ptr<const file_handle> file, byte_range range) override;

  struct shared; // with the threads, which may outlive this object

private:
  byte_feed() = default;
  std::shared_ptr<shared> shared_;
  std::thread acceptor_;
  uint16_t port_ = 0;
};

/// The worker's side: opens a feed to host:port with the node's secret, or
/// says why it cannot.
result<std::unique_ptr<range_source>>
open_feed(const std::string& host, uint16_t port, const std::string& secret);

} // namespace playcount
