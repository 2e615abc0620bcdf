#pragma once

// Hashing and comparing short byte strings (song names) on the hot path.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace playcount {

inline uint64_t load64(const char* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline uint32_t load32(const char* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// MurmurHash3's finalizer: every input bit affects every output bit, so
// both a table slot (low bits) and a tag (high bits) are well spread.
inline uint64_t fmix64(uint64_t x) noexcept {
  x ^= x >> 33;
  x *= UINT64_C(0xff51afd7ed558ccd);
  x ^= x >> 33;
  x *= UINT64_C(0xc4ceb9fe1a85ec53);
  x ^= x >> 33;
  return x;
}

inline uint64_t absorb(uint64_t h, uint64_t word) noexcept {
  word *= UINT64_C(0x87c37b91114253d5);
  word = word << 31 | word >> 33;
  h ^= word * UINT64_C(0x4cf5ad432745937f);
  return (h << 27 | h >> 37) * 5 + 0x52dce729;
}

/// A 64-bit hash of n bytes; reads no byte outside [p, p + n).
inline uint64_t hash_bytes(const char* p, size_t n) noexcept {
  // Most song names: two overlapping words, one mix. The rotation matters: a
  // product only carries a difference upwards, so without it a difference
  // in the top byte of both words (the last byte of an 8-byte name) can
  // cancel out, and "Song 205" and "Song 208" would share all 64 bits.
  if (n >= 8 && n <= 16) {
    const uint64_t tail = load64(p + n - 8) * UINT64_C(0x4cf5ad432745937f);
    return fmix64((load64(p) * UINT64_C(0x87c37b91114253d5)) ^
                  (tail << 29 | tail >> 35) ^ n);
  }
  uint64_t h = UINT64_C(0x9E3779B97F4A7C15) ^ n;
  while (n > 8) {
    h = absorb(h, load64(p));
    p += 8;
    n -= 8;
  }
  uint64_t v = 0;
  if (n >= 4)
    v = load32(p) | uint64_t{load32(p + n - 4)} << 32;
  else if (n > 0)
    v = uint64_t{static_cast<unsigned char>(p[0])} |
        uint64_t{static_cast<unsigned char>(p[n / 2])} << 8 |
        uint64_t{static_cast<unsigned char>(p[n - 1])} << 16;
  return fmix64(absorb(h, v));
}

/// Equality for short strings without a call to memcmp.
inline bool same_bytes(std::string_view a, std::string_view b) noexcept {
  const size_t n = a.size();
  if (n != b.size())
    return false;
  if (n >= 8 && n <= 16)
    return load64(a.data()) == load64(b.data()) &&
           load64(a.data() + n - 8) == load64(b.data() + n - 8);
  if (n >= 4 && n < 8)
    return load32(a.data()) == load32(b.data()) &&
           load32(a.data() + n - 4) == load32(b.data() + n - 4);
  return std::memcmp(a.data(), b.data(), n) == 0;
}

} // namespace playcount
