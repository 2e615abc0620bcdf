// core/compression: gzip and zstd streams, made here with zlib and libzstd
// (independent encoders), decoded in pieces of every size and compared with
// the plain bytes; corrupt, truncated and inflating streams fail.

#include "core/compression.hpp"
#include "tests/support/compressed.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <zstd.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace playcount {
namespace {

// A CSV of `rows` rows, random enough that it compresses as real plays do
// (about 3:1) and long enough for many deflate blocks and output buffers.
std::string plain_csv(size_t rows, uint64_t seed = 13) {
  std::mt19937_64 rng(seed); // the same bytes every run
  std::string s = "Song,Date,Number of Plays\n";
  for (size_t i = 0; i < rows; ++i)
    s += "song " + std::to_string(rng() % 5000) + ",2024-0" +
         std::to_string(1 + rng() % 9) + "-1" + std::to_string(rng() % 10) +
         "," + std::to_string(rng() % 100) + "\n";
  return s;
}

using test::gzip_member;
using test::skippable_frame;
using test::zstd_frame;

struct decoded {
  std::string bytes;
  std::string error; ///< empty: it succeeded
  uint64_t bytes_out = 0;
  bool over_limit = false;
};

decoded decode(compression kind, std::string_view in, size_t piece,
               uint64_t limit = UINT64_MAX) {
  decoded d;
  auto decoder = stream_decoder::make(kind, limit);
  const auto sink = [&](std::string_view out) -> result<void> {
    d.bytes += out;
    return {};
  };
  for (size_t at = 0; at < in.size(); at += piece) {
    auto r = decoder->feed(in.substr(at, piece), sink);
    if (!r) {
      d.error = r.error().text();
      d.bytes_out = decoder->bytes_out();
      d.over_limit = decoder->over_limit();
      return d;
    }
  }
  if (auto r = decoder->finish(); !r)
    d.error = r.error().text();
  d.bytes_out = decoder->bytes_out();
  if (d.error.empty()) {
    EXPECT_EQ(decoder->bytes_in(), in.size());
  }
  return d;
}

const std::vector<size_t> pieces = {1, 7, 64 << 10, SIZE_MAX};

// The 1-byte pieces on a smaller input: a call per byte is slow.
std::string_view for_piece(const std::string& s, size_t piece,
                           const std::string& small) {
  return piece == 1 ? std::string_view(small) : std::string_view(s);
}

TEST(detect_compression, by_magic_bytes_only) {
  EXPECT_EQ(detect_compression("\x1f\x8b\x08\x00"), compression::gzip);
  EXPECT_EQ(detect_compression("\x1f\x8b"), compression::gzip);
  EXPECT_EQ(detect_compression("\x28\xb5\x2f\xfd\x04"), compression::zstd);
  EXPECT_EQ(detect_compression("\x28\xb5\x2f"), compression::none);
  EXPECT_EQ(detect_compression("Song,Date,Number of Plays\n"),
            compression::none);
  EXPECT_EQ(detect_compression("\x1f"), compression::none);
  EXPECT_EQ(detect_compression(""), compression::none);
  EXPECT_EQ(detect_compression(gzip_member("a,b\n", 6)), compression::gzip);
  EXPECT_EQ(detect_compression(zstd_frame("a,b\n", 1)), compression::zstd);
  // pzstd starts its files with a skippable frame (any of 16 magics).
  EXPECT_EQ(detect_compression(skippable_frame("meta")), compression::zstd);
  EXPECT_EQ(detect_compression("\x5f\x2a\x4d\x18"), compression::zstd);
  EXPECT_EQ(detect_compression("\x60\x2a\x4d\x18"), compression::none);
  EXPECT_EQ(detect_compression("\x50\x2a\x4d"), compression::none);
  EXPECT_EQ(to_string(compression::gzip), "gzip");
  EXPECT_EQ(to_string(compression::zstd), "zstd");
  EXPECT_EQ(to_string(compression::none), "none");
  EXPECT_EQ(stream_decoder::make(compression::none, 1), nullptr);
}

TEST(gzip_decoder, levels_1_and_9_in_pieces_of_any_size) {
  const std::string plain = plain_csv(60000);
  const std::string small = plain.substr(0, 200000);
  for (const int level : {1, 9}) {
    const std::string gz = gzip_member(plain, level);
    const std::string small_gz = gzip_member(small, level);
    for (const size_t piece : pieces) {
      const auto d =
          decode(compression::gzip, for_piece(gz, piece, small_gz), piece);
      ASSERT_EQ(d.error, "") << "level " << level << ", pieces of " << piece;
      EXPECT_TRUE(d.bytes == (piece == 1 ? small : plain))
          << "level " << level << ", pieces of " << piece;
    }
  }
}

TEST(gzip_decoder, members_follow_each_other_as_pigz_and_cat_make_them) {
  const std::string plain = plain_csv(40000);
  const std::string a = plain.substr(0, 300000);
  const std::string b = plain.substr(300000);
  // cat a.gz empty.gz b.gz; pigz writes one member per file but `cat` of
  // its files, and pigz --independent blocks, are the same shape.
  const std::string gz =
      gzip_member(a, 1) + gzip_member("", 6) + gzip_member(b, 9);
  const std::string small = plain.substr(0, 5000);
  const std::string small_gz = gzip_member(small.substr(0, 2000), 6) +
                               gzip_member("", 1) +
                               gzip_member(small.substr(2000), 1);
  for (const size_t piece : pieces) {
    const auto d =
        decode(compression::gzip, for_piece(gz, piece, small_gz), piece);
    ASSERT_EQ(d.error, "") << "pieces of " << piece;
    EXPECT_TRUE(d.bytes == (piece == 1 ? small : plain))
        << "pieces of " << piece;
  }
  // A stream of only an empty member is an empty file.
  const auto empty = decode(compression::gzip, gzip_member("", 6), SIZE_MAX);
  EXPECT_EQ(empty.error, "");
  EXPECT_EQ(empty.bytes, "");
}

TEST(gzip_decoder, a_flipped_byte_fails_and_never_passes) {
  const std::string plain = plain_csv(20000);
  const std::string gz = gzip_member(plain, 6);
  for (const size_t at : {gz.size() / 3, gz.size() / 2, gz.size() - 100}) {
    std::string bad = gz;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    const auto d = decode(compression::gzip, bad, 4096);
    EXPECT_NE(d.error.find("the gzip stream is corrupt at byte"),
              std::string::npos)
        << "flipped at " << at << ": " << d.error;
  }
}

TEST(gzip_decoder, the_crc_and_the_length_of_each_member_are_checked) {
  const std::string plain = plain_csv(5000);
  const std::string gz = gzip_member(plain, 6);
  // The trailer: CRC-32 (4 bytes), then the length mod 2^32 (4 bytes).
  for (const size_t from_end : {8, 5, 4, 1}) {
    std::string bad = gz;
    bad[bad.size() - from_end] =
        static_cast<char>(bad[bad.size() - from_end] ^ 0x01);
    const auto d = decode(compression::gzip, bad, SIZE_MAX);
    EXPECT_NE(d.error.find("CRC or the length"), std::string::npos)
        << from_end << " bytes from the end: " << d.error;
    // And in the first of two members.
    const auto two = decode(compression::gzip, bad + gz, 1000);
    EXPECT_NE(two.error.find("CRC or the length"), std::string::npos)
        << from_end << " bytes from the end: " << two.error;
  }
}

TEST(gzip_decoder, a_truncated_stream_ends_early) {
  const std::string plain = plain_csv(20000);
  const std::string gz = gzip_member(plain, 6) + gzip_member(plain, 1);
  const size_t first = gzip_member(plain, 6).size();
  for (const size_t cut :
       {size_t{1}, size_t{5}, size_t{10}, gz.size() / 4, first - 8, first - 1,
        first + 3, gz.size() - 4, gz.size() - 1}) {
    const auto d = decode(compression::gzip, gz.substr(0, cut), 7000);
    EXPECT_NE(d.error.find("the gzip stream ends early after"),
              std::string::npos)
        << "cut at " << cut << ": " << d.error;
  }
  EXPECT_EQ(decode(compression::gzip, "", SIZE_MAX).error,
            "the gzip stream ends early after 0 B of output");
}

TEST(gzip_decoder, zeros_after_the_last_member_pass_other_bytes_fail) {
  const std::string plain = plain_csv(2000);
  const std::string gz = gzip_member(plain, 6);
  const auto zeros = decode(compression::gzip, gz + std::string(600, '\0'), 50);
  EXPECT_EQ(zeros.error, "");
  EXPECT_TRUE(zeros.bytes == plain);

  const auto garbage = decode(compression::gzip, gz + "garbage", SIZE_MAX);
  EXPECT_NE(garbage.error.find("the gzip stream is corrupt at byte"),
            std::string::npos)
      << garbage.error;
  EXPECT_NE(garbage.error.find("not a gzip member header"), std::string::npos)
      << garbage.error;

  const auto after_zeros =
      decode(compression::gzip, gz + std::string(3, '\0') + "x", SIZE_MAX);
  EXPECT_EQ(after_zeros.error,
            "the gzip stream is corrupt at byte " +
                std::to_string(gz.size() + 3) +
                " (of the compressed input): bytes other than zeros after "
                "the zeros that follow the last gzip member");
}

TEST(gzip_decoder, a_bomb_fails_fast_at_the_limit) {
  const std::string zeros(64 << 20, '\0');
  const std::string bomb = gzip_member(zeros, 9); // about 64 KiB
  ASSERT_LT(bomb.size(), 100U << 10);
  const uint64_t limit = 1 << 20;
  const auto d = decode(compression::gzip, bomb, 4096, limit);
  EXPECT_NE(d.error.find("the gzip stream inflates past the limit of 1 MiB"),
            std::string::npos)
      << d.error;
  EXPECT_TRUE(d.over_limit);
  EXPECT_LE(d.bytes_out, limit);
  EXPECT_LE(d.bytes.size(), limit);
  // Exactly at the limit is fine.
  const auto at_limit =
      decode(compression::gzip, gzip_member(zeros.substr(0, limit), 9),
             SIZE_MAX, limit);
  EXPECT_EQ(at_limit.error, "");
}

TEST(gzip_decoder, a_failing_sink_stops_it) {
  const std::string gz = gzip_member(plain_csv(50000), 6);
  auto decoder = stream_decoder::make(compression::gzip, UINT64_MAX);
  int calls = 0;
  const auto r = decoder->feed(gz, [&](std::string_view) -> result<void> {
    ++calls;
    return failure::words("the disk is full");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().text(), "the disk is full");
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(decoder->finish()); // spent
}

TEST(zstd_decoder, frames_and_skippable_frames_in_pieces_of_any_size) {
  const std::string plain = plain_csv(60000);
  const std::string a = plain.substr(0, 400000);
  const std::string b = plain.substr(400000);
  const std::string zst = skippable_frame("meta") + zstd_frame(a, 1) +
                          skippable_frame(std::string(1000, 'x')) +
                          zstd_frame("", 3) + zstd_frame(b, 19);
  const std::string small = plain.substr(0, 100000);
  const std::string small_zst = zstd_frame(small.substr(0, 30000), 1) +
                                skippable_frame("") +
                                zstd_frame(small.substr(30000), 3);
  for (const size_t piece : pieces) {
    const auto d =
        decode(compression::zstd, for_piece(zst, piece, small_zst), piece);
    ASSERT_EQ(d.error, "") << "pieces of " << piece;
    EXPECT_TRUE(d.bytes == (piece == 1 ? small : plain))
        << "pieces of " << piece;
  }
}

// A frame or member whose output fills the decoder's buffer exactly at its
// end (300 MiB of a CSV cut with `head -c` failed as "ends early"): decoded
// sizes that are every multiple of 64 KiB up to 1.25 MiB, one frame and two.
TEST(stream_decoder, a_stream_that_ends_filling_the_output_buffer_ends_well) {
  const std::string plain = plain_csv(60000);
  for (size_t size = 64 << 10; size <= (1280u << 10); size += 64 << 10) {
    ASSERT_LE(size, plain.size());
    const std::string part = plain.substr(0, size);
    const std::string half = part.substr(0, size / 2);
    const struct {
      compression kind;
      std::string in;
      std::string out;
    } streams[] = {
        {compression::zstd, zstd_frame(part, 1), part},
        {compression::zstd, zstd_frame(half, 1) + zstd_frame(half, 1),
         half + half},
        {compression::gzip, gzip_member(part, 1), part},
        {compression::gzip, gzip_member(half, 1) + gzip_member(half, 1),
         half + half},
    };
    for (const auto& stream : streams)
      for (const size_t piece : {size_t{64} << 10, SIZE_MAX}) {
        const auto d = decode(stream.kind, stream.in, piece);
        ASSERT_EQ(d.error, "") << to_string(stream.kind) << ", " << size
                               << " bytes in pieces of " << piece;
        EXPECT_TRUE(d.bytes == stream.out);
      }
  }
}

// A frame that asks for a window over libzstd's 128 MiB (`zstd --long=28`
// and up) is refused as too large, not called corrupt.
TEST(zstd_decoder, a_window_over_128_mib_is_refused_and_said_so) {
  const std::string plain = plain_csv(1000);
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(),
                                                          ZSTD_freeCCtx);
  ASSERT_EQ(
      ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_windowLog, 28)),
      0u);
  // In two calls, so that the size is unknown and the window stays.
  std::string zst(ZSTD_compressBound(plain.size()) + 64, '\0');
  ZSTD_outBuffer out{zst.data(), zst.size(), 0};
  ZSTD_inBuffer in{plain.data(), plain.size(), 0};
  ASSERT_EQ(ZSTD_isError(
                ZSTD_compressStream2(cctx.get(), &out, &in, ZSTD_e_continue)),
            0u);
  size_t left = 1;
  while (left != 0) {
    left = ZSTD_compressStream2(cctx.get(), &out, &in, ZSTD_e_end);
    ASSERT_EQ(ZSTD_isError(left), 0u);
  }
  zst.resize(out.pos);
  ASSERT_EQ(ZSTD_getFrameContentSize(zst.data(), zst.size()),
            ZSTD_CONTENTSIZE_UNKNOWN);
  const auto d = decode(compression::zstd, zst, SIZE_MAX);
  EXPECT_EQ(d.error.rfind("the zstd stream needs more than 128 MiB of memory "
                          "to decode",
                          0),
            0u)
      << d.error;
}

