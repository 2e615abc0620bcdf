// Fuzz property (b): the multipart parser against a plain reference split.

#include "checks.hpp"

#include "http/multipart.hpp"

#include <optional>
#include <vector>

namespace playcount::fuzz {

namespace {

using http::multipart_form;
using http::multipart_part;

bool inside(std::string_view view, std::string_view body) {
  if (view.empty())
    return true; // an empty view may point anywhere
  return view.data() >= body.data() &&
         view.data() + view.size() <= body.data() + body.size();
}

// -- the reference ----------------------------------------------------------
// RFC 2046 §5.1.1 read literally, for the simplest forms only: the boundary
// never occurs in a part, every part has the headers a browser or curl sends
// and nothing else. Whatever falls outside is "no verdict".

struct ref_part {
  std::string name;
  std::optional<std::string> filename;
  std::string content;
};

struct ref_form {
  enum { no_verdict, well_formed, duplicate_file } verdict = no_verdict;
  std::vector<ref_part> parts;
};

bool is_bchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') ||
         std::string_view("'()+_,-./:=?").find(c) != std::string_view::npos;
}

// `multipart/form-data; boundary=B`, B of bchars (no spaces), exactly so.
std::optional<std::string> ref_boundary(std::string_view content_type) {
  constexpr std::string_view prefix = "multipart/form-data; boundary=";
  if (content_type.substr(0, prefix.size()) != prefix)
    return std::nullopt;
  const std::string_view b = content_type.substr(prefix.size());
  if (b.empty() || b.size() > 70)
    return std::nullopt;
  for (char c : b)
    if (!is_bchar(c))
      return std::nullopt;
  return std::string(b);
}

bool plain_value(std::string_view v) {
  return v.find_first_of("\"\\\r\n") == std::string_view::npos;
}

// `Content-Disposition: form-data; name="N"[; filename="F"]` and at most one
// `Content-Type: T`, CRLF-separated, in any order.
bool ref_headers(std::string_view headers, ref_part& part) {
  bool disposition = false, type = false;
  size_t i = 0;
  while (i <= headers.size()) {
    size_t end = headers.find("\r\n", i);
    if (end == std::string_view::npos)
      end = headers.size();
    const std::string_view line = headers.substr(i, end - i);
    i = end + 2;
    constexpr std::string_view cd = "Content-Disposition: form-data; name=\"";
    constexpr std::string_view ct = "Content-Type: ";
    if (line.substr(0, cd.size()) == cd && !disposition) {
      disposition = true;
      std::string_view rest = line.substr(cd.size());
      const size_t q = rest.find('"');
      if (q == std::string_view::npos || !plain_value(rest.substr(0, q)))
        return false;
      part.name = std::string(rest.substr(0, q));
      rest.remove_prefix(q + 1);
      if (rest.empty())
        continue;
      constexpr std::string_view fn = "; filename=\"";
      // The quote after `filename=` opens the value; another must close it.
      if (rest.size() < fn.size() + 1 || rest.substr(0, fn.size()) != fn ||
          rest.back() != '"')
        return false;
      rest = rest.substr(fn.size(), rest.size() - fn.size() - 1);
      if (!plain_value(rest))
        return false;
      part.filename = std::string(rest);
    } else if (line.substr(0, ct.size()) == ct && !type) {
      type = true;
      const std::string_view v = line.substr(ct.size());
      if (v.empty() || v.front() == ' ' || v.back() == ' ' ||
          v.find_first_of("\r\n\t") != std::string_view::npos)
        return false;
    } else {
      return false;
    }
  }
  return disposition;
}

ref_form reference_split(std::string_view content_type, std::string_view body) {
  ref_form form;
  const auto boundary = ref_boundary(content_type);
  if (!boundary)
    return form;
  // With a CRLF in front, the opening delimiter looks like all the others.
  const std::string text = "\r\n" + std::string(body);
  const std::string delimiter = "\r\n--" + *boundary;
  // The delimiters: each followed by blanks and CRLF, or by "--" (the last).
  std::vector<size_t> starts; // where each part's bytes begin
  std::vector<size_t> ends;   // where each part's bytes end
  size_t at = text.find(delimiter);
  bool closed = false;
  while (at != std::string::npos) {
    if (!starts.empty())
      ends.push_back(at);
    size_t after = at + delimiter.size();
    if (text.compare(after, 2, "--") == 0) {
      after += 2;
      while (after < text.size() && (text[after] == ' ' || text[after] == '\t'))
        ++after;
      if (after != text.size() && text.compare(after, 2, "\r\n") != 0)
        return form; // "--B--x": the boundary occurs in a part
      closed = true;
      break;
    }
    while (after < text.size() && (text[after] == ' ' || text[after] == '\t'))
      ++after;
    if (text.compare(after, 2, "\r\n") != 0)
      return form; // the boundary occurs in a part or the preamble
    starts.push_back(after + 2);
    at = text.find(delimiter, after);
  }
  if (!closed)
    return form;
  int files = 0;
  for (size_t i = 0; i < starts.size(); ++i) {
    if (ends[i] < starts[i])
      return form;
    const std::string_view part(text.data() + starts[i], ends[i] - starts[i]);
    const size_t blank = part.find("\r\n\r\n");
    if (blank == std::string_view::npos || blank == 0 ||
        blank > http::max_part_headers_size)
      return form;
    ref_part p;
    if (!ref_headers(part.substr(0, blank), p))
      return form;
    p.content = std::string(part.substr(blank + 4));
    files += p.name == http::file_field_name;
    form.parts.push_back(std::move(p));
  }
  form.verdict = files > 1 ? ref_form::duplicate_file : ref_form::well_formed;
  return form;
}

// -- the checks --------------------------------------------------------------

std::string check_views(const multipart_form& form, std::string_view body) {
  const char* last_end = body.data();
  for (size_t i = 0; i < form.parts.size(); ++i) {
    const multipart_part& p = form.parts[i];
    for (std::string_view v : {p.name, p.filename, p.content_type, p.content})
      if (!inside(v, body))
        return "part " + std::to_string(i + 1) + " has a view outside the body";
    if (!p.has_filename && !p.filename.empty())
      return "part " + std::to_string(i + 1) + " has a filename but no flag";
    if (!p.content.empty()) {
      if (p.content.data() < last_end)
        return "part " + std::to_string(i + 1) + " overlaps the one before";
      last_end = p.content.data() + p.content.size();
    }
  }
  const multipart_part* file = form.file();
  for (const multipart_part& p : form.parts)
    if (p.name == http::file_field_name) {
      if (file != &p)
        return "file() is not the first part named file";
      break;
    }
  return {};
}

std::string compare(const multipart_form& form, const ref_form& ref) {
  if (form.parts.size() != ref.parts.size())
    return "the parser finds " + std::to_string(form.parts.size()) +
           " parts, the reference " + std::to_string(ref.parts.size());
  for (size_t i = 0; i < ref.parts.size(); ++i) {
    const multipart_part& p = form.parts[i];
    const ref_part& r = ref.parts[i];
    const std::string which = "part " + std::to_string(i + 1) + ": ";
    if (p.name != r.name)
      return which + "name " + printable(p.name) + ", reference " +
             printable(r.name);
    if (p.has_filename != r.filename.has_value() ||
        (r.filename && p.filename != *r.filename))
      return which + "filename " + printable(p.filename) + " differs";
    if (p.content != r.content)
      return which + "content\n  parser:    " + printable(p.content) +
             "\n  reference: " + printable(r.content);
  }
  return {};
}

// `input` as the file of a form a client would send: a boundary that does
// not occur in it, a text field before it.
std::string check_round_trip(std::string_view input) {
  // A boundary from the input's own bytes, so that the file is likely to
  // hold pieces of the delimiter, lengthened until it does not hold all.
  std::string boundary;
  for (char c : input.substr(0, 16))
    if (is_bchar(c))
      boundary += c;
  if (boundary.empty())
    boundary = "x";
  while (input.find("\r\n--" + boundary) != std::string_view::npos)
    boundary += static_cast<char>('a' + boundary.size() % 26);
  if (boundary.size() > http::max_boundary_size)
    return {}; // cannot happen for inputs of libFuzzer's sizes
  const std::string note = std::string(input.substr(input.size() / 2, 9));
  if (note.find("\r\n--" + boundary) != std::string::npos)
    return {};
  const std::string body =
      "--" + boundary +
      "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n" + note +
      "\r\n--" + boundary +
      "\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"plays.csv\"\r\nContent-Type: text/csv\r\n\r\n" +
      std::string(input) + "\r\n--" + boundary + "--\r\n";
  const auto result =
      http::parse_multipart("multipart/form-data; boundary=" + boundary, body);
  if (!result)
    return "a form around the input fails: " + result.error().message;
  const multipart_part* file = result->file();
  if (file == nullptr || file->content != input)
    return "the file of a form around the input comes back as " +
           printable(file ? file->content : "(none)");
  const multipart_part* n = result->find("note");
  if (n == nullptr || n->content != note)
    return "the note of a form around the input differs";
  return {};
}

} // namespace

