#pragma once

// The names of files that come and go over HTTP: the name an upload gives
// itself (a path segment, a Content-Disposition header, ?filename=), and
// the name the result is downloaded under (RFC 6266). Pure code.
//
// What holds: an upload's name is one path segment, never a path: a name
// with a slash, a backslash, a control character or that is "." or ".." is
// refused, so it can name nothing but itself (it is only ever shown and
// used to name the download; files on disk are named by the job id).

#include "http/api.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace playcount::http {

/// Percent-decodes `text` ("a%20b" -> "a b"); nullopt for a '%' not
/// followed by two hex digits.
[[nodiscard]] std::optional<std::string> percent_decode(std::string_view text);

/// An upload's name, checked: at most 255 bytes, one segment, no control
/// characters. A bad_request error says what is wrong with it and `where`
/// it came from ("in the path").
[[nodiscard]] std::variant<std::string, api_error>
upload_name(std::string name, std::string_view where);

/// The same for a name percent-encoded (in the path or the query).
[[nodiscard]] std::variant<std::string, api_error>
encoded_upload_name(std::string_view encoded, std::string_view where);

/// A form file part's name as the job keeps it: at most its first 255
/// bytes, cut before a UTF-8 character rather than inside it (a cut one
/// would be shown as `\xC3` and name the download after that).
[[nodiscard]] std::string form_file_name(std::string_view name);

/// The file name a Content-Disposition value gives (`filename*=UTF-8''...`
/// before `filename="..."`), not yet checked; nullopt when it gives none.
[[nodiscard]] std::optional<std::string>
disposition_filename(std::string_view value);

/// The download's name for an upload named `file_name`: "plays.csv" ->
/// "plays-totals.csv", "x.csv.gz" -> "x-totals.csv"; "<id>.csv" when the
/// upload had no name.
[[nodiscard]] std::string attachment_name(std::string_view file_name,
                                          std::string_view id);

/// `attachment; filename="..."` with only safe ASCII in the quotes, and
/// `; filename*=UTF-8''...` (percent-encoded) when the name needs more.
[[nodiscard]] std::string content_disposition(std::string_view name);

} // namespace playcount::http
