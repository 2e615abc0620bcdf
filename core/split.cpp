#include "core/split.hpp"

#include "core/block_scanner.hpp"
#include "core/simd.hpp"

#include <algorithm>

namespace playcount {

std::vector<byte_range> nominal_chunks(uint64_t data_begin, uint64_t size,
                                       uint64_t range_size) {
  std::vector<byte_range> out;
  range_size = std::max<uint64_t>(range_size, 1);
  for (uint64_t b = data_begin; b < size; b += range_size)
    out.push_back({b, std::min(size, b + range_size)});
  return out;
}

namespace {

// Whether a record starts at the chunk's first byte when the quote parity
// there is even: it needs an LF just before it (an LF is not a quote, so
// the parity there equals the parity at the chunk's start).
bool starts_at_chunk(file_window window, byte_range absolute) {
  return absolute.begin > 0 &&
         window.bytes[absolute.begin - 1 - window.offset] == '\n';
}

// The LFs of block `k` after which a record starts when its chunk (ending
// at `chunk_end`, window positions) starts at quote parity `parity`: those
// at that parity from the chunk's start. The record must start inside the
// chunk, so an LF that is the chunk's last byte does not count (it is in
// the last block).
uint64_t record_starts(const scanned_block& k, uint64_t chunk_end,
                       unsigned parity) {
  uint64_t lf = k.newline;
  if (k.at + 64 >= chunk_end)
    lf &= (uint64_t{1} << (k.size - 1)) - 1;
  return parity == 0 ? lf & ~k.inside : lf & k.inside;
}

// The absolute offset of the record start after the first LF of `starts`.
uint64_t first_start(file_window window, const scanned_block& k,
                     uint64_t starts) {
  return window.offset + k.at + static_cast<uint64_t>(__builtin_ctzll(starts)) +
         1;
}

} // namespace

chunk_scan scan_chunk(file_window window, byte_range absolute) {
  chunk_scan out;
  // Positions below are relative to the window; boundaries are absolute.
  const char* p = window.bytes.data();
  const byte_range chunk{absolute.begin - window.offset,
                         absolute.end - window.offset};
  if (starts_at_chunk(window, absolute))
    out.first_boundary[0] = absolute.begin;
  block_scanner scanner(p, chunk.begin, chunk.end);
  scanner.each([&](const scanned_block& k) {
    out.quotes += static_cast<uint64_t>(__builtin_popcountll(k.quote));
    if (out.first_boundary[0] != no_boundary &&
        out.first_boundary[1] != no_boundary) {
      // Both boundaries known: the rest only needs its quotes counted.
      const uint64_t rest = k.at + 64;
      if (rest < chunk.end)
        out.quotes += count_byte(p + rest, chunk.end - rest, '"');
      return false;
    }
    for (unsigned l = 0; l < 2; ++l)
      if (const uint64_t starts = record_starts(k, chunk.end, l);
          out.first_boundary[l] == no_boundary && starts != 0)
        out.first_boundary[l] = first_start(window, k, starts);
    return true;
  });
  return out;
}

uint64_t first_boundary(file_window window, byte_range absolute,
                        unsigned parity) {
  if (parity == 0 && starts_at_chunk(window, absolute))
    return absolute.begin;
  const byte_range chunk{absolute.begin - window.offset,
                         absolute.end - window.offset};
  uint64_t found = no_boundary;
  block_scanner scanner(window.bytes.data(), chunk.begin, chunk.end);
  scanner.each([&](const scanned_block& k) {
    const uint64_t starts = record_starts(k, chunk.end, parity);
    if (starts != 0)
      found = first_start(window, k, starts);
    return starts == 0;
  });
  return found;
}

std::vector<byte_range> plan_ranges(const std::vector<byte_range>& chunks,
                                    const std::vector<chunk_scan>& scans) {
  std::vector<byte_range> out;
  if (chunks.empty())
    return out;
  // Starts: the first chunk starts on a boundary by definition; a chunk with
  // no boundary for its parity is wholly inside the previous range.
  std::vector<uint64_t> starts;
  starts.push_back(chunks.front().begin);
  unsigned parity = scans.front().quotes & 1;
  for (size_t i = 1; i < chunks.size(); ++i) {
    const uint64_t b = scans[i].first_boundary[parity];
    if (b != no_boundary)
      starts.push_back(b);
    parity ^= scans[i].quotes & 1;
  }
  starts.push_back(chunks.back().end);
  for (size_t i = 0; i + 1 < starts.size(); ++i)
    if (starts[i] < starts[i + 1])
      out.push_back({starts[i], starts[i + 1]});
  return out;
}

uint64_t record_end(std::string_view file, uint64_t begin) {
  uint64_t end = file.size();
  block_scanner scanner(file.data(), begin, file.size());
  scanner.each([&](const scanned_block& k) {
    const uint64_t ends = k.newline & ~k.inside; // LFs at even parity
    if (ends != 0)
      end = k.at + static_cast<uint64_t>(__builtin_ctzll(ends));
    return ends == 0;
  });
  return end;
}

} // namespace playcount
