#include "core/compression.hpp"

#include "core/units.hpp"

#include <isa-l/igzip_lib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <vector>

namespace playcount {

namespace {

// Output is handed on in pieces of this size: large enough that a call
// into the library does real work, small enough to stay in the L2 cache.
constexpr size_t out_buffer_size = 256 << 10;

std::string corrupt_at(compression kind, uint64_t offset,
                       std::string_view reason) {
  std::string s = "the ";
  s += to_string(kind);
  s += " stream is corrupt at byte " + std::to_string(offset) +
       " (of the compressed input): ";
  s += reason;
  return s;
}

std::string ends_early(compression kind, uint64_t out) {
  return "the " + std::string(to_string(kind)) + " stream ends early after " +
         format_bytes(out) + " of output";
}

std::string inflates_past(compression kind, uint64_t limit, uint64_t in) {
  return "the " + std::string(to_string(kind)) +
         " stream inflates past the limit of " + format_bytes(limit) +
         " (after " + format_bytes(in) + " of compressed input)";
}

// What the two decoders share: the limit, the counts, the output buffer,
// and being spent after a failure.
class decoder_base : public stream_decoder {
public:
  decoder_base(compression kind, uint64_t limit)
      : kind_(kind)
      , limit_(limit)
      , buffer_(out_buffer_size) {}

  [[nodiscard]] bool over_limit() const noexcept override {
    return over_limit_;
  }
  [[nodiscard]] uint64_t bytes_in() const noexcept override { return in_; }
  [[nodiscard]] uint64_t bytes_out() const noexcept override { return out_; }

protected:
  result<void> fail(std::string why) {
    failed_ = failure::words(std::move(why));
    return *failed_;
  }
  result<void> fail(failure why) {
    failed_ = std::move(why);
    return *failed_;
  }

  // Hands `n` bytes of the buffer on, unless they pass the limit.
  // `consumed`: input bytes taken so far, for the message.
  result<void> deliver(size_t n, uint64_t consumed, const sink& out) {
    if (n == 0)
      return {};
    if (n > limit_ - out_) { // out_ <= limit_ always
      over_limit_ = true;
      return fail(inflates_past(kind_, limit_, consumed));
    }
    out_ += n;
    if (auto r = out({buffer_.data(), n}); !r)
      return fail(std::move(r).error());
    return {};
  }

  compression kind_;
  uint64_t limit_;
  uint64_t in_ = 0;
  uint64_t out_ = 0;
  std::vector<char> buffer_;
  std::optional<failure> failed_;
  bool over_limit_ = false;
};

const char* isal_reason(int rc) {
  switch (rc) {
  case ISAL_INVALID_BLOCK:
    return "an invalid deflate block";
  case ISAL_INVALID_SYMBOL:
    return "an invalid deflate symbol";
  case ISAL_INVALID_LOOKBACK:
    return "a back-reference before the start of the data";
  case ISAL_INVALID_WRAPPER:
    return "not a gzip member header";
  case ISAL_UNSUPPORTED_METHOD:
    return "a compression method other than deflate";
  case ISAL_INCORRECT_CHECKSUM:
    return "the CRC or the length in the member's trailer does not match "
           "its data";
  case ISAL_NEED_DICT:
    return "the stream needs a preset dictionary";
  default:
    return "an error ISA-L does not name";
  }
}

class gzip_decoder final : public decoder_base {
public:
  explicit gzip_decoder(uint64_t limit)
      : decoder_base(compression::gzip, limit) {
    isal_inflate_init(&state_);
  }

  result<void> feed(std::string_view in, const sink& out) override {
    if (failed_)
      return *failed_;
    const auto* p = reinterpret_cast<const uint8_t*>(in.data());
    size_t left = in.size();
    while (left > 0) {
      if (phase_ != phase::member) {
        // Between members: zeros after a member are padding (gzip(1)
        // ignores them); after padding only more padding may come.
        if (*p == 0 && members_ > 0) {
          phase_ = phase::padding;
          ++p;
          --left;
          ++in_;
          continue;
        }
        if (phase_ == phase::padding)
          return fail(corrupt_at(kind_, in_,
                                 "bytes other than zeros after the zeros that "
                                 "follow the last gzip member"));
        // Checked here (ISA-L waits for a whole 10-byte header): a short
        // tail of other bytes is garbage, not a member that ends early.
        if (*p != 0x1f)
          return fail(
              corrupt_at(kind_, in_, isal_reason(ISAL_INVALID_WRAPPER)));
        isal_inflate_reset(&state_);
        state_.crc_flag = ISAL_GZIP;
        phase_ = phase::member;
      }
      // ISA-L counts input in 32 bits.
      const auto take =
          static_cast<uint32_t>(std::min<size_t>(left, uint32_t{1} << 30));
      state_.next_in = const_cast<uint8_t*>(p); // NOLINT: ISA-L's API
      state_.avail_in = take;
      for (;;) {
        state_.next_out = reinterpret_cast<uint8_t*>(buffer_.data());
        state_.avail_out = static_cast<uint32_t>(buffer_.size());
        const int rc = isal_inflate(&state_);
        const auto used = static_cast<uint64_t>(take - state_.avail_in);
        if (rc != ISAL_DECOMP_OK)
          return fail(corrupt_at(kind_, in_ + used, isal_reason(rc)));
        const size_t made = buffer_.size() - state_.avail_out;
        if (auto r = deliver(made, in_ + used, out); !r)
          return r;
        if (state_.block_state == ISAL_BLOCK_FINISH)
          break;
        if (state_.avail_in == 0 && state_.avail_out > 0)
          break;                    // all of this input is in
        if (made == 0 && used == 0) // cannot happen; never spin
          return fail(corrupt_at(kind_, in_, "ISA-L makes no progress"));
      }
      const uint32_t used = take - state_.avail_in;
      in_ += used;
      p += used;
      left -= used;
      if (state_.block_state == ISAL_BLOCK_FINISH) {
        ++members_;
        phase_ = phase::between;
      }
    }
    return {};
  }

