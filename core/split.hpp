#pragma once

// Splitting a file into byte ranges that start on record boundaries.
//
// A quoted field may hold LF, so a byte position alone does not say whether a
// record starts there. What does: the parity of the quote characters before
// it. An LF at even parity ends a record; every other LF is inside a quoted
// field. This one rule decides record extents everywhere (the reader never
// disagrees with the splitter), also for malformed input, so the same records
// are found whatever the range size.
//
// Two steps: `scan_chunk` runs on every nominal chunk in parallel and counts
// its quotes; `plan_ranges` then knows the parity at each chunk start and
// moves each start to the first record boundary at or after it. A record
// belongs to the range in which it starts.

#include "core/mapped_file.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace playcount {

struct byte_range {
  uint64_t begin = 0;
  uint64_t end = 0;

  [[nodiscard]] uint64_t size() const noexcept { return end - begin; }
  friend bool operator==(const byte_range& a, const byte_range& b) {
    return a.begin == b.begin && a.end == b.end;
  }
};

inline constexpr uint64_t no_boundary = UINT64_MAX;

/// What `scan_chunk` learns about the bytes of one nominal chunk.
struct chunk_scan {
  uint64_t quotes = 0;
  /// first_boundary[p]: the first record start in [begin, end) if the quote
  /// parity at `begin` is p, or no_boundary.
  uint64_t first_boundary[2] = {no_boundary, no_boundary};
};

/// The nominal chunks of [data_begin, size): about `range_size` bytes each.
[[nodiscard]] std::vector<byte_range>
nominal_chunks(uint64_t data_begin, uint64_t size, uint64_t range_size);

/// Counts quotes in the chunk `absolute` (offsets in the file) and finds its
/// first record boundary for either parity. `window` holds the chunk and the
/// byte before it (if any).
[[nodiscard]] chunk_scan scan_chunk(file_window window, byte_range absolute);

/// scan_chunk's first_boundary[parity] alone: reads the chunk only up to it.
[[nodiscard]] uint64_t first_boundary(file_window window, byte_range absolute,
                                      unsigned parity);

/// The same, with the whole file in memory.
[[nodiscard]] inline chunk_scan scan_chunk(std::string_view file,
                                           byte_range chunk) {
  return scan_chunk(file_window{file, 0}, chunk);
}

/// Turns nominal chunks and their scans into ranges that start and end on
/// record boundaries, covering the chunks' span exactly; empty ones dropped.
[[nodiscard]] std::vector<byte_range>
plan_ranges(const std::vector<byte_range>& chunks,
            const std::vector<chunk_scan>& scans);

/// The end of the record starting at `begin`: the offset of the first LF at
/// even quote parity from `begin`, or file.size() when there is none.
[[nodiscard]] uint64_t record_end(std::string_view file, uint64_t begin);

} // namespace playcount
