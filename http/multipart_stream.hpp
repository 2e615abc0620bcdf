#pragma once

// multipart/form-data parsed as it arrives: a push parser fed the body in
// pieces of any size, so that an upload's `file` part can be written out (and
// counted) while the rest of the body is still on the wire.
//
// What holds:
// - The rules are those of parse_multipart (multipart.hpp), whatever the
//   pieces: the same parts with the same bytes, or the same error code and
//   message (tests/http/multipart_stream_test.cpp compares the two). One
//   exception: more than max_transport_padding blanks after a boundary fail
//   here (bad_part_headers) where parse_multipart would read on.
// - Content is handed out as views of the fed bytes, never copied, except
//   the few bytes held back across pieces because they may begin a
//   delimiter ("\r\n--boundary" split between two pieces): at most the
//   boundary plus max_transport_padding + 7 bytes (held_back()).
// - Memory is bounded whatever the input: part headers are gathered up to
//   max_part_headers_size (+ their CRLFs), the preamble and epilogue are
//   skipped without keeping them (but for the first bytes, for the error
//   message), the search is memmem over each piece (each byte looked at
//   once, however the body is cut).
// - No exceptions of its own; a callback may throw (std::function), which
//   leaves the parser unusable.

#include "http/multipart.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace playcount::http {

/// Blanks (spaces, tabs) allowed between a boundary and its CRLF: RFC 2046
/// transport padding, which no client sends in practice.
inline constexpr size_t max_transport_padding = 256;

/// The head of one part, owned (the bytes it was read from are gone by the
/// time the content arrives).
struct stream_part_head {
  /// 1 for the first part of the body.
  size_t index = 0;
  /// Raw, as multipart_part::name.
  std::string name;
  /// Raw, as multipart_part::filename; empty when absent.
  std::string filename;
  bool has_filename = false;
  /// Empty when absent.
  std::string content_type;
};

class multipart_stream {
public:
  struct events {
    /// A part starts; its headers are parsed.
    std::function<void(const stream_part_head&)> part_begin;
    /// Content of the current part, in order, in pieces of any size (never
    /// an empty piece). The view is valid during the call only. Returning
    /// false stops the parser: feed returns `stopped`, for good.
    std::function<bool(std::string_view)> content;
    /// The current part ended (its delimiter was seen).
    std::function<void()> part_end;
  };

  enum class status : uint8_t {
    /// Needs more bytes.
    more,
    /// The close delimiter was seen; later bytes are the epilogue, ignored.
    done,
    /// The body is not a valid form: error() says why.
    failed,
    /// A content callback returned false.
    stopped,
  };

  /// `boundary` as find_boundary returns it (without the leading "--").
  /// A part named `unique_name` may appear at most once (empty: no limit).
  multipart_stream(std::string_view boundary, events on,
                   std::string_view unique_name = file_field_name);

  /// Feeds the next bytes of the body. Once done, failed or stopped, that
  /// status is returned again and the bytes are ignored.
  status feed(std::string_view bytes);

  /// The body ended: `done`, or `failed` (mostly `unterminated`) unless the
  /// close delimiter was seen. An empty body is a form without parts.
  status finish();

  [[nodiscard]] status state() const noexcept { return status_; }

  /// Requires state() == failed.
  [[nodiscard]] const multipart_error& error() const noexcept { return error_; }

  /// Bytes held back because they may begin a delimiter: at most the
  /// boundary size + max_transport_padding + 7 ("\r\n--boundary--",
  /// the blanks, a CR).
  [[nodiscard]] size_t held_back() const noexcept { return tail_.size(); }

  /// All the bytes the parser holds now (held back, part headers being
  /// gathered, the start of the body for messages): bounded by
  /// max_part_headers_size + a few hundred bytes.
  [[nodiscard]] size_t buffered() const noexcept {
    return tail_.size() + headers_.size() + first_bytes_.size();
  }

private:
  enum class phase : uint8_t { preamble, headers, headers_full, content, end };
  // What follows a whole "\r\n--boundary" held in tail_.
  enum class after : uint8_t {
    start,
    dash,      // "-"
    close_pad, // "--" and blanks
    close_cr,  // "--", blanks, CR
    open_pad,  // blanks
    open_cr,   // blanks, CR
  };

  void scan(std::string_view bytes, size_t& pos);
  void step_after(char ch, size_t& pos);
  void release_tail();
  void delimiter_seen(bool close);
  void gather_headers(std::string_view bytes, size_t& pos);
  void headers_seen(size_t blank_line);
  bool emit(std::string_view content);
  status fail(multipart_errc code, std::string message);
  status fail_unterminated_headers();
  status fail_no_opening();

  std::string boundary_;
  std::string needle_; // "\r\n--boundary"
  events on_;
  std::string unique_name_;
  status status_ = status::more;
  phase phase_ = phase::preamble;
  // A prefix of needle_, or needle_ and what follows it so far (after_).
  std::string tail_;
  after after_ = after::start;
  size_t padding_ = 0;
  // The headers of the current part from the CRLF that ended its delimiter
  // line, up to max_part_headers_size + 6 bytes.
  std::string headers_;
  // The first bytes of the body, for the no_opening_boundary message.
  std::string first_bytes_;
  bool fed_any_ = false;
  size_t part_index_ = 0;
  std::string part_name_;
  size_t unique_index_ = 0;
  multipart_error error_{};
};

} // namespace playcount::http