  result<void> finish() override {
    if (failed_)
      return *failed_;
    if (phase_ == phase::member || members_ == 0)
      return fail(ends_early(kind_, out_));
    return {};
  }

private:
  enum class phase : uint8_t { between, member, padding };

  inflate_state state_{};
  phase phase_ = phase::between;
  uint64_t members_ = 0;
};

class zstd_decoder final : public decoder_base {
public:
  // A frame may ask for a window of up to 2 GiB (`zstd --long=31`); libzstd
  // decodes at most 128 MiB (ZSTD_WINDOWLOG_LIMIT_DEFAULT, what `--long`
  // alone makes), which bounds what one stream can make this process hold.
  // Not corrupt: too large.
  static constexpr std::string_view window_too_large =
      "the zstd stream needs more than 128 MiB of memory to decode (it was "
      "made with a window over 128 MiB, as `zstd --long=28` and up make): "
      "compress it with --long=27 at most, or decompress it first";

  explicit zstd_decoder(uint64_t limit)
      : decoder_base(compression::zstd, limit)
      , stream_(ZSTD_createDStream()) {}

  result<void> feed(std::string_view in, const sink& out) override {
    if (failed_)
      return *failed_;
    if (!stream_)
      return fail("cannot create a zstd decoder (out of memory)");
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    bool full = false;
    while (input.pos < input.size || full) {
      ZSTD_outBuffer output{buffer_.data(), buffer_.size(), 0};
      const size_t before = input.pos;
      const size_t rc = ZSTD_decompressStream(stream_.get(), &output, &input);
      if (ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge)
        return fail(std::string(window_too_large));
      if (ZSTD_isError(rc) != 0)
        return fail(corrupt_at(kind_, in_ + before, ZSTD_getErrorName(rc)));
      if (auto r = deliver(output.pos, in_ + input.pos, out); !r)
        return r;
      // 0: a frame is whole and flushed; the next byte starts another. A
      // call that took and gave nothing says nothing of the frame (one
      // after a frame that ended filling the buffer exactly asks for the
      // next frame's header: not a frame cut short).
      const bool progress = input.pos != before || output.pos != 0;
      if (progress)
        mid_frame_ = rc != 0;
      // A full buffer may leave more of this frame to flush.
      full = rc != 0 && output.pos == output.size;
      if (!progress && !full)
        break; // it needs more input
    }
    in_ += input.size;
    return {};
  }

  result<void> finish() override {
    if (failed_)
      return *failed_;
    if (mid_frame_ || in_ == 0)
      return fail(ends_early(kind_, out_));
    return {};
  }

private:
  struct free_stream {
    void operator()(ZSTD_DStream* s) const noexcept { ZSTD_freeDStream(s); }
  };
  std::unique_ptr<ZSTD_DStream, free_stream> stream_;
  bool mid_frame_ = false;
};

} // namespace

compression detect_compression(std::string_view head) noexcept {
  const auto at = [&](size_t i) { return static_cast<uint8_t>(head[i]); };
  if (head.size() >= 2 && at(0) == 0x1f && at(1) == 0x8b)
    return compression::gzip;
  if (head.size() >= 4 && at(0) == 0x28 && at(1) == 0xb5 && at(2) == 0x2f &&
      at(3) == 0xfd)
    return compression::zstd;
  // A skippable frame first (0x184D2A50 to 0x184D2A5F, little-endian):
  // what pzstd writes before each frame; the decoder skips it.
  if (head.size() >= 4 && (at(0) & 0xf0) == 0x50 && at(1) == 0x2a &&
      at(2) == 0x4d && at(3) == 0x18)
    return compression::zstd;
  return compression::none;
}

std::string_view to_string(compression c) noexcept {
  switch (c) {
  case compression::gzip:
    return "gzip";
  case compression::zstd:
    return "zstd";
  default:
    return "none";
  }
}

std::unique_ptr<stream_decoder> stream_decoder::make(compression kind,
                                                     uint64_t limit) {
  switch (kind) {
  case compression::gzip:
    return std::make_unique<gzip_decoder>(limit);
  case compression::zstd:
    return std::make_unique<zstd_decoder>(limit);
  default:
    return nullptr;
  }
}

} // namespace playcount
