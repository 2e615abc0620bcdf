#pragma once

// How range bytes reach workers on other nodes: not in CAF messages (each
// would be copied into CAF's buffer, then into the socket, on the server's
// CPU, with no flow control) but on a TCP connection of each worker's own,
// beside CAF's, fed by sendfile from the page cache. CAF carries the work
// item with a parcel number; the bytes follow on the feed as that parcel, in
// the order the items were handed out. The implementation is cluster/byte_feed;
// the actors only see these two ends.

#include "core/failure.hpp"
#include "core/mapped_file.hpp"
#include "core/split.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace playcount {

/// The server's end: sends ranges of input files down workers' feeds.
class range_sender {
public:
  virtual ~range_sender() = default;

  /// The id of the node that opened feed `feed` ("" for no such feed).
  [[nodiscard]] virtual std::string node_of(uint64_t feed) const = 0;

  /// Queues `range` of `file` to feed `feed` as parcel `parcel`. False when the
  /// feed is gone (its worker will find out and quit).
  virtual bool send(uint64_t feed, uint64_t parcel,
                    std::shared_ptr<const file_handle> file,
                    byte_range range) = 0;

  /// Closes the feeds of node `node`, which is down.
  virtual void forget(const std::string& node) = 0;
};

/// A worker's end: its own feed.
class range_source {
public:
  virtual ~range_source() = default;

  /// The feed's id at the server, given to the coordinator when joining.
  [[nodiscard]] virtual uint64_t id() const = 0;

  /// The next bytes on the feed, which must be parcel `parcel` of `size` bytes;
  /// valid until the next call. Why not otherwise.
  virtual result<std::string_view> receive(uint64_t parcel, uint64_t size) = 0;
};

} // namespace playcount