TEST(zstd_decoder, corrupt_truncated_and_trailing_bytes_fail) {
  const std::string plain = plain_csv(20000);
  const std::string zst = zstd_frame(plain, 3);
  // A flipped byte: zstd frames carry a checksum only when asked
  // (--check, the default of the zstd tool); without one a flipped
  // literal goes unnoticed by any decoder. Flip the block header.
  std::string bad = zst;
  bad[6] = static_cast<char>(bad[6] ^ 0x7f);
  EXPECT_NE(decode(compression::zstd, bad, 4096)
                .error.find("the zstd stream is corrupt at byte"),
            std::string::npos);
  for (const size_t cut :
       {size_t{2}, size_t{4}, size_t{9}, zst.size() / 2, zst.size() - 1}) {
    const auto d = decode(compression::zstd, zst.substr(0, cut), 1000);
    EXPECT_NE(d.error.find("the zstd stream ends early after"),
              std::string::npos)
        << "cut at " << cut << ": " << d.error;
  }
  EXPECT_NE(decode(compression::zstd, zst + "garbage", SIZE_MAX)
                .error.find("the zstd stream is corrupt at byte " +
                            std::to_string(zst.size())),
            std::string::npos);
}

TEST(zstd_decoder, a_checksummed_frame_with_a_flipped_byte_fails) {
  const std::string plain = plain_csv(20000);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  std::string zst(ZSTD_compressBound(plain.size()), '\0');
  const size_t n =
      ZSTD_compress2(cctx, zst.data(), zst.size(), plain.data(), plain.size());
  ZSTD_freeCCtx(cctx);
  ASSERT_EQ(ZSTD_isError(n), 0U);
  zst.resize(n);
  for (const size_t at : {zst.size() / 2, zst.size() - 2}) {
    std::string bad = zst;
    bad[at] = static_cast<char>(bad[at] ^ 0x01);
    EXPECT_NE(decode(compression::zstd, bad, 4096)
                  .error.find("the zstd stream is corrupt at byte"),
              std::string::npos)
        << "flipped at " << at;
  }
}

