#include "http/multipart.hpp"
#include "http/multipart_detail.hpp"

#include "core/input_error.hpp"
#include "http/wire.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace playcount::http {

namespace {

constexpr std::string_view crlf = "\r\n";

bool is_blank(char ch) noexcept {
  return ch == ' ' || ch == '\t';
}

// Inside header values a folded line (obsolete, RFC 7230 §3.2.4) leaves CR LF
// followed by a blank: treat CR and LF as white space there too.
bool is_space(char ch) noexcept {
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

// RFC 2046 bchars: DIGIT / ALPHA / ' ( ) + _ , - . / : = ? and space.
bool is_boundary_char(char ch) noexcept {
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
      (ch >= '0' && ch <= '9'))
    return true;
  return std::strchr("'()+_,-./:=? ", ch) != nullptr && ch != '\0';
}

std::string_view trim(std::string_view s) noexcept {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b]))
    ++b;
  while (e > b && is_space(s[e - 1]))
    --e;
  return s.substr(b, e - b);
}

// A value for an error message: quoted, at most `max_len` bytes, control
// characters escaped so the message stays on one line.
// Values in messages are quoted the way input errors quote them.
std::string quoted(std::string_view value) {
  return quote_value(value, 60);
}

multipart_error make_error(multipart_errc code, std::string message) {
  return multipart_error{code, std::move(message)};
}

// One `name=value` parameter of a header value. `value` is the raw text
// between the quotes when `quoted`; `escaped` says it holds a backslash.
struct header_param {
  std::string_view name;
  std::string_view value;
  bool quoted = false;
  bool escaped = false;
};

// Walks `*( OWS ";" OWS name "=" ( token / quoted-string ) )` from `pos`,
// calling `on_param` for each. Empty parameters (";;", a trailing ";") are
// allowed. Returns an empty string on success, else what is wrong.
template <class OnParam>
std::string for_each_param(std::string_view s, size_t pos, OnParam&& on_param) {
  const size_t n = s.size();
  auto skip_space = [&](size_t i) {
    while (i < n && is_space(s[i]))
      ++i;
    return i;
  };
  size_t i = pos;
  for (;;) {
    i = skip_space(i);
    if (i == n)
      return {};
    if (s[i] != ';')
      return "expected ';' before " + quoted(s.substr(i));
    i = skip_space(i + 1);
    if (i == n || s[i] == ';')
      continue;
    const size_t name_begin = i;
    while (i < n && is_token_char(s[i]))
      ++i;
    header_param param;
    param.name = s.substr(name_begin, i - name_begin);
    if (param.name.empty())
      return "bad parameter " + quoted(s.substr(name_begin));
    i = skip_space(i);
    if (i == n || s[i] != '=')
      return "parameter " + quoted(param.name) + " has no value";
    i = skip_space(i + 1);
    if (i < n && s[i] == '"') {
      const size_t value_begin = ++i;
      while (i < n && s[i] != '"') {
        if (s[i] == '\\') {
          param.escaped = true;
          ++i;
        }
        ++i;
      }
      if (i >= n)
        return "parameter " + quoted(param.name) + " has an unclosed quote";
      param.value = s.substr(value_begin, i - value_begin);
      param.quoted = true;
      ++i;
    } else {
      const size_t value_begin = i;
      while (i < n && s[i] != ';' && !is_space(s[i]))
        ++i;
      param.value = s.substr(value_begin, i - value_begin);
      if (param.value.empty())
        return "parameter " + quoted(param.name) + " has no value";
    }
    on_param(param);
  }
}

// Splits a header value into its leading item (a media type or disposition
// type) and the position where its parameters begin.
std::pair<std::string_view, size_t> split_leading(std::string_view s) {
  const size_t semi = s.find(';');
  const size_t end = semi == std::string_view::npos ? s.size() : semi;
  return {trim(s.substr(0, end)), end};
}

std::string unescape(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size())
      ++i;
    out += raw[i];
  }
  return out;
}

// What follows a "--boundary" in the body.
enum class delimiter_kind { none, open, close };

struct delimiter_match {
  delimiter_kind kind = delimiter_kind::none;
  // After an open delimiter: where the next part begins.
  size_t next = 0;
};

