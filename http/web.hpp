#pragma once

// The web pages of `playcount serve` (web/ in the source tree), built into
// the binary: GET / (upload and jobs), GET /admin (the admin stats), and
// their scripts and styles under /web/. Nothing is read from disk or from
// another host, so a page is the same build as the API it talks to.

#include "http/api.hpp"

#include <cstddef>
#include <string_view>
#include <vector>

namespace playcount::http {

/// One file of web/, as embedded by cmake/embed_files.cmake.
struct embedded_file {
  const char* name; ///< relative to web/, e.g. "app.js"
  const unsigned char* data;
  size_t size;
};

/// Every embedded file (generated at build time).
[[nodiscard]] const std::vector<embedded_file>& embedded_files();

/// The Content-Type for a file name by its extension.
[[nodiscard]] const char* content_type_of(std::string_view name) noexcept;

/// `name` (e.g. "index.html") as a 200 reply with its type and headers that
/// keep pages to their own origin (Content-Security-Policy, nosniff); 404
/// when there is no such file.
[[nodiscard]] reply web_reply(std::string_view name);

} // namespace playcount::http
