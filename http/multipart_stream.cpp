#include "http/multipart_stream.hpp"

#include "core/input_error.hpp"
#include "http/multipart_detail.hpp"

#include <algorithm>
#include <cstring>

namespace playcount::http {

namespace {

constexpr std::string_view crlf = "\r\n";

// What parse_multipart looks at for a part's headers: the CRLF that ended
// the delimiter line, the headers, and the CRLF CRLF after them.
constexpr size_t headers_window = max_part_headers_size + 6;

// Enough of the body's start for the no_opening_boundary messages: the
// "--boundary" (at most 72 bytes) and the first line as quoted (60 bytes,
// and whether there are more).
constexpr size_t first_bytes_kept = 80;

bool is_blank(char ch) noexcept {
  return ch == ' ' || ch == '\t';
}

// As multipart.cpp quotes values in messages.
std::string quoted(std::string_view value) {
  return quote_value(value, 60);
}

} // namespace

multipart_stream::multipart_stream(std::string_view boundary, events on,
                                   std::string_view unique_name)
    : boundary_(boundary)
    , needle_("\r\n--" + boundary_)
    , on_(std::move(on))
    , unique_name_(unique_name)
    ,
    // With a CRLF in front of the body, the opening delimiter ("--boundary"
    // at the very start, or "\r\n--boundary" after a preamble) is found
    // like all the others.
    tail_(crlf) {}

multipart_stream::status multipart_stream::feed(std::string_view bytes) {
  if (status_ != status::more || bytes.empty())
    return status_;
  fed_any_ = true;
  if (phase_ == phase::preamble && first_bytes_.size() < first_bytes_kept)
    first_bytes_.append(
        bytes.substr(0, first_bytes_kept - first_bytes_.size()));
  size_t pos = 0;
  while (pos < bytes.size() && status_ == status::more) {
    switch (phase_) {
    case phase::preamble:
    case phase::content:
      scan(bytes, pos);
      break;
    case phase::headers:
      gather_headers(bytes, pos);
      break;
    case phase::headers_full:
      // More bytes after a full window: parse_multipart's verdict too.
      fail(multipart_errc::bad_part_headers,
           detail::describe_part(part_index_, {}) +
               ": the headers do not end with an empty line (CRLF CRLF) "
               "within " +
               std::to_string(max_part_headers_size) + " bytes");
      break;
    case phase::end:
      pos = bytes.size();
      break;
    }
  }
  return status_;
}

multipart_stream::status multipart_stream::finish() {
  if (status_ != status::more)
    return status_;
  // "--boundary--" with optional blanks at the very end needs no CRLF.
  const bool close_pending =
      tail_.size() >= needle_.size() && after_ == after::close_pad;
  switch (phase_) {
  case phase::preamble:
    if (!fed_any_) { // an empty body is a form without parts
      phase_ = phase::end;
      status_ = status::done;
    } else if (close_pending) {
      delimiter_seen(true);
    } else {
      fail_no_opening();
    }
    break;
  case phase::headers:
  case phase::headers_full:
    fail_unterminated_headers();
    break;
  case phase::content:
    if (close_pending)
      delimiter_seen(true);
    else
      fail(multipart_errc::unterminated,
           detail::describe_part(part_index_, part_name_) +
               " has no closing boundary: the body ends before " +
               quoted(std::string{needle_, 2} + "--"));
    break;
  case phase::end:
    break;
  }
  return status_;
}

// One step over the preamble or a part's content from `pos`: settles the
// held-back tail, or searches the rest of the piece for the next delimiter.
void multipart_stream::scan(std::string_view bytes, size_t& pos) {
  if (!tail_.empty()) {
    if (tail_.size() < needle_.size()) { // a prefix of the needle
      const size_t k =
          std::min(needle_.size() - tail_.size(), bytes.size() - pos);
      if (bytes.substr(pos, k) ==
          std::string_view{needle_}.substr(tail_.size(), k)) {
        tail_.append(bytes.substr(pos, k));
        pos += k;
        after_ = after::start;
        padding_ = 0;
      } else {
        release_tail();
      }
      return;
    }
    step_after(bytes[pos], pos);
    return;
  }
  const std::string_view rest = bytes.substr(pos);
  const void* hit =
      ::memmem(rest.data(), rest.size(), needle_.data(), needle_.size());
  if (hit != nullptr) {
    const size_t at = static_cast<const char*>(hit) - rest.data();
    if (!emit(rest.substr(0, at)))
      return;
    tail_ = needle_;
    after_ = after::start;
    padding_ = 0;
    pos += at + needle_.size();
    return;
  }
  // The end of the piece may begin a needle. Only its last CR can: the
  // needle holds one CR, its first byte.
  size_t keep = rest.size();
  const size_t look = std::min(rest.size(), needle_.size() - 1);
  const void* cr = ::memrchr(rest.data() + rest.size() - look, '\r', look);
  if (cr != nullptr) {
    const size_t at = static_cast<const char*>(cr) - rest.data();
    if (std::string_view{needle_}.substr(0, rest.size() - at) ==
        rest.substr(at))
      keep = at;
  }
  if (!emit(rest.substr(0, keep)))
    return;
  tail_.assign(rest.substr(keep));
  pos = bytes.size();
}

// Reads one byte after a whole "\r\n--boundary", by parse_multipart's rule:
// "--", blanks and CRLF (or the end) closes; blanks and CRLF opens a part;
// anything else makes the bytes content.
void multipart_stream::step_after(char ch, size_t& pos) {
  switch (after_) {
  case after::start:
    if (ch == '-')
      after_ = after::dash;
    else if (is_blank(ch))
      after_ = after::open_pad;
    else if (ch == '\r')
      after_ = after::open_cr;
    else
      return release_tail();
    break;
  case after::dash:
    if (ch != '-')
      return release_tail();
    after_ = after::close_pad;
    break;
  case after::close_pad:
  case after::open_pad:
    if (ch == '\r')
      after_ = after_ == after::close_pad ? after::close_cr : after::open_cr;
    else if (!is_blank(ch))
      return release_tail();
    break;
  case after::close_cr:
  case after::open_cr:
    if (ch != '\n') // that CR cannot begin a needle either
      return release_tail();
    ++pos;
    return delimiter_seen(after_ == after::close_cr);
  }
  if (is_blank(ch) && ++padding_ > max_transport_padding) {
    const bool close = after_ == after::close_pad;
    fail(multipart_errc::bad_part_headers,
         (close ? std::string{"the close boundary"}
                : detail::describe_part(part_index_ + 1, {}) +
                      ": its boundary line") +
             " has more than " + std::to_string(max_transport_padding) +
             " blanks before its line end");
    return;
  }
  tail_ += ch;
  ++pos;
}

// The held-back bytes were not a delimiter: they are content (or preamble).
// None of them can begin one: the needle's only CR is its first byte.
void multipart_stream::release_tail() {
  if (emit(tail_))
    tail_.clear();
}

void multipart_stream::delimiter_seen(bool close) {
  tail_.clear();
  first_bytes_.clear();
  if (phase_ == phase::content && on_.part_end)
    on_.part_end();
  if (close) {
    phase_ = phase::end;
    status_ = status::done;
    return;
  }
  ++part_index_;
  part_name_.clear();
  headers_.assign(crlf); // the CRLF that ended the delimiter line
  phase_ = phase::headers;
}

// Gathers a part's headers up to their empty line, then moves on to the
// content right after it.
void multipart_stream::gather_headers(std::string_view bytes, size_t& pos) {
  const size_t old = headers_.size();
  const size_t k = std::min(headers_window - old, bytes.size() - pos);
  headers_.append(bytes.substr(pos, k));
  const size_t blank = headers_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
  if (blank == std::string::npos) {
    pos += k;
    if (headers_.size() == headers_window)
      phase_ = phase::headers_full;
    return;
  }
  pos += blank + 4 - old;
  headers_.resize(blank + 4);
  headers_seen(blank);
}

void multipart_stream::headers_seen(size_t blank_line) {
  const std::string_view gathered{headers_};
  // A delimiter among the header lines: the part lacked its empty line.
  if (detail::find_delimiter(boundary_, gathered, 0, blank_line + 2) !=
      std::string_view::npos) {
    fail(multipart_errc::bad_part_headers,
         detail::describe_part(part_index_, {}) +
             ": the headers do not end with an empty line before the next "
             "boundary");
    return;
  }
  multipart_part part;
  const std::string_view section =
      blank_line > 2 ? gathered.substr(2, blank_line - 2) : std::string_view{};
  if (std::string why = detail::parse_part_headers(section, part);
      !why.empty()) {
    fail(multipart_errc::bad_part_headers,
         detail::describe_part(part_index_, part.name) + ": " + why);
    return;
  }
  if (!unique_name_.empty() && part.name == unique_name_) {
    if (unique_index_ != 0) {
      fail(multipart_errc::duplicate_field,
           "two parts are named " + quoted(unique_name_) + " (parts " +
               std::to_string(unique_index_) + " and " +
               std::to_string(part_index_) + "): send one " + unique_name_ +
               " per request");
      return;
    }
    unique_index_ = part_index_;
  }
  stream_part_head head;
  head.index = part_index_;
  head.name = part.name;
  head.filename = part.filename;
  head.has_filename = part.has_filename;
  head.content_type = part.content_type;
  part_name_ = head.name;
  headers_.clear();
  phase_ = phase::content;
  if (on_.part_begin)
    on_.part_begin(head);
}

bool multipart_stream::emit(std::string_view content) {
  if (phase_ != phase::content || content.empty() || !on_.content)
    return true; // the preamble is skipped
  if (on_.content(content))
    return true;
  status_ = status::stopped;
  phase_ = phase::end;
  return false;
}

multipart_stream::status multipart_stream::fail(multipart_errc code,
                                                std::string message) {
  error_ = multipart_error{code, std::move(message)};
  status_ = status::failed;
  phase_ = phase::end;
  tail_.clear();
  headers_.clear();
  first_bytes_.clear();
  return status_;
}

multipart_stream::status multipart_stream::fail_unterminated_headers() {
  // As parse_multipart tells a truncated body from a part that lacks its
  // empty line.
  if (detail::find_delimiter(boundary_, headers_) == std::string_view::npos)
    return fail(multipart_errc::unterminated,
                detail::describe_part(part_index_, {}) +
                    " has no closing boundary: the body ends inside its "
                    "headers");
  return fail(multipart_errc::bad_part_headers,
              detail::describe_part(part_index_, {}) +
                  ": the headers do not end with an empty line (CRLF CRLF) "
                  "within " +
                  std::to_string(max_part_headers_size) + " bytes");
}

multipart_stream::status multipart_stream::fail_no_opening() {
  const std::string_view start{first_bytes_};
  const std::string_view dash_boundary = std::string_view{needle_}.substr(2);
  const std::string_view first_line = start.substr(0, start.find(crlf));
  if (start.substr(0, dash_boundary.size()) == dash_boundary)
    return fail(multipart_errc::no_opening_boundary,
                "the first line " + quoted(first_line) +
                    " is not the boundary " + quoted(dash_boundary) +
                    " followed by CRLF (multipart lines end with CRLF)");
  return fail(
      multipart_errc::no_opening_boundary,
      "the body does not start with the boundary " + quoted(dash_boundary) +
          " given in Content-Type; its first line is " + quoted(first_line));
}

} // namespace playcount::http
