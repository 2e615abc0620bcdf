#include "app/progress.hpp"

#include <algorithm>
#include <cstdio>

namespace playcount {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

namespace {

std::string eta(double secs) {
  char buf[32];
  if (secs < 60)
    std::snprintf(buf, sizeof buf, "ETA %.0f s", secs);
  else if (secs < 3600)
    std::snprintf(buf, sizeof buf, "ETA %.0f min", secs / 60);
  else
    std::snprintf(buf, sizeof buf, "ETA %.1f h", secs / 3600);
  return buf;
}

} // namespace

std::string progress_line(const std::string& phase, uint64_t done,
                          uint64_t total, double seconds, unsigned columns,
                          std::string_view unit) {
  const double fraction = total == 0
                              ? 0.0
                              : std::min(1.0, static_cast<double>(done) /
                                                  static_cast<double>(total));
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  char head[24];
  std::snprintf(head, sizeof head, "%-8s ", phase.c_str());
  char tail[160];
  if (unit.empty())
    std::snprintf(tail, sizeof tail, " %3.0f%%  %s of %s  %s/s", 100 * fraction,
                  human_bytes(static_cast<double>(done)).c_str(),
                  human_bytes(static_cast<double>(total)).c_str(),
                  human_bytes(rate).c_str());
  else
    std::snprintf(tail, sizeof tail, " %3.0f%%  %llu of %llu %.*s",
                  100 * fraction, static_cast<unsigned long long>(done),
                  static_cast<unsigned long long>(total),
                  static_cast<int>(std::min<size_t>(unit.size(), 32)),
                  unit.data());
  std::string text = tail;
  if (unit.empty() && rate > 0 && done < total)
    text += "  " + eta(static_cast<double>(total - done) / rate);
  // The bar takes what is left, up to 30 columns; under 10 it goes.
  const size_t used = std::string(head).size() + text.size();
  const size_t room = columns > used + 2 ? columns - used - 2 : 0;
  const size_t width = std::min<size_t>(30, room);
  std::string bar;
  if (width >= 10) {
    const size_t filled = static_cast<size_t>(fraction * width);
    bar = "[" + std::string(filled, '=');
    if (filled < width)
      bar += '>' + std::string(width - filled - 1, ' ');
    bar += "]";
  }
  std::string out = head + bar + text;
  if (out.size() > columns)
    out.resize(columns);
  return out;
}

phase_view view_of(std::string_view phase, const job_progress& progress) {
  const auto of = [](const phase_progress& p, std::string_view unit) {
    return phase_view{p.done, p.total, unit};
  };
  if (phase == "uploading")
    return of(progress.uploading, {});
  if (phase == "scanning")
    return of(progress.scanning, {});
  if (phase == "merging")
    return of(progress.merging, "partials");
  if (phase == "writing")
    return of(progress.writing, "parts");
  return of(progress.reading, {});
}

std::string summary_line(uint64_t bytes, double seconds, uint64_t rows,
                         uint64_t groups) {
  char buf[160];
  std::snprintf(
      buf, sizeof buf, "%s in %.2f s (%s/s), %llu rows, %llu song-dates",
      human_bytes(static_cast<double>(bytes)).c_str(), seconds,
      human_bytes(seconds > 0 ? static_cast<double>(bytes) / seconds : 0)
          .c_str(),
      static_cast<unsigned long long>(rows),
      static_cast<unsigned long long>(groups));
  return buf;
}

} // namespace playcount
