#pragma once

// Pieces of the whole-body multipart parser (multipart.cpp) that the
// streaming one (multipart_stream.cpp) shares, so that both read part headers
// and delimiters by the same rules and word their errors alike. Not an API.

#include "http/multipart.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace playcount::http::detail {

/// Parses the header lines in `section` (CRLF-separated, no final CRLF) into
/// `part`, whose views then point into `section`. Returns an empty string on
/// success, else what is wrong.
[[nodiscard]] std::string parse_part_headers(std::string_view section,
                                             multipart_part& part);

/// `part 2 ("file")` for error messages; without the name when it is empty.
[[nodiscard]] std::string describe_part(size_t index, std::string_view name);

/// Where the CR of the first real delimiter ("\r\n--boundary" followed by
/// "--" or by blanks and CRLF) at or after `from` and before `limit` is, the
/// end of `body` counting as the end of the body; npos when there is none.
[[nodiscard]] size_t find_delimiter(std::string_view boundary,
                                    std::string_view body, size_t from = 0,
                                    size_t limit = std::string_view::npos);

} // namespace playcount::http::detail
