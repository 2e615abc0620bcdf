#include "core/result_writer.hpp"

#include "core/write_all.hpp"

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

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

void result_rows::format(const partial_aggregate& totals, const song_ref* begin,
                         const song_ref* end, std::string& out) {
  for (const song_ref* s = begin; s != end; ++s) {
    name_.clear();
    append_csv_field(name_, totals.name(*s));
    totals.for_each_day(
        *s, [&](day_number day, int64_t total) { row(day, total, out); });
  }
}

namespace {

// Emits the rows in order into `sink(const std::string&)`: songs by first
// appearance, each song's days ascending. Songs are cut into pieces of about
// `piece` bytes; `threads` format a round of pieces side by side while the
// calling thread hands the round before to the sink.
template <class Sink>
bool emit(partial_aggregate& totals, size_t piece, unsigned threads,
          Sink&& sink) {
  totals.seal(threads);
  const std::vector<song_ref> order = totals.songs_in_order();
  std::vector<size_t> cuts{0}; // piece k: songs [cuts[k], cuts[k + 1])
  size_t bytes = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    // A row: name, a date, a total, three separators (an estimate).
    bytes +=
        size_t{totals.days(order[i])} * (totals.name(order[i]).size() + 16);
    if (bytes >= piece) {
      cuts.push_back(i + 1);
      bytes = 0;
    }
  }
  if (cuts.back() != order.size())
    cuts.push_back(order.size());
  const size_t pieces = cuts.size() - 1;
  threads = std::max(1u, threads);
  std::vector<result_rows> formatters(threads);
  std::vector<std::string> ready(threads), next(threads);
  const auto format_round = [&](size_t round, std::vector<std::string>& into) {
    const auto one = [&](unsigned t) {
      into[t].clear();
      const size_t k = round * threads + t;
      if (k < pieces)
        formatters[t].format(totals, order.data() + cuts[k],
                             order.data() + cuts[k + 1], into[t]);
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t)
      pool.emplace_back(one, t);
    one(0);
    for (std::thread& t : pool)
      t.join();
  };
  std::string header(result_header);
  if (!sink(header))
    return false;
  const size_t rounds = (pieces + threads - 1) / threads;
  if (rounds > 0)
    format_round(0, ready);
  for (size_t r = 0; r < rounds; ++r) {
    std::thread ahead;
    if (r + 1 < rounds)
      ahead = std::thread(format_round, r + 1, std::ref(next));
    bool ok = true;
    for (const std::string& text : ready)
      ok = ok && (text.empty() || sink(text));
    if (ahead.joinable())
      ahead.join();
    if (!ok)
      return false;
    std::swap(ready, next);
  }
  return true;
}

} // namespace

std::string format_result(partial_aggregate& totals) {
  std::string out;
  (void)emit(totals, 1 << 16, 1, [&](const std::string& piece) {
    out += piece;
    return true;
  });
  return out;
}

result<void>
write_file_atomically(const std::string& path, bool durable,
                      const std::function<bool(const text_sink&)>& produce) {
  std::string tmp = path + ".partial-XXXXXX";
  const int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0)
    return failure::of_errno("cannot create", tmp, errno);
  const auto fail = [&](const char* what) {
    failure why = failure::of_errno(what, tmp, errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return why;
  };
  errno = 0;
  const bool written =
      produce([&](std::string_view piece) { return write_all(fd, piece); });
  if (!written && errno == 0) { // the producer gave up (said as it always was)
    failure why = fail("stopped writing");
    why.reason = std::strerror(0);
    return why;
  }
  if (!written)
    return fail("cannot write");
  if (durable && ::fsync(fd) != 0)
    return fail("cannot flush");
  if (::fchmod(fd, 0644) != 0)
    return fail("cannot set permissions of");
  if (::close(fd) != 0) {
    failure why = failure::of_errno("cannot write", tmp, errno);
    ::unlink(tmp.c_str());
    return why;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    failure why = failure::of_errno("cannot rename", tmp, errno, path);
    ::unlink(tmp.c_str());
    return why;
  }
  return {};
}

result<void> write_result(partial_aggregate& totals, const std::string& path,
                          bool durable, unsigned threads) {
  return write_file_atomically(path, durable, [&](const text_sink& sink) {
    return emit(totals, 4 << 20, threads,
                [&](const std::string& piece) { return sink(piece); });
  });
}

} // namespace playcount
