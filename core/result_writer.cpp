#include "core/result_writer.hpp"

#include "core/write_all.hpp"

#include <cerrno>
#include <climits>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <vector>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace playcount {

void append_csv_field(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"')
      out += '"';
    out += c;
  }
  out += '"';
}

namespace {

// Emits the rows in order into `sink(const std::string&)` in pieces of about
// `piece` bytes: songs by first appearance, each song's days ascending.
template <class Sink>
bool emit(const partial_aggregate& totals, size_t piece, Sink&& sink) {
  std::string buf;
  buf.reserve(piece + 4096);
  buf += result_header;
  std::string name;
  char number[24];
  // Formatting a day number costs divisions; the same few thousand days
  // come back for every song.
  struct cached_date {
    day_number day = INT32_MIN;
    char text[10];
  };
  std::vector<cached_date> dates(4096);
  for (uint32_t index : totals.songs_in_order()) {
    const auto& s = totals.songs()[index];
    name.clear();
    append_csv_field(name, s.name);
    bool ok = true;
    s.days.for_each([&](day_number day, int64_t total) {
      if (!ok)
        return;
      buf += name;
      buf += ',';
      cached_date& c = dates[static_cast<uint32_t>(day) & 4095];
      if (c.day != day) {
        c.day = day;
        format_date(day, c.text);
      }
      buf.append(c.text, sizeof c.text);
      buf += ',';
      const auto end = std::to_chars(number, number + sizeof number, total).ptr;
      buf.append(number, end);
      buf += '\n';
      if (buf.size() >= piece) {
        ok = sink(buf);
        buf.clear();
      }
    });
    if (!ok)
      return false;
  }
  return buf.empty() || sink(buf);
}

} // namespace

std::string format_result(const partial_aggregate& totals) {
  std::string out;
  (void)emit(totals, 1 << 16, [&](const std::string& piece) {
    out += piece;
    return true;
  });
  return out;
}

bool write_result(const partial_aggregate& totals, const std::string& path,
                  bool durable, std::string& error) {
  std::string tmp = path + ".partial-XXXXXX";
  const int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    error = "cannot create " + tmp + ": " + std::strerror(errno);
    return false;
  }
  const auto fail = [&](const char* what) {
    error = std::string(what) + " " + tmp + ": " + std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  };
  const bool written = emit(totals, 1 << 20, [&](const std::string& piece) {
    return write_all(fd, piece);
  });
  if (!written)
    return fail("cannot write");
  if (durable && ::fsync(fd) != 0)
    return fail("cannot flush");
  if (::fchmod(fd, 0644) != 0)
    return fail("cannot set permissions of");
  if (::close(fd) != 0) {
    error = "cannot write " + tmp + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

} // namespace playcount
