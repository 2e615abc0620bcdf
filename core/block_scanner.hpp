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
// Header-only and inlined into its callers: the body of `each` runs once per
// 64 bytes of every file read, on the hot path.

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
      : base_(base)
      , begin_(begin)
      , end_(end) {}

  /// Calls `f(const scanned_block&)` on each block in order while it
  /// returns true; false when `f` stopped the scan (a later call goes on
  /// after the block it stopped at). The loop lives here, not in a `next()`
  /// the caller loops on, so that the block's position and the carry are
  /// single variables of the caller's hot loop.
  template <class F>
  __attribute__((always_inline)) bool each(F&& f) {
    // The state in locals for the loop: they stay in registers even when
    // `f` calls functions the compiler cannot see into.
    const char* const base = base_;
    const uint64_t end = end_;
    uint64_t carry = in_quotes_; // all ones when the parity is odd
    for (uint64_t at = begin_; at < end; at += 64) {
      const scanned_block block = scan(base, at, end, carry);
      if (!f(block)) {
        in_quotes_ = carry;
        begin_ = at + 64;
        return false;
      }
    }
    in_quotes_ = carry;
    begin_ = end;
    return true;
  }

  /// All ones when the blocks scanned so far end inside quotes.
  [[nodiscard]] uint64_t in_quotes() const noexcept { return in_quotes_; }

private:
  __attribute__((always_inline)) static scanned_block
  scan(const char* base, uint64_t at, uint64_t end, uint64_t& carry) noexcept {
    scanned_block out;
    const char* block = base + at;
    const uint64_t left = end - at;
    out.at = at;
    out.size = left < 64 ? left : 64;
    // The last block: copied with NULs after it, which match nothing.
    alignas(64) char tail[64];
    if (left < 64) {
      std::memset(tail, 0, sizeof tail);
      std::memcpy(tail, block, left);
      block = tail;
    }
    const block_masks m = classify_block(block);
    out.quote = m.quote;
    out.comma = m.comma;
    out.newline = m.newline;
    out.quoted_before = carry;
    // Without quotes in or open, nothing is inside and the carry stays 0:
    // plain files skip the prefix XOR.
    out.inside = 0;
    if ((m.quote | carry) != 0) {
      out.inside = prefix_xor(m.quote) ^ carry;
      carry = static_cast<uint64_t>(static_cast<int64_t>(out.inside) >> 63);
    }
    out.quoted_after = carry;
    return out;
  }

  const char* base_;
  uint64_t begin_;
  uint64_t end_;
  uint64_t in_quotes_ = 0; // the carry between calls of `each`
};

} // namespace playcount