std::string check_multipart(std::string_view input) {
  const size_t lf = input.find('\n');
  const std::string_view content_type =
      lf == std::string_view::npos ? input : input.substr(0, lf);
  const std::string_view body =
      lf == std::string_view::npos ? std::string_view{} : input.substr(lf + 1);
  // A copy of exactly the body's size: ASan sees any read past it.
  const std::string body_copy(body);
  const std::string_view b(body_copy);
  const auto result = http::parse_multipart(content_type, b);
  const ref_form ref = reference_split(content_type, b);
  if (result) {
    if (std::string problem = check_views(*result, b); !problem.empty())
      return problem;
    if (ref.verdict == ref_form::duplicate_file)
      return "two file parts are accepted";
    if (ref.verdict == ref_form::well_formed)
      if (std::string problem = compare(*result, ref); !problem.empty())
        return problem;
  } else {
    if (result.error().message.empty())
      return "an error without a message";
    if (ref.verdict == ref_form::well_formed)
      return "a well-formed form fails: " + result.error().message;
    // Two file parts fail; when a part is also malformed (the reference
    // is more lenient about part headers), whichever comes first is said.
    if (ref.verdict == ref_form::duplicate_file &&
        result.error().code != http::multipart_errc::duplicate_field &&
        result.error().code != http::multipart_errc::bad_part_headers)
      return "two file parts fail as " +
             std::string(http::to_string(result.error().code));
  }
  return check_round_trip(input);
}

} // namespace playcount::fuzz