// `after` is the index just past "--boundary". An open delimiter is followed
// by transport padding (spaces, tabs) and CRLF; a close delimiter by "--",
// padding and CRLF or the end of the body (the epilogue is ignored).
// Anything else means the bytes were content that merely starts with the
// boundary.
delimiter_match classify(std::string_view body, size_t after) noexcept {
  const size_t n = body.size();
  if (body.compare(after, 2, "--") == 0) {
    size_t i = after + 2;
    while (i < n && is_blank(body[i]))
      ++i;
    if (i == n || body.compare(i, 2, crlf) == 0)
      return {delimiter_kind::close, 0};
    return {};
  }
  size_t i = after;
  while (i < n && is_blank(body[i]))
    ++i;
  if (body.compare(i, 2, crlf) == 0)
    return {delimiter_kind::open, i + 2};
  return {};
}

// Finds "\r\n--boundary" delimiters; the needle is built once per body.
class delimiter_finder {
public:
  explicit delimiter_finder(std::string_view boundary) {
    needle_.reserve(boundary.size() + 4);
    needle_ += "\r\n--";
    needle_ += boundary;
  }

  // The first real delimiter whose CR is in [from, limit), skipping
  // candidates that are content. Returns npos when there is none.
  [[nodiscard]] std::pair<size_t, delimiter_match>
  find(std::string_view body, size_t from,
       size_t limit = std::string_view::npos) const noexcept {
    // A needle whose CR is before `limit` ends before limit - 1 + its size:
    // the search never reads further, so a bounded look stays cheap.
    const size_t n = limit == std::string_view::npos
                         ? body.size()
                         : std::min(body.size(), limit - 1 + needle_.size());
    while (from < n && from < limit) {
      const void* hit = ::memmem(body.data() + from, n - from, needle_.data(),
                                 needle_.size());
      if (hit == nullptr)
        break;
      const size_t pos = static_cast<const char*>(hit) - body.data();
      if (pos >= limit)
        break;
      const auto match = classify(body, pos + needle_.size());
      if (match.kind != delimiter_kind::none)
        return {pos, match};
      from = pos + 1;
    }
    return {std::string_view::npos, {}};
  }

  [[nodiscard]] std::string_view dash_boundary() const noexcept {
    return std::string_view{needle_}.substr(2);
  }

private:
  std::string needle_;
};

std::string describe_part(size_t index, std::string_view name) {
  std::string out = "part " + std::to_string(index);
  if (!name.empty())
    out += " (" + quoted(name) + ")";
  return out;
}

// Parses the header lines in `section` (CRLF-separated, no final CRLF) into
// `part`. Returns an empty string on success, else what is wrong.
std::string parse_part_headers(std::string_view section, multipart_part& part) {
  bool seen_disposition = false;
  bool seen_type = false;
  std::string_view disposition;
  size_t i = 0;
  while (i < section.size()) {
    size_t end = section.find(crlf, i);
    if (end == std::string_view::npos)
      end = section.size();
    // A folded continuation line joins the value above: the views stay
    // contiguous in the body, and CR LF count as spaces when parsing.
    while (end + 2 < section.size() && is_blank(section[end + 2])) {
      const size_t more = section.find(crlf, end + 2);
      end = more == std::string_view::npos ? section.size() : more;
    }
    const std::string_view line = section.substr(i, end - i);
    i = end + 2;
    if (line.empty())
      return "empty header line";
    if (is_blank(line.front()))
      return "header line " + quoted(line) + " starts with white space";
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      return "header line " + quoted(line) + " has no ':'";
    const std::string_view name = line.substr(0, colon);
    for (char ch : name)
      if (!is_token_char(ch))
        return "bad header name " + quoted(name);
    if (name.empty())
      return "header line " + quoted(line) + " has no name";
    const std::string_view value = trim(line.substr(colon + 1));
    if (equals_ignoring_case(name, "Content-Disposition")) {
      if (seen_disposition)
        return "two Content-Disposition headers";
      seen_disposition = true;
      disposition = value;
    } else if (equals_ignoring_case(name, "Content-Type")) {
      if (seen_type)
        return "two Content-Type headers";
      seen_type = true;
      part.content_type = value;
    }
  }
  if (!seen_disposition)
    return "no Content-Disposition header";
  const auto [type, params_at] = split_leading(disposition);
  if (!equals_ignoring_case(type, "form-data"))
    return "Content-Disposition is " + quoted(type) + ", not form-data";
  bool seen_name = false;
  std::string why;
  std::string problem =
      for_each_param(disposition, params_at, [&](const header_param& param) {
        if (!why.empty())
          return;
        if (equals_ignoring_case(param.name, "name")) {
          if (seen_name)
            why = "Content-Disposition has two name parameters";
          seen_name = true;
          part.name = param.value;
        } else if (equals_ignoring_case(param.name, "filename")) {
          if (part.has_filename)
            why = "Content-Disposition has two filename parameters";
          part.has_filename = true;
          part.filename = param.value;
        }
        // Other parameters (filename* of RFC 5987, which RFC 7578 says not to
        // send) are ignored.
      });
  if (!problem.empty())
    return "Content-Disposition: " + problem;
  if (!why.empty())
    return why;
  if (!seen_name)
    return "Content-Disposition has no name parameter";
  return {};
}

} // namespace

