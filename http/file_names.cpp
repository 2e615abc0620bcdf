#include "http/file_names.hpp"

#include "http/wire.hpp"

namespace playcount::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool ends_with_ignoring_case(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         equals_ignoring_case(s.substr(s.size() - suffix.size()), suffix);
}

// RFC 8187 attr-char: what filename*= may carry without percent-encoding.
bool is_attr_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') ||
         std::string_view("!#$&+-.^_`|~").find(c) != std::string_view::npos;
}

// `\xFF` (uppercase hex), as printable_utf8 writes a byte that is not UTF-8.
bool is_byte_escape(std::string_view s) {
  const auto upper_hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
  };
  return s.size() >= 4 && s[0] == '\\' && s[1] == 'x' && upper_hex(s[2]) &&
         upper_hex(s[3]);
}

} // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size())
      return std::nullopt;
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::variant<std::string, api_error>
encoded_upload_name(std::string_view encoded, std::string_view where) {
  auto name = percent_decode(encoded);
  if (!name)
    return api_error{api_errc::bad_request, "the file name " +
                                                std::string(where) +
                                                " has a malformed %-escape"};
  return upload_name(std::move(*name), where);
}

std::variant<std::string, api_error> upload_name(std::string name,
                                                 std::string_view where) {
  const auto refuse = [&](const std::string& why) {
    return api_error{api_errc::bad_request,
                     "the file name " + std::string(where) + " " + why};
  };
  if (name.empty())
    return refuse("is empty");
  if (name.size() > 255)
    return refuse("is over 255 bytes");
  if (name == "." || name == "..")
    return refuse("is \"" + name + "\", not a file");
  for (const char c : name) {
    if (c == '/' || c == '\\')
      return refuse("is a path: a name has no slash");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return refuse("has a control character");
  }
  return name;
}

std::string form_file_name(std::string_view name) {
  constexpr size_t most = 255;
  if (name.size() <= most)
    return std::string(name);
  size_t cut = most;
  // Back to the lead byte of a character that would be cut (at most 3
  // continuation bytes).
  for (int i = 0; i < 3 && cut > 0 &&
                  (static_cast<unsigned char>(name[cut]) & 0xc0) == 0x80;
       ++i)
    --cut;
  return std::string(name.substr(0, cut));
}

std::optional<std::string> disposition_filename(std::string_view value) {
  std::optional<std::string> plain;
  std::optional<std::string> extended;
  // The type ("attachment", "inline", "form-data") comes first; then
  // parameters, each `name=token` or `name="quoted"`.
  size_t i = value.find(';');
  while (i != std::string_view::npos && i < value.size()) {
    ++i;
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t'))
      ++i;
    const size_t eq = value.find('=', i);
    if (eq == std::string_view::npos)
      break;
    const std::string_view name = trim_blanks(value.substr(i, eq - i));
    size_t j = eq + 1;
    while (j < value.size() && (value[j] == ' ' || value[j] == '\t'))
      ++j;
    std::string v;
    if (j < value.size() && value[j] == '"') {
      for (++j; j < value.size() && value[j] != '"'; ++j) {
        if (value[j] == '\\' && j + 1 < value.size())
          ++j;
        v += value[j];
      }
      i = value.find(';', j);
    } else {
      const size_t end = value.find(';', j);
      v = std::string(trim_blanks(value.substr(j, end == std::string_view::npos
                                                      ? std::string_view::npos
                                                      : end - j)));
      i = end;
    }
    if (equals_ignoring_case(name, "filename")) {
      plain = std::move(v);
    } else if (equals_ignoring_case(name, "filename*")) {
      // charset'language'percent-encoded; only UTF-8 (and its ASCII).
      const size_t q1 = v.find('\'');
      const size_t q2 = q1 == std::string::npos ? q1 : v.find('\'', q1 + 1);
      if (q2 != std::string::npos &&
          (equals_ignoring_case(std::string_view(v).substr(0, q1), "UTF-8") ||
           equals_ignoring_case(std::string_view(v).substr(0, q1), "US-ASCII")))
        extended = percent_decode(std::string_view(v).substr(q2 + 1));
    }
  }
  if (extended)
    return extended;
  return plain;
}

std::string attachment_name(std::string_view file_name, std::string_view id) {
  // A browser may send a whole path ("C:\\data\\plays.csv"): its last part.
  // The name is as the registry keeps it, a byte that is not UTF-8 written
  // `\xFF` (core/utf8.hpp): that backslash separates nothing.
  size_t sep = std::string_view::npos;
  for (size_t i = 0; i < file_name.size(); ++i) {
    if (file_name[i] == '/') {
      sep = i;
    } else if (file_name[i] == '\\') {
      if (is_byte_escape(file_name.substr(i)))
        i += 3;
      else
        sep = i;
    }
  }
  if (sep != std::string_view::npos)
    file_name.remove_prefix(sep + 1);
  for (const std::string_view suffix : {".gz", ".gzip", ".zst", ".zstd"})
    if (ends_with_ignoring_case(file_name, suffix)) {
      file_name.remove_suffix(suffix.size());
      break;
    }
  if (ends_with_ignoring_case(file_name, ".csv"))
    file_name.remove_suffix(4);
  if (file_name.empty())
    return std::string(id) + ".csv";
  return std::string(file_name) + "-totals.csv";
}

std::string content_disposition(std::string_view name) {
  std::string safe;
  bool replaced = false;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    // Printable ASCII but the quote, the backslash and '%' (which some
    // clients decode in filename=).
    if (u >= 0x20 && u < 0x7f && c != '"' && c != '\\' && c != '%') {
      safe += c;
    } else {
      // One '_' per UTF-8 character, not per byte.
      if ((u & 0xc0) != 0x80)
        safe += '_';
      replaced = true;
    }
  }
  std::string out = "attachment; filename=\"" + safe + "\"";
  if (replaced) {
    static const char* hex = "0123456789ABCDEF";
    out += "; filename*=UTF-8''";
    for (const char c : name) {
      if (is_attr_char(c)) {
        out += c;
      } else {
        const auto u = static_cast<unsigned char>(c);
        out += '%';
        out += hex[u >> 4];
        out += hex[u & 15];
      }
    }
  }
  return out;
}

} // namespace playcount::http
