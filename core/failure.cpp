#include "core/failure.hpp"

#include <cstring>

namespace playcount {

namespace {

std::string_view shown_path(std::string_view path, failure::paths shown) {
  if (shown == failure::paths::file_names) {
    const auto slash = path.rfind('/');
    if (slash != std::string_view::npos)
      path.remove_prefix(slash + 1);
  }
  return path;
}

void append_part(std::string& out, std::string_view part) {
  if (part.empty())
    return;
  if (!out.empty())
    out += ": ";
  out += part;
}

} // namespace

failure failure::of_errno(std::string action, std::string path, int code,
                          std::string to) {
  failure f;
  f.action = std::move(action);
  f.path = std::move(path);
  f.to = std::move(to);
  f.code = code;
  return f;
}

failure failure::because(std::string action, std::string path,
                         std::string reason) {
  failure f;
  f.action = std::move(action);
  f.path = std::move(path);
  f.reason = std::move(reason);
  return f;
}

failure failure::words(std::string reason) {
  failure f;
  f.reason = std::move(reason);
  return f;
}

failure failure::within(std::string_view what) && {
  if (!what.empty())
    context = context.empty() ? std::string(what)
                              : std::string(what) + ": " + context;
  return std::move(*this);
}

failure failure::within(std::string_view what) const& {
  return failure(*this).within(what);
}

std::string failure::text(paths shown) const {
  std::string out = context;
  if (!action.empty()) {
    std::string what = action;
    if (!path.empty()) {
      what += ' ';
      what += shown_path(path, shown);
    }
    if (!to.empty()) {
      what += " to ";
      what += shown_path(to, shown);
    }
    append_part(out, what);
  }
  append_part(out, code != 0 ? std::string_view(std::strerror(code))
                             : std::string_view(reason));
  return out;
}

} // namespace playcount
