#pragma once

// Compressed test inputs made at test time with zlib and libzstd (encoders
// independent of the decoders under test): gzip members, zstd frames and
// skippable frames, concatenated as a test needs.

#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace playcount::test {

/// One gzip member of `plain` (header, deflate data, CRC-32 and length).
inline std::string gzip_member(std::string_view plain, int level = 6) {
  z_stream z{};
  // 15 + 16: a gzip wrapper.
  EXPECT_EQ(deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&z, plain.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  z.avail_in = static_cast<uInt>(plain.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

/// One zstd frame of `plain`.
inline std::string zstd_frame(std::string_view plain, int level = 3) {
  std::string out(ZSTD_compressBound(plain.size()), '\0');
  const size_t n =
      ZSTD_compress(out.data(), out.size(), plain.data(), plain.size(), level);
  EXPECT_EQ(ZSTD_isError(n), 0U) << ZSTD_getErrorName(n);
  out.resize(ZSTD_isError(n) != 0 ? 0 : n);
  return out;
}

/// A skippable zstd frame (magic 0x184D2A50, little-endian size, payload).
inline std::string skippable_frame(std::string_view payload) {
  std::string s = "\x50\x2a\x4d\x18";
  const auto n = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i)
    s += static_cast<char>((n >> (8 * i)) & 0xff);
  s += payload;
  return s;
}

} // namespace playcount::test
