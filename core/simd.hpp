#pragma once

// Byte classification 64 bytes at a time, the base of the fast CSV path.
// SSE2 is part of every x86-64 CPU; elsewhere a portable loop does the same.

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace playcount {

/// Bit i set where block[i] == c, for a 64-byte block.
struct block_masks {
  uint64_t quote;
  uint64_t comma;
  uint64_t newline;
};

inline block_masks classify_block(const char* block) noexcept {
#if defined(__SSE2__)
  const __m128i q = _mm_set1_epi8('"');
  const __m128i c = _mm_set1_epi8(',');
  const __m128i n = _mm_set1_epi8('\n');
  block_masks m{0, 0, 0};
  for (int i = 0; i < 4; ++i) {
    const __m128i v = _mm_loadu_si128(
        reinterpret_cast<const __m128i*>(block + size_t{16} * i));
    const int shift = 16 * i;
    m.quote |= static_cast<uint64_t>(static_cast<uint32_t>(
                   _mm_movemask_epi8(_mm_cmpeq_epi8(v, q))))
               << shift;
    m.comma |= static_cast<uint64_t>(static_cast<uint32_t>(
                   _mm_movemask_epi8(_mm_cmpeq_epi8(v, c))))
               << shift;
    m.newline |= static_cast<uint64_t>(static_cast<uint32_t>(
                     _mm_movemask_epi8(_mm_cmpeq_epi8(v, n))))
                 << shift;
  }
  return m;
#else
  block_masks m{0, 0, 0};
  for (int i = 0; i < 64; ++i) {
    const uint64_t bit = uint64_t{1} << i;
    m.quote |= block[i] == '"' ? bit : 0;
    m.comma |= block[i] == ',' ? bit : 0;
    m.newline |= block[i] == '\n' ? bit : 0;
  }
  return m;
#endif
}

/// Bit i is the XOR of bits 0..i: with quote bits in, the bits inside a
/// quoted section (opening quote included, closing quote excluded).
inline uint64_t prefix_xor(uint64_t x) noexcept {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

/// Number of bytes equal to `c` in [p, p + n).
inline uint64_t count_byte(const char* p, size_t n, char c) noexcept {
  uint64_t total = 0;
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i needle = _mm_set1_epi8(c);
  for (; i + 64 <= n; i += 64) {
    uint64_t bits = 0;
    for (int k = 0; k < 4; ++k) {
      const __m128i v = _mm_loadu_si128(
          reinterpret_cast<const __m128i*>(p + i + size_t{16} * k));
      bits |= static_cast<uint64_t>(static_cast<uint32_t>(
                  _mm_movemask_epi8(_mm_cmpeq_epi8(v, needle))))
              << (16 * k);
    }
    total += static_cast<uint64_t>(__builtin_popcountll(bits));
  }
#endif
  for (; i < n; ++i)
    total += p[i] == c;
  return total;
}

} // namespace playcount
