// Fuzz property: the streaming multipart parser against the whole-body one.

#include "checks.hpp"

#include "http/multipart.hpp"
#include "tests/http/multipart_stream_compare.hpp"

#include <cstdint>

namespace playcount::fuzz {

std::string check_multipart_stream(std::string_view input) {
  const size_t lf = input.find('\n');
  if (lf == std::string_view::npos)
    return {};
  const auto boundary = http::find_boundary(input.substr(0, lf));
  if (!boundary.ok)
    return {};
  const std::string_view body = input.substr(lf + 1);
  const auto whole = test::parse_whole(boundary.boundary, body, "file");
  // Piece sizes from the input's own bytes (1 to 16), then 1 byte, then
  // whole: each delimiter is cut somewhere.
  uint32_t state = 2166136261u;
  for (char ch : body.substr(0, 64))
    state = (state ^ static_cast<unsigned char>(ch)) * 16777619u;
  const auto by_input = [&state](size_t) {
    state = state * 1103515245u + 12345u;
    return size_t{1} + (state >> 16) % 16;
  };
  const auto one = [](size_t) { return size_t{1}; };
  const auto all = [](size_t) { return std::string_view::npos; };
  for (const auto& next : {std::function<size_t(size_t)>{by_input},
                           std::function<size_t(size_t)>{one},
                           std::function<size_t(size_t)>{all}}) {
    const auto streamed =
        test::parse_streamed(boundary.boundary, body, next, "file");
    // The one rule of its own (multipart_stream.hpp): too much padding.
    if (!streamed.ok && streamed.misbehaviour.empty() &&
        streamed.code == http::multipart_errc::bad_part_headers &&
        streamed.message.find("blanks before its line end") !=
            std::string::npos)
      continue;
    if (std::string problem = test::differences(whole, streamed);
        !problem.empty())
      return problem;
  }
  return {};
}

} // namespace playcount::fuzz