std::string_view to_string(multipart_errc code) noexcept {
  switch (code) {
  case multipart_errc::not_multipart:
    return "not_multipart";
  case multipart_errc::missing_boundary:
    return "missing_boundary";
  case multipart_errc::bad_boundary:
    return "bad_boundary";
  case multipart_errc::no_opening_boundary:
    return "no_opening_boundary";
  case multipart_errc::unterminated:
    return "unterminated";
  case multipart_errc::bad_part_headers:
    return "bad_part_headers";
  case multipart_errc::duplicate_field:
    return "duplicate_field";
  }
  return "unknown";
}

const multipart_part*
multipart_form::find(std::string_view name) const noexcept {
  for (const auto& part : parts)
    if (part.name == name)
      return &part;
  return nullptr;
}

bool is_multipart_form_data(std::string_view content_type) noexcept {
  return equals_ignoring_case(split_leading(content_type).first,
                              "multipart/form-data");
}

boundary_result find_boundary(std::string_view content_type) {
  boundary_result result;
  auto fail = [&](multipart_errc code, std::string message) {
    result.error = make_error(code, std::move(message));
    return std::move(result);
  };
  const auto [media_type, params_at] = split_leading(content_type);
  if (!equals_ignoring_case(media_type, "multipart/form-data"))
    return fail(multipart_errc::not_multipart,
                "Content-Type is " + quoted(media_type) +
                    ", expected multipart/form-data");
  bool found = false;
  header_param boundary;
  std::string problem =
      for_each_param(content_type, params_at, [&](const header_param& param) {
        // The first boundary parameter counts, like in most servers.
        if (!found && equals_ignoring_case(param.name, "boundary")) {
          found = true;
          boundary = param;
        }
      });
  if (!problem.empty())
    return fail(multipart_errc::bad_boundary, "Content-Type: " + problem);
  if (!found)
    return fail(multipart_errc::missing_boundary,
                "Content-Type multipart/form-data has no boundary parameter");
  std::string value =
      boundary.escaped ? unescape(boundary.value) : std::string{boundary.value};
  if (value.empty())
    return fail(multipart_errc::bad_boundary,
                "the boundary parameter of Content-Type is empty");
  if (value.size() > max_boundary_size)
    return fail(multipart_errc::bad_boundary,
                "the boundary " + quoted(value) + " is longer than " +
                    std::to_string(max_boundary_size) + " characters");
  for (char ch : value)
    if (!is_boundary_char(ch))
      return fail(multipart_errc::bad_boundary,
                  "the boundary " + quoted(value) + " has the character " +
                      quoted(std::string_view{&ch, 1}) +
                      ", which RFC 2046 does not allow");
  if (value.back() == ' ')
    return fail(multipart_errc::bad_boundary,
                "the boundary " + quoted(value) + " ends with a space");
  result.boundary = std::move(value);
  result.ok = true;
  return result;
}

multipart_result parse_multipart(std::string_view content_type,
                                 std::string_view body,
                                 std::string_view unique_name) {
  auto boundary = find_boundary(content_type);
  if (!boundary.ok)
    return multipart_result{std::move(boundary.error)};
  return parse_multipart_body(boundary.boundary, body, unique_name);
}

