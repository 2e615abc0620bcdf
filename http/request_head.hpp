#pragma once

// Judging a request head before Pistache sees a byte of it: what Pistache
// 0.0.5 would get wrong is refused here with a JSON error. No Pistache.

#include "http/api.hpp"
#include "http/wire.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace playcount::http {

// Requests other than the upload carry no body worth having.
inline constexpr size_t max_request_size = size_t{64} * 1024;
inline constexpr size_t max_head_size = size_t{64} * 1024;

/// The methods Pistache 0.0.5 parses (http_defs.h HTTP_METHODS); it
/// answers any other with a 400 in plain text.
[[nodiscard]] bool pistache_knows(std::string_view method);

/// A request line for a message: its first line, at most 60 bytes,
/// escaped like any value a client sent (core/input_error.hpp).
[[nodiscard]] std::string printable(std::string_view text);

/// Why a head that parse_request_head refused is no request.
[[nodiscard]] api_error malformed_head(std::string_view text);

/// The body's length as the head declares it: nullopt when it declares
/// none (or chunked); UINT64_MAX for a length of more digits than any
/// limit. An error for what cannot be trusted: a length that is not a
/// number, two different ones, or a length and a transfer coding at once
/// (RFC 9112 §6.3: a sign of request smuggling).
[[nodiscard]] std::variant<std::optional<uint64_t>, api_error>
declared_length(const request_head& head);

/// `text/csv` or `application/csv`, parameters aside.
[[nodiscard]] bool is_csv_type(std::string_view content_type);

/// A compressed file's type (`application/gzip`, `application/x-gzip`,
/// `application/zstd`), parameters aside: a raw body of a `.csv.gz`.
[[nodiscard]] bool is_compressed_type(std::string_view content_type);

} // namespace playcount::http
