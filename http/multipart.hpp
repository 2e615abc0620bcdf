#pragma once

// multipart/form-data (RFC 7578 over RFC 2046 §5.1.1), parsed in place.
//
// What holds:
// - Every view in a parsed form points into the body the caller passed in:
//   nothing of the body is copied, so the body must outlive the form.
// - The CRLF before each delimiter belongs to the delimiter: a part's content
//   ends just before the CR of "\r\n--boundary". A file uploaded by curl -F
//   keeps its bytes exactly, its own last line end included.
// - "\r\n--boundary" is a delimiter only when followed by "--" (the close
//   delimiter) or by optional spaces/tabs and CRLF. Anything else (say
//   "\r\n--boundaryX") is content: such a prefix does not end a part.
// - The body is searched with glibc memmem (a two-way search that skips
//   ahead by the needle), not byte by byte: a 1 GiB part takes about 40 ms
//   with curl's 40-character boundary. Only the vector of parts (and an
//   error message) is allocated.
// - No exceptions: the result carries either the form or an error with a
//   message meant for the client.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace playcount::http {

/// The form field that carries the uploaded CSV file.
inline constexpr std::string_view file_field_name = "file";

/// RFC 2046: a boundary has 1 to 70 characters.
inline constexpr size_t max_boundary_size = 70;

/// The headers of one part (Content-Disposition, Content-Type) must end with
/// an empty line within this many bytes.
inline constexpr size_t max_part_headers_size = size_t{64} * 1024;

enum class multipart_errc : uint8_t {
  /// The Content-Type is not multipart/form-data.
  not_multipart,
  /// The Content-Type has no boundary parameter.
  missing_boundary,
  /// The boundary is empty, too long or has characters RFC 2046 forbids.
  bad_boundary,
  /// The body neither starts with "--boundary" nor has it after a preamble:
  /// mostly a boundary that does not match the Content-Type.
  no_opening_boundary,
  /// A part runs to the end of the body without a delimiter after it.
  unterminated,
  /// A part's headers are malformed, or lack Content-Disposition form-data
  /// with a name.
  bad_part_headers,
  /// Two parts carry the name that must be unique (the `file` field).
  duplicate_field,
};

[[nodiscard]] std::string_view to_string(multipart_errc code) noexcept;

struct multipart_error {
  multipart_errc code;
  /// One line for the client, e.g. `part 2 ("file") has no closing boundary`.
  std::string message;
};

/// One part of the form. All views point into the body.
struct multipart_part {
  /// The `name` parameter of Content-Disposition, as written between the
  /// quotes (backslash escapes are not resolved; browsers and curl send `"`
  /// as %22 anyway).
  std::string_view name;
  /// The `filename` parameter, raw like `name`; empty when absent.
  std::string_view filename;
  /// Whether the part has a `filename` parameter (an uploaded file, as curl
  /// -F name=@path sends it) rather than a plain text field (-F name=<path).
  bool has_filename = false;
  /// The part's Content-Type value; empty when absent.
  std::string_view content_type;
  /// The bytes between the part's empty header line and the CRLF of the
  /// next delimiter.
  std::string_view content;
};

struct multipart_form {
  /// The parts in body order.
  std::vector<multipart_part> parts;

  /// The first part with this name, or nullptr.
  [[nodiscard]] const multipart_part*
  find(std::string_view name) const noexcept;

  /// The `file` part, or nullptr when the form has none: the caller answers
  /// `400 {"jobId": null, "message": "file is required."}`, not a parse error.
  [[nodiscard]] const multipart_part* file() const noexcept {
    return find(file_field_name);
  }
};

/// Either a form or an error; never throws.
class [[nodiscard]] multipart_result {
public:
  explicit multipart_result(multipart_form form)
      : value_(std::move(form)) {}
  explicit multipart_result(multipart_error err)
      : value_(std::move(err)) {}

  [[nodiscard]] bool has_value() const noexcept { return value_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  /// Requires has_value().
  [[nodiscard]] const multipart_form& value() const& noexcept {
    return *std::get_if<multipart_form>(&value_);
  }
  [[nodiscard]] multipart_form&& value() && noexcept {
    return std::move(*std::get_if<multipart_form>(&value_));
  }
  const multipart_form* operator->() const noexcept {
    return std::get_if<multipart_form>(&value_);
  }
  const multipart_form& operator*() const& noexcept { return value(); }

  /// Requires !has_value().
  [[nodiscard]] const multipart_error& error() const noexcept {
    return *std::get_if<multipart_error>(&value_);
  }

private:
  std::variant<multipart_form, multipart_error> value_;
};

/// Whether a Content-Type value names multipart/form-data (case-insensitive,
/// parameters ignored): the route uses it to tell a form upload from a raw
/// `text/csv` body.
[[nodiscard]] bool
is_multipart_form_data(std::string_view content_type) noexcept;

/// The boundary of a multipart/form-data Content-Type value such as
/// `multipart/form-data; boundary="abc"`: the parameter name is matched
/// case-insensitively, the value may be quoted. Empty on error, with `error`
/// set (not_multipart, missing_boundary or bad_boundary).
struct boundary_result {
  std::string boundary;
  bool ok = false;
  multipart_error error{};
};
[[nodiscard]] boundary_result find_boundary(std::string_view content_type);

/// Parses `body` (the request body Pistache holds, as a view) according to
/// the boundary in `content_type`. A part named `unique_name` may appear at
/// most once (pass an empty view to allow repeats). An empty body, or one
/// with only the close delimiter, is a form with no parts.
[[nodiscard]] multipart_result
parse_multipart(std::string_view content_type, std::string_view body,
                std::string_view unique_name = file_field_name);

/// The same with a boundary already extracted (without the leading "--").
[[nodiscard]] multipart_result
parse_multipart_body(std::string_view boundary, std::string_view body,
                     std::string_view unique_name = file_field_name);

} // namespace playcount::http
