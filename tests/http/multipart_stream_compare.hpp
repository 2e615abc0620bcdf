#pragma once

// multipart_stream fed in pieces against parse_multipart_body on the whole
// body: the unit tests (multipart_stream_test.cpp) and the fuzz property
// (tests/fuzz/multipart_stream_check.cpp) both compare through here.

#include "http/multipart.hpp"
#include "http/multipart_stream.hpp"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace playcount::test {

struct recorded_part {
  std::string name;
  std::string filename;
  bool has_filename = false;
  std::string content_type;
  std::string content;
};

struct multipart_outcome {
  bool ok = false;
  std::vector<recorded_part> parts;
  http::multipart_errc code{};
  std::string message;
  /// What the stream did against its contract (events out of order, an
  /// empty piece, too many bytes held back); empty when nothing.
  std::string misbehaviour;
  /// The most bytes the stream held back, and held in all, between feeds.
  size_t max_held_back = 0;
  size_t max_buffered = 0;
};

inline multipart_outcome parse_whole(std::string_view boundary,
                                     std::string_view body,
                                     std::string_view unique_name) {
  multipart_outcome out;
  const auto result = http::parse_multipart_body(boundary, body, unique_name);
  if (!result) {
    out.code = result.error().code;
    out.message = result.error().message;
    return out;
  }
  out.ok = true;
  for (const auto& part : result->parts)
    out.parts.push_back({std::string{part.name}, std::string{part.filename},
                         part.has_filename, std::string{part.content_type},
                         std::string{part.content}});
  return out;
}

/// The stream's bound on held-back bytes for a boundary of `size` bytes.
inline size_t held_back_bound(size_t boundary_size) {
  return boundary_size + http::max_transport_padding + 7;
}

/// Feeds `body` in pieces of next_size(offset) bytes (at least 1), then
/// finish(); feeds the rest even after the stream is done or failed.
inline multipart_outcome
parse_streamed(std::string_view boundary, std::string_view body,
               const std::function<size_t(size_t)>& next_size,
               std::string_view unique_name) {
  multipart_outcome out;
  bool in_part = false;
  auto misbehave = [&](const std::string& what) {
    if (out.misbehaviour.empty())
      out.misbehaviour = what;
  };
  http::multipart_stream::events on;
  on.part_begin = [&](const http::stream_part_head& head) {
    if (in_part)
      misbehave("part_begin inside a part");
    if (head.index != out.parts.size() + 1)
      misbehave("part_begin with index " + std::to_string(head.index));
    in_part = true;
    out.parts.push_back(
        {head.name, head.filename, head.has_filename, head.content_type, {}});
  };
  on.content = [&](std::string_view piece) {
    if (!in_part)
      misbehave("content outside a part");
    if (piece.empty())
      misbehave("an empty content piece");
    if (!out.parts.empty())
      out.parts.back().content += piece;
    return true;
  };
  on.part_end = [&] {
    if (!in_part)
      misbehave("part_end outside a part");
    in_part = false;
  };
  http::multipart_stream stream{boundary, std::move(on), unique_name};
  using status = http::multipart_stream::status;
  status last = status::more;
  const size_t bound = held_back_bound(boundary.size());
  const size_t buffered_bound = bound + http::max_part_headers_size + 6 + 80;
  for (size_t at = 0; at < body.size();) {
    const size_t n =
        std::min(std::max<size_t>(next_size(at), 1), body.size() - at);
    const status now = stream.feed(body.substr(at, n));
    if (last != status::more && now != last)
      misbehave("a later feed changed the status");
    last = now;
    at += n;
    out.max_held_back = std::max(out.max_held_back, stream.held_back());
    out.max_buffered = std::max(out.max_buffered, stream.buffered());
    if (stream.held_back() > bound)
      misbehave("held back " + std::to_string(stream.held_back()) + " bytes");
    if (stream.buffered() > buffered_bound)
      misbehave("buffered " + std::to_string(stream.buffered()) + " bytes");
  }
  const status end = stream.finish();
  if (last != status::more && end != last)
    misbehave("finish changed the status");
  if (end == status::more || end == status::stopped)
    misbehave("finish left the stream unfinished");
  if (end == status::done) {
    out.ok = true;
    if (in_part)
      misbehave("done inside a part");
  } else if (end == status::failed) {
    out.code = stream.error().code;
    out.message = stream.error().message;
    out.parts.clear(); // a failed parse has no parts to compare
  }
  return out;
}

/// What differs between the two outcomes; empty when they agree.
inline std::string differences(const multipart_outcome& whole,
                               const multipart_outcome& streamed) {
  if (!streamed.misbehaviour.empty())
    return "the stream misbehaves: " + streamed.misbehaviour;
  if (whole.ok != streamed.ok)
    return whole.ok ? "the stream fails (" + streamed.message +
                          ") where the whole body parses"
                    : "the stream parses where the whole body fails (" +
                          whole.message + ")";
  if (!whole.ok) {
    if (whole.code != streamed.code || whole.message != streamed.message)
      return "errors differ: whole " +
             std::string{http::to_string(whole.code)} + " \"" + whole.message +
             "\", stream " + std::string{http::to_string(streamed.code)} +
             " \"" + streamed.message + "\"";
    return {};
  }
  if (whole.parts.size() != streamed.parts.size())
    return "whole has " + std::to_string(whole.parts.size()) +
           " parts, the stream " + std::to_string(streamed.parts.size());
  for (size_t i = 0; i < whole.parts.size(); ++i) {
    const auto& w = whole.parts[i];
    const auto& s = streamed.parts[i];
    const std::string which = "part " + std::to_string(i + 1) + ": ";
    if (w.name != s.name || w.filename != s.filename ||
        w.has_filename != s.has_filename || w.content_type != s.content_type)
      return which + "the heads differ";
    if (w.content != s.content)
      return which + "the content differs (" +
             std::to_string(w.content.size()) + " bytes whole, " +
             std::to_string(s.content.size()) + " streamed)";
  }
  return {};
}

} // namespace playcount::test
