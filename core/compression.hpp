#pragma once

// Compressed input: gzip (ISA-L's igzip) and zstd (libzstd), recognised by
// their magic bytes and decoded as the bytes arrive, in pieces of any size.
//
// What holds:
// - Memory is bounded: one output buffer per decoder (and zstd's window,
//   at most 128 MiB: libzstd's default limit, ZSTD_WINDOWLOG_LIMIT_DEFAULT).
// - The output never passes the decoder's limit: a gzip bomb fails after
//   at most `limit` bytes of output, not when the disk is full.
// - A corrupt or truncated stream fails (the gzip CRC and length of every
//   member, zstd's frame checks), with where; partial data is never passed
//   off as whole: finish() says whether the stream ended where it should.
// - gzip: members follow each other (pigz, `cat a.gz b.gz`); the output is
//   their concatenation. Zero bytes after the last member are ignored (as
//   gzip(1) does, for tapes and padded blocks); anything else after a member
//   that is not a gzip member fails, with its offset.
// - zstd: frames follow each other; skippable frames are skipped.

#include "core/failure.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace playcount {

enum class compression : uint8_t { none, gzip, zstd };

/// By magic bytes (gzip 1f 8b, zstd 28 b5 2f fd or a skippable frame
/// 5? 2a 4d 18, as pzstd starts), never by file name.
/// `head` is the first bytes of the stream (fewer than 4 only when the
/// stream is that short).
[[nodiscard]] compression detect_compression(std::string_view head) noexcept;

/// "gzip", "zstd", "none".
[[nodiscard]] std::string_view to_string(compression c) noexcept;

/// Decodes one compressed stream pushed in pieces of any size.
class stream_decoder {
public:
  using sink = std::function<result<void>(std::string_view)>;

  stream_decoder() = default;
  stream_decoder(const stream_decoder&) = delete;
  stream_decoder& operator=(const stream_decoder&) = delete;
  virtual ~stream_decoder() = default;

  /// A decoder whose output fails when it would pass `limit` bytes ("the
  /// gzip stream inflates past the limit of 4.0 GiB (after 1.0 MiB of
  /// compressed input)"). `kind` is gzip or zstd (none: nullptr).
  [[nodiscard]] static std::unique_ptr<stream_decoder> make(compression kind,
                                                            uint64_t limit);

  /// Decodes `in`; hands each piece of output to `out` (which may fail:
  /// then feed returns that failure). Fails on a corrupt stream: "the gzip
  /// stream is corrupt at byte N (of the compressed input): <reason>".
  /// After a failure the decoder is spent: feed and finish fail again.
  virtual result<void> feed(std::string_view in, const sink& out) = 0;

  /// The input is over: fails when the stream is incomplete ("the gzip
  /// stream ends early after 1.2 GiB of output").
  virtual result<void> finish() = 0;

  /// It failed because the output would pass the limit.
  [[nodiscard]] virtual bool over_limit() const noexcept = 0;
  [[nodiscard]] virtual uint64_t bytes_in() const noexcept = 0;
  [[nodiscard]] virtual uint64_t bytes_out() const noexcept = 0;
};

} // namespace playcount
