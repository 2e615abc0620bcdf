#include "http/download.hpp"

#include "http/wire.hpp"

#include <array>
#include <cstdio>
#include <ctime>
#include <time.h> // strptime

namespace playcount::http {

namespace {

// Decimal digits only, at most 19 of them (as Content-Length).
std::optional<uint64_t> number(std::string_view s) {
  return parse_content_length(s);
}

// Calls f(item) for each element of a comma-separated list, trimmed,
// empty ones skipped.
template <class F>
void for_each_item(std::string_view list, F f) {
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view item = trim_blanks(list.substr(0, comma));
    if (!item.empty())
      f(item);
    if (comma == std::string_view::npos)
      return;
    list.remove_prefix(comma + 1);
  }
}

constexpr std::array<const char*, 12> months = {"Jan", "Feb", "Mar", "Apr",
                                                "May", "Jun", "Jul", "Aug",
                                                "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<const char*, 7> weekdays = {"Sun", "Mon", "Tue", "Wed",
                                                 "Thu", "Fri", "Sat"};

std::string_view strip_weak(std::string_view tag) {
  if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/')
    tag.remove_prefix(2);
  return tag;
}

} // namespace

range_request parse_range(std::string_view header, uint64_t size) {
  range_request out;
  header = trim_blanks(header);
  constexpr std::string_view unit = "bytes=";
  if (header.size() < unit.size() ||
      !equals_ignoring_case(header.substr(0, unit.size()), unit))
    return out; // another unit, or not a range: ignored
  const std::string_view set = trim_blanks(header.substr(unit.size()));
  if (set.find(',') != std::string_view::npos)
    return out; // several ranges: the whole body
  const size_t dash = set.find('-');
  if (dash == std::string_view::npos)
    return out;
  const std::string_view a = trim_blanks(set.substr(0, dash));
  const std::string_view b = trim_blanks(set.substr(dash + 1));
  if (a.empty()) { // bytes=-n: the last n bytes
    const auto n = number(b);
    if (!n)
      return out;
    if (*n == 0 || size == 0) {
      out.kind = range_request::unsatisfiable;
      return out;
    }
    out.kind = range_request::part;
    out.length = std::min(*n, size);
    out.first = size - out.length;
    return out;
  }
  const auto first = number(a);
  if (!first)
    return out;
  std::optional<uint64_t> last;
  if (!b.empty()) {
    last = number(b);
    if (!last || *last < *first)
      return out; // invalid: ignored, as §14.1.1 says
  }
  if (*first >= size) {
    out.kind = range_request::unsatisfiable;
    return out;
  }
  const uint64_t end = last ? std::min(*last, size - 1) : size - 1;
  out.kind = range_request::part;
  out.first = *first;
  out.length = end - *first + 1;
  return out;
}

std::string strong_etag(std::string_view id, const file_identity& file,
                        bool gzip) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "-%llx-%llx",
                static_cast<unsigned long long>(file.size),
                static_cast<unsigned long long>(file.mtime_ns));
  std::string out = "\"";
  out.append(id).append(buf);
  if (gzip)
    out += "-gz";
  out += '"';
  return out;
}

std::string http_date(int64_t seconds) {
  const auto t = static_cast<time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                weekdays.at(static_cast<size_t>(tm.tm_wday)), tm.tm_mday,
                months.at(static_cast<size_t>(tm.tm_mon)), tm.tm_year + 1900,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::optional<int64_t> parse_http_date(std::string_view text) {
  const std::string s(trim_blanks(text));
  // IMF-fixdate, RFC 850, asctime (strptime in the C locale: English names).
  for (const char* format :
       {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y"}) {
    std::tm tm{};
    const char* end = ::strptime(s.c_str(), format, &tm);
    if (end != nullptr && *end == '\0')
      return static_cast<int64_t>(timegm(&tm));
  }
  return std::nullopt;
}

bool none_match_hits(std::string_view if_none_match, std::string_view etag) {
  bool hit = false;
  for_each_item(if_none_match, [&](std::string_view tag) {
    if (tag == "*" || strip_weak(tag) == strip_weak(etag))
      hit = true;
  });
  return hit;
}

bool accepts_gzip(std::string_view accept_encoding) {
  // The q-value of gzip, or of "*" when gzip is not named.
  std::optional<bool> gzip;
  std::optional<bool> any;
  for_each_item(accept_encoding, [&](std::string_view item) {
    const size_t semi = item.find(';');
    const std::string_view coding = trim_blanks(item.substr(0, semi));
    bool wanted = true;
    for (std::string_view params =
             semi == std::string_view::npos ? "" : item.substr(semi + 1);
         !params.empty();) {
      const size_t next = params.find(';');
      const std::string_view p = trim_blanks(params.substr(0, next));
      if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
        // "0", "0.", "0.0", "0.000": zero; anything else above it.
        const std::string_view q = trim_blanks(p.substr(2));
        wanted = !(!q.empty() && q[0] == '0' &&
                   q.find_first_not_of("0.", 1) == std::string_view::npos);
      }
      if (next == std::string_view::npos)
        break;
      params.remove_prefix(next + 1);
    }
    if (equals_ignoring_case(coding, "gzip") ||
        equals_ignoring_case(coding, "x-gzip"))
      gzip = wanted;
    else if (coding == "*")
      any = wanted;
  });
  return gzip ? *gzip : any.value_or(false);
}

download_plan plan_download(const download_request& req,
                            const file_identity& file, const std::string& etag,
                            int64_t last_modified) {
  download_plan out;
  out.headers.emplace_back("Accept-Ranges", "bytes");
  out.headers.emplace_back("ETag", etag);
  out.headers.emplace_back("Last-Modified", http_date(last_modified));
  // RFC 9110 §13.2.2: If-None-Match, or else If-Modified-Since.
  bool not_modified = false;
  if (req.if_none_match) {
    not_modified = none_match_hits(*req.if_none_match, etag);
  } else if (req.if_modified_since) {
    const auto since = parse_http_date(*req.if_modified_since);
    not_modified = since && last_modified <= *since;
  }
  if (not_modified) {
    out.status = http_status::not_modified;
    return out;
  }
  range_request range;
  if (req.range && !req.head_only) {
    bool current = true; // If-Range: the range only if the file is the same
    if (req.if_range) {
      const std::string_view v = trim_blanks(*req.if_range);
      if (!v.empty() && (v.front() == '"' || v.rfind("W/", 0) == 0))
        current = v == etag; // strong comparison; a weak tag never matches
      else
        current = parse_http_date(v) == std::optional<int64_t>(last_modified);
    }
    if (current)
      range = parse_range(*req.range, file.size);
  }
  switch (range.kind) {
  case range_request::whole:
    out.headers.emplace_back("Content-Length", std::to_string(file.size));
    out.length = req.head_only ? 0 : file.size;
    break;
  case range_request::part:
    out.status = http_status::partial_content;
    out.headers.emplace_back(
        "Content-Range", "bytes " + std::to_string(range.first) + "-" +
                             std::to_string(range.first + range.length - 1) +
                             "/" + std::to_string(file.size));
    out.headers.emplace_back("Content-Length", std::to_string(range.length));
    out.offset = range.first;
    out.length = range.length;
    break;
  case range_request::unsatisfiable:
    out.status = http_status::range_not_satisfiable;
    out.headers.emplace_back("Content-Range",
                             "bytes */" + std::to_string(file.size));
    out.headers.emplace_back("Content-Length", "0");
    break;
  }
  return out;
}

} // namespace playcount::http
