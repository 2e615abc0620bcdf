#pragma once

// The quote-aware block scanner: a byte range read 64 bytes at a time, each
// block's quotes, commas and LFs as bit masks, and which of its bytes lie
// inside quotes.
//
// Whether a byte is inside quotes depends on the parity of every quote
// before it, so the parity at the end of one block is carried into the next
// (simdjson's string scanner keeps its in-string carry the same way). That
// carry lives here and nowhere else: the planner (split.cpp) and the reader
// (range_reader.cpp) both scan through this class, so they cannot disagree
// on where a quoted section ends (split.hpp says why they must not).
//
// Header-only and inlined into its callers: `next` runs once per 64 bytes of
// every file on the hot path.

#include "core/simd.hpp"

#include <cstdint>
#include <cstring>

namespace playcount {

/// One block of a scanned range. Bit i of a mask stands for byte `at + i`;
/// bits past `size` are zero in `quote`, `comma` and `newline`.
struct scanned_block {
  uint64_t at;      ///< where the block starts (the base pointer's offsets)
  uint64_t size;    ///< the range's bytes in it: 64 but maybe in the last
  uint64_t quote;   ///< '"' bytes
  uint64_t comma;   ///< ',' bytes, quoted or not
  uint64_t newline; ///< LF bytes, quoted or not
  /// Bytes inside quotes: from an opening quote (included) to its closing
  /// quote (excluded), across blocks. A comma or LF here is data, not a
  /// separator. Past `size`, the bits repeat the parity at the range's end.
  uint64_t inside;
  uint64_t quoted_before; ///< all ones when the block starts inside quotes
  uint64_t quoted_after;  ///< all ones when the block ends inside quotes
};

/// Scans [begin, end) of the bytes at `base`, never reading outside it. The
/// range's first byte is taken to be outside quotes: parities are local to
/// the range (what the planner needs; the reader's ranges start on record
/// boundaries, which are outside quotes by definition).
class block_scanner {
public:
  block_scanner(const char* base, uint64_t begin, uint64_t end) noexcept
    : base_(base), at_(begin), end_(end) {
  }

  block_scanner(const block_scanner&) = delete;
  block_scanner& operator=(const block_scanner&) = delete;

  /// The next block into `out`; false when the range is done.
  __attribute__((always_inline)) bool next(scanned_block& out) noexcept {
    if (at_ >= end_)
      return false;
    const char* block = base_ + at_;
    const uint64_t left = end_ - at_;
    out.at = at_;
    out.size = left < 64 ? left : 64;
    if (left < 64) { // the last block: padded with NULs, which match nothing
      std::memset(tail_, 0, sizeof tail_);
      std::memcpy(tail_, block, left);
      block = tail_;
    }
    const block_masks m = classify_block(block);
    out.quote = m.quote;
    out.comma = m.comma;
    out.newline = m.newline;
    out.quoted_before = in_quotes_;
    // Without quotes in or open, nothing is inside and the carry stays 0:
    // plain files skip the prefix XOR.
    out.inside = 0;
    if ((m.quote | in_quotes_) != 0) {
      out.inside = prefix_xor(m.quote) ^ in_quotes_;
      in_quotes_ = static_cast<uint64_t>(static_cast<int64_t>(out.inside) >> 63);
    }
    out.quoted_after = in_quotes_;
    at_ += 64;
    return true;
  }

  /// Where the next block starts (past the range's end when none is left).
  [[nodiscard]] uint64_t position() const noexcept {
    return at_;
  }

  /// All ones when the bytes scanned so far end inside quotes.
  [[nodiscard]] uint64_t in_quotes() const noexcept {
    return in_quotes_;
  }

private:
  const char* base_;
  uint64_t at_;
  uint64_t end_;
  uint64_t in_quotes_ = 0; // the carry: all ones when the parity is odd
  alignas(64) char tail_[64];
};

} // namespace playcount
