#include "http/wire.hpp"

#include <algorithm>

namespace playcount::http {

namespace {

// A chunk-size line or trailer line longer than this is an attack or a
// bug, not HTTP.
constexpr size_t max_line = 4096;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

} // namespace

std::optional<uint64_t> parse_content_length(std::string_view text) {
  if (text.empty() || text.size() > 19)
    return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

const std::string* request_head::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (equals_ignoring_case(n, name))
      return &v;
  return nullptr;
}

namespace {

// The path and query an absolute-form target names ("http://h:1/a?b" ->
// "/a?b", "http://h" -> "/"); nullopt when `target` is not one.
std::optional<std::string> origin_form(std::string_view target) {
  size_t scheme = 0;
  if (target.size() >= 7 &&
      equals_ignoring_case(target.substr(0, 7), "http://"))
    scheme = 7;
  else if (target.size() >= 8 &&
           equals_ignoring_case(target.substr(0, 8), "https://"))
    scheme = 8;
  else
    return std::nullopt;
  const std::string_view rest = target.substr(scheme);
  const size_t path = rest.find_first_of("/?#");
  if (path == 0) // no authority: not a URI we take
    return std::nullopt;
  if (path == std::string_view::npos)
    return std::string("/");
  std::string out(rest.substr(path));
  if (out[0] != '/')
    out.insert(out.begin(), '/');
  return out;
}

} // namespace

bool parse_request_head(std::string_view text, request_head& out) {
  request_head head;
  size_t eol = text.find("\r\n");
  const std::string_view line = text.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 =
      sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos)
    return false;
  head.method = std::string(line.substr(0, sp1));
  head.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  head.version = std::string(line.substr(sp2 + 1));
  if (auto origin = origin_form(head.target)) {
    head.absolute_form = true;
    head.target = std::move(*origin);
  }
  if (head.method.empty() ||
      !std::all_of(head.method.begin(), head.method.end(), is_token_char) ||
      head.target.empty() || (head.target[0] != '/' && head.target != "*") ||
      head.version.rfind("HTTP/1.", 0) != 0)
    return false;
  const size_t q = head.target.find('?');
  head.path = head.target.substr(0, q);
  if (q != std::string::npos)
    head.query = head.target.substr(q + 1);
  while (eol != std::string_view::npos) {
    const size_t start = eol + 2;
    eol = text.find("\r\n", start);
    const std::string_view h = text.substr(start, eol == std::string_view::npos
                                                      ? std::string_view::npos
                                                      : eol - start);
    if (h.empty())
      continue;
    const size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return false;
    const std::string_view name = h.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char))
      return false;
    head.headers.emplace_back(std::string(name),
                              std::string(trim(h.substr(colon + 1))));
  }
  out = std::move(head);
  return true;
}

std::optional<std::string> query_param(std::string_view query,
                                       std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return std::string(eq == std::string_view::npos ? std::string_view{}
                                                      : pair.substr(eq + 1));
    if (amp == std::string_view::npos)
      break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

body_decoder body_decoder::fixed(uint64_t length) {
  body_decoder d;
  d.state_ = length == 0 ? state::done : state::fixed_body;
  d.left_ = length;
  d.announced_ = length;
  return d;
}

body_decoder body_decoder::chunked() {
  body_decoder d;
  d.state_ = state::chunk_size;
  return d;
}

body_decoder::status body_decoder::feed(std::string_view in, const sink& out) {
  const auto fail = [&](std::string why) {
    state_ = state::failed;
    error_ = std::move(why);
    return status::error;
  };
  // Reads up to LF into line_; true when the line is complete (in line_,
  // without CRLF).
  const auto read_line = [&](bool& complete) {
    const size_t lf = in.find('\n');
    const std::string_view part = in.substr(0, lf);
    if (line_.size() + part.size() > max_line)
      return false;
    line_.append(part);
    complete = lf != std::string_view::npos;
    in.remove_prefix(complete ? lf + 1 : in.size());
    if (complete && !line_.empty() && line_.back() == '\r')
      line_.pop_back();
    return true;
  };
  while (true) {
    switch (state_) {
    case state::done:
      return status::done;
    case state::failed:
      return status::error;
    case state::fixed_body:
    case state::chunk_data: {
      if (in.empty())
        return status::more;
      const size_t n = static_cast<size_t>(
          std::min<uint64_t>(left_, static_cast<uint64_t>(in.size())));
      if (!out(in.substr(0, n)))
        return fail("the upload could not be stored");
      received_ += n;
      left_ -= n;
      in.remove_prefix(n);
      if (left_ == 0)
        state_ =
            state_ == state::fixed_body ? state::done : state::chunk_data_end;
      break;
    }
    case state::chunk_size: {
      bool complete = false;
      if (!read_line(complete))
        return fail("a chunk-size line is too long");
      if (!complete)
        return status::more;
      const std::string_view size =
          trim(std::string_view(line_).substr(0, line_.find(';')));
      uint64_t value = 0;
      if (size.empty() || size.size() > 15)
        return fail("a malformed chunk size");
      for (char c : size) {
        int digit;
        if (c >= '0' && c <= '9')
          digit = c - '0';
        else if (c >= 'a' && c <= 'f')
          digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
          digit = c - 'A' + 10;
        else
          return fail("a malformed chunk size");
        value = value * 16 + static_cast<uint64_t>(digit);
      }
      line_.clear();
      left_ = value;
      state_ = value == 0 ? state::trailer : state::chunk_data;
      break;
    }
    case state::chunk_data_end: {
      bool complete = false;
      if (!read_line(complete))
        return fail("chunk data longer than its size");
      if (!complete)
        return status::more;
      if (!line_.empty())
        return fail("chunk data longer than its size");
      state_ = state::chunk_size;
      break;
    }
    case state::trailer: {
      bool complete = false;
      if (!read_line(complete))
        return fail("a trailer line is too long");
      if (!complete)
        return status::more;
      const bool last = line_.empty();
      line_.clear();
      if (last)
        state_ = state::done;
      break;
    }
    }
  }
}

} // namespace playcount::http