multipart_result parse_multipart_body(std::string_view boundary,
                                      std::string_view body,
                                      std::string_view unique_name) {
  multipart_form form;
  if (body.empty())
    return multipart_result{std::move(form)};
  const delimiter_finder finder{boundary};
  const std::string_view dash_boundary = finder.dash_boundary();

  // The opening delimiter: "--boundary" at the very start, or "\r\n--boundary"
  // after a preamble.
  delimiter_match opening;
  if (body.compare(0, dash_boundary.size(), dash_boundary) == 0)
    opening = classify(body, dash_boundary.size());
  if (opening.kind == delimiter_kind::none)
    opening = finder.find(body, 0).second;
  if (opening.kind == delimiter_kind::none) {
    const std::string_view first_line = body.substr(0, body.find(crlf));
    if (body.compare(0, dash_boundary.size(), dash_boundary) == 0)
      return multipart_result{
          make_error(multipart_errc::no_opening_boundary,
                     "the first line " + quoted(first_line) +
                         " is not the boundary " + quoted(dash_boundary) +
                         " followed by CRLF (multipart lines end with CRLF)")};
    return multipart_result{make_error(
        multipart_errc::no_opening_boundary,
        "the body does not start with the boundary " + quoted(dash_boundary) +
            " given in Content-Type; its first line is " + quoted(first_line))};
  }

  size_t part_start = opening.next;
  bool more = opening.kind == delimiter_kind::open;
  size_t unique_index = 0;
  while (more) {
    const size_t index = form.parts.size() + 1;
    multipart_part part;

    // Headers end at the first empty line. part_start - 2 is the CRLF that
    // ended the delimiter line, so a part without headers is found too.
    // The window holds the CRLF before the headers, the headers and the
    // CRLF CRLF after them.
    const size_t window =
        std::min(body.size() - (part_start - 2), max_part_headers_size + 6);
    const size_t headers_end =
        body.substr(part_start - 2, window).find("\r\n\r\n");
    if (headers_end == std::string_view::npos) {
      // Tell a truncated body from a part that lacks its empty line.
      const bool truncated =
          part_start - 2 + window == body.size() &&
          finder.find(body, part_start - 2).first == std::string_view::npos;
      if (truncated)
        return multipart_result{make_error(
            multipart_errc::unterminated,
            describe_part(index, {}) +
                " has no closing boundary: the body ends inside its headers")};
      return multipart_result{
          make_error(multipart_errc::bad_part_headers,
                     describe_part(index, {}) +
                         ": the headers do not end with an empty line (CRLF "
                         "CRLF) within " +
                         std::to_string(max_part_headers_size) + " bytes")};
    }
    const size_t content_start = part_start - 2 + headers_end + 4;
    // A delimiter inside the header lines means the part lacked its empty
    // line, and the search above ran into the next part.
    if (finder.find(body, part_start - 2, content_start - 2).first !=
        std::string_view::npos)
      return multipart_result{make_error(
          multipart_errc::bad_part_headers,
          describe_part(index, {}) +
              ": the headers do not end with an empty line before the next "
              "boundary")};
    const std::string_view section =
        content_start - 4 > part_start
            ? body.substr(part_start, content_start - 4 - part_start)
            : std::string_view{};
    if (std::string why = parse_part_headers(section, part); !why.empty())
      return multipart_result{
          make_error(multipart_errc::bad_part_headers,
                     describe_part(index, part.name) + ": " + why)};

    if (!unique_name.empty() && part.name == unique_name) {
      if (unique_index != 0)
        return multipart_result{make_error(
            multipart_errc::duplicate_field,
            "two parts are named " + quoted(unique_name) + " (parts " +
                std::to_string(unique_index) + " and " + std::to_string(index) +
                "): send one " + std::string{unique_name} + " per request")};
      unique_index = index;
    }

    // The content runs to the CR of the next delimiter; this search is the
    // only pass over the content bytes.
    const auto [delimiter_at, match] = finder.find(body, content_start);
    if (delimiter_at == std::string_view::npos)
      return multipart_result{
          make_error(multipart_errc::unterminated,
                     describe_part(index, part.name) +
                         " has no closing boundary: the body ends before " +
                         quoted(std::string{dash_boundary} + "--"))};
    part.content = body.substr(content_start, delimiter_at - content_start);
    form.parts.push_back(part);
    more = match.kind == delimiter_kind::open;
    part_start = match.next;
  }
  return multipart_result{std::move(form)};
}

namespace detail {

// The streaming parser's way in to the helpers above (multipart_detail.hpp).
std::string parse_part_headers(std::string_view section, multipart_part& part) {
  return http::parse_part_headers(section, part);
}

std::string describe_part(size_t index, std::string_view name) {
  return http::describe_part(index, name);
}

size_t find_delimiter(std::string_view boundary, std::string_view body,
                      size_t from, size_t limit) {
  return delimiter_finder{boundary}.find(body, from, limit).first;
}

} // namespace detail

} // namespace playcount::http