// Never garbage: whatever single byte is damaged, decoding either fails or
// gives the plain bytes (a flip in a gzip header's time stamp or name
// changes nothing that counts). zstd frames need their checksum for this
// (the zstd tool writes one; without it a damaged literal goes unseen).
TEST(stream_decoder, a_damaged_byte_anywhere_fails_or_changes_nothing) {
  const std::string plain = plain_csv(3000, 7);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1); // as the zstd tool
  std::string zst(ZSTD_compressBound(plain.size()), '\0');
  const size_t n =
      ZSTD_compress2(cctx, zst.data(), zst.size(), plain.data(), plain.size());
  ZSTD_freeCCtx(cctx);
  ASSERT_EQ(ZSTD_isError(n), 0U);
  zst.resize(n);
  const std::string gz = gzip_member(plain, 6) + gzip_member(plain, 1);
  std::mt19937_64 rng(99); // the same damage every run
  for (const auto& [kind, good] :
       {std::pair{compression::gzip, gz}, std::pair{compression::zstd, zst}}) {
    for (int i = 0; i < 400; ++i) {
      std::string bad = good;
      const size_t at = rng() % bad.size();
      bad[at] = static_cast<char>(bad[at] ^ (1 + rng() % 255));
      const auto d = decode(kind, bad, 1 + rng() % 5000);
      const std::string want =
          kind == compression::gzip ? plain + plain : plain;
      EXPECT_TRUE(!d.error.empty() || d.bytes == want)
          << to_string(kind) << ": byte " << at << " damaged, passed as whole";
    }
  }
}

TEST(zstd_decoder, a_bomb_fails_fast_at_the_limit) {
  const std::string zeros(64 << 20, '\0');
  const std::string bomb = zstd_frame(zeros, 19);
  const uint64_t limit = 1 << 20;
  const auto d = decode(compression::zstd, bomb, 4096, limit);
  EXPECT_NE(d.error.find("the zstd stream inflates past the limit of 1 MiB"),
            std::string::npos)
      << d.error;
  EXPECT_TRUE(d.over_limit);
  EXPECT_LE(d.bytes_out, limit);
}

} // namespace
} // namespace playcount
