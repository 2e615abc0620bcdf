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

chunk_scan scan_chunk(file_window window, byte_range absolute) {
  chunk_scan out;
  // Positions below are relative to the window; boundaries are absolute.
  const char* p = window.bytes.data();
  const uint64_t offset = window.offset;
  const byte_range chunk{absolute.begin - offset, absolute.end - offset};
  // A boundary at chunk.begin itself needs an LF just before it; that LF is
  // not a quote, so the parity there equals the parity at chunk.begin.
  if (absolute.begin > 0 && p[chunk.begin - 1] == '\n')
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
    // An LF at local parity l starts a record when the chunk starts at
    // parity l; the record must start inside the chunk, so an LF that is
    // the chunk's last byte does not count (it is in the last block).
    uint64_t lf = k.newline;
    if (k.at + 64 >= chunk.end)
      lf &= (uint64_t{1} << (k.size - 1)) - 1;
    const uint64_t at_parity[2] = {lf & ~k.inside, lf & k.inside};
    for (int l = 0; l < 2; ++l)
      if (out.first_boundary[l] == no_boundary && at_parity[l] != 0)
        out.first_boundary[l] =
            offset + k.at +
            static_cast<uint64_t>(__builtin_ctzll(at_parity[l])) + 1;
    return true;
  });
  return out;
}

uint64_t first_boundary(file_window window, byte_range absolute,
                        unsigned parity) {
  const char* p = window.bytes.data();
  const uint64_t offset = window.offset;
  const byte_range chunk{absolute.begin - offset, absolute.end - offset};
  // As in scan_chunk: an LF just before the chunk starts a record at even
  // parity; else the first LF whose parity from the chunk's start is
  // `parity`, not the chunk's last byte.
  if (parity == 0 && absolute.begin > 0 && p[chunk.begin - 1] == '\n')
    return absolute.begin;
  uint64_t found = no_boundary;
  block_scanner scanner(p, chunk.begin, chunk.end);
  scanner.each([&](const scanned_block& k) {
    uint64_t lf = k.newline;
    if (k.at + 64 >= chunk.end)
      lf &= (uint64_t{1} << (k.size - 1)) - 1;
    const uint64_t at = parity == 0 ? lf & ~k.inside : lf & k.inside;
    if (at == 0)
      return true;
    found = offset + k.at + static_cast<uint64_t>(__builtin_ctzll(at)) + 1;
    return false;
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
