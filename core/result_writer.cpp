#include "core/result_writer.hpp"

#include "core/write_all.hpp"

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
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

void result_rows::format(const partial_aggregate& totals, const song_ref* begin,
                         const song_ref* end, std::string& out,
                         summary_part& part, std::vector<indexed_song>* songs) {
  for (const song_ref* s = begin; s != end; ++s) {
    const std::string_view name = totals.name(*s);
    name_.clear();
    append_csv_field(name_, name);
    song_record rec;
    rec.offset = out.size();
    totals.for_each_day(*s, [&](day_number day, int64_t total) {
      row(day, total, out);
      see(rec, part, day, total);
    });
    rec.length = out.size() - rec.offset;
    part.end_song(song_rows_seen{name, rec.plays, rec.first, rec.last,
                                 rec.dates, rec.offset, rec.length});
    if (songs != nullptr)
      songs->push_back(indexed_song{name, rec});
  }
}

namespace {

// What emit collects beside the rows when a summary is asked for: a part
// of the summary per formatting thread, and the songs of each piece (their
// offsets rebased to the file's once the piece is handed on).
struct emit_summary {
  bool index = false; ///< collect the songs
  std::vector<summary_part> parts;
  std::vector<indexed_song> songs; ///< offsets in the result
};

// Emits the rows in order into `sink(const std::string&)`: songs by first
// appearance, each song's days ascending. Songs are cut into pieces of about
// `piece` bytes; `threads` format a round of pieces side by side while the
// calling thread hands the round before to the sink.
template <class Sink>
bool emit(partial_aggregate& totals, size_t piece, unsigned threads,
          Sink&& sink, phase_meter* written = nullptr,
          emit_summary* summary = nullptr) {
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
  if (written != nullptr)
    written->set_total(pieces);
  threads = std::max(1u, threads);
  std::vector<result_rows> formatters(threads);
  std::vector<std::string> ready(threads), next(threads);
  // The songs of each piece in ready and next (when indexing).
  std::vector<std::vector<indexed_song>> ready_songs(threads),
      next_songs(threads);
  if (summary != nullptr)
    summary->parts.resize(threads);
  if (summary != nullptr && summary->index)
    summary->songs.reserve(order.size());
  const auto format_round = [&](size_t round, std::vector<std::string>& into,
                                std::vector<std::vector<indexed_song>>& songs) {
    const auto one = [&](unsigned t) {
      into[t].clear();
      songs[t].clear();
      const size_t k = round * threads + t;
      if (k >= pieces)
        return;
      if (summary == nullptr)
        formatters[t].format(totals, order.data() + cuts[k],
                             order.data() + cuts[k + 1], into[t]);
      else
        formatters[t].format(
            totals, order.data() + cuts[k], order.data() + cuts[k + 1], into[t],
            summary->parts[t], summary->index ? &songs[t] : nullptr);
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
  uint64_t offset = header.size(); // of the next piece in the result
  const size_t rounds = (pieces + threads - 1) / threads;
  if (rounds > 0)
    format_round(0, ready, ready_songs);
  for (size_t r = 0; r < rounds; ++r) {
    std::thread ahead;
    if (r + 1 < rounds)
      ahead = std::thread(format_round, r + 1, std::ref(next),
                          std::ref(next_songs));
    bool ok = true;
    for (unsigned t = 0; t < threads; ++t) {
      const std::string& text = ready[t];
      ok = ok && (text.empty() || sink(text));
      if (summary != nullptr && summary->index)
        for (indexed_song& s : ready_songs[t]) {
          s.rec.offset += offset;
          summary->songs.push_back(s);
        }
      offset += text.size();
    }
    if (ahead.joinable())
      ahead.join();
    if (!ok)
      return false;
    advance(written, std::min<size_t>(threads, pieces - r * threads));
    std::swap(ready, next);
    std::swap(ready_songs, next_songs);
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

namespace {

// The directory `path` is in ("." for a bare name).
std::string directory_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Why a new file cannot be made in `dir`, or nothing when it can: said of the
// directory, the thing at fault (not of OUT, not of a temporary name).
std::optional<failure> cannot_create_in(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int code = errno;
    if (code == ENOENT || code == ENOTDIR)
      return failure::because("cannot write into", dir,
                              "the directory does not exist");
    return failure::of_errno("cannot write into", dir, code);
  }
  if (!S_ISDIR(st.st_mode))
    return failure::because("cannot write into", dir, "it is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return failure::of_errno("cannot write into the directory", dir, errno);
  return std::nullopt;
}

// Standard output or error when `st` is the file open there (/dev/stdout,
// /dev/fd/2...): written through the descriptor as the shell set it up
// (`>` or `>>`), never opened again nor renamed over; else -1.
int standard_descriptor(const struct stat& st) {
  for (const int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    struct stat there {};
    if (::fstat(fd, &there) == 0 && there.st_dev == st.st_dev &&
        there.st_ino == st.st_ino)
      return fd;
  }
  return -1;
}

// Writes to an open descriptor that is not ours to replace (standard output,
// a FIFO, a device): no temporary file, no rename, no flush to disk.
result<void>
write_directly(int fd, const std::string& path,
               const std::function<bool(const text_sink&)>& produce) {
  errno = 0;
  const bool written =
      produce([&](std::string_view piece) { return write_all(fd, piece); });
  if (!written && errno == 0) {
    failure why = failure::because("stopped writing", path, "");
    why.reason = std::strerror(0);
    return why;
  }
  if (!written)
    return failure::of_errno("cannot write", path, errno);
  return {};
}

// The temporary files of the results being written, made and renamed
// under the lock, so that remove_partial_results_for_good finds each one
// and none is renamed into place after it.
std::mutex partial_results_mutex;
std::set<std::string> partial_results;

result<void>
replace_file(const std::string& path, bool durable,
             const std::function<bool(const text_sink&)>& produce) {
  std::string tmp = path + ".partial-XXXXXX";
  std::unique_lock made(partial_results_mutex);
  const int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd >= 0)
    partial_results.insert(tmp);
  made.unlock();
  struct forget_tmp {
    const std::string& tmp;
    ~forget_tmp() {
      const std::lock_guard lock(partial_results_mutex);
      partial_results.erase(tmp);
    }
  } forget{tmp};
  if (fd < 0) {
    const int code = errno;
    if (auto why = cannot_create_in(directory_of(path)))
      return std::move(*why);
    return failure::of_errno("cannot create", tmp, code);
  }
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
  const std::lock_guard renaming(partial_results_mutex);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    failure why = failure::of_errno("cannot rename", tmp, errno, path);
    ::unlink(tmp.c_str());
    return why;
  }
  return {};
}

} // namespace

void remove_partial_results_for_good() {
  partial_results_mutex.lock(); // never unlocked: the process ends
  for (const std::string& tmp : partial_results)
    ::unlink(tmp.c_str());
  partial_results.clear();
}

result<void> write_beside(summary_files& summary,
                          std::vector<indexed_song>& songs,
                          uint64_t result_bytes, bool durable) {
  if (!summary.index_path.empty()) {
    // Keys sorted in two halves side by side, then merged.
    const auto name_of = [&](uint32_t i) { return songs[i].song; };
    const auto before = [&](const name_key& x, const name_key& y) {
      return name_before(x, y, name_of);
    };
    std::vector<name_key> keys(songs.size());
    const size_t half = songs.size() / 2;
    const auto sort_part = [&](size_t from, size_t to) {
      for (size_t i = from; i < to; ++i)
        keys[i] = name_key::of(songs[i].song, static_cast<uint32_t>(i));
      std::sort(keys.begin() + ptrdiff_t(from), keys.begin() + ptrdiff_t(to),
                before);
    };
    std::thread other(sort_part, size_t{0}, half);
    sort_part(half, songs.size());
    other.join();
    std::inplace_merge(keys.begin(), keys.begin() + ptrdiff_t(half), keys.end(),
                       before);
    uint64_t names = 0;
    for (const indexed_song& s : songs)
      names += s.song.size();
    size_t k = 0;
    auto index = write_song_index(
        summary.index_path, songs.size(), names, result_bytes, durable,
        [&](std::string_view& name, song_record& rec) {
          if (k == keys.size())
            return false;
          const indexed_song& s = songs[keys[k++].index];
          name = s.song;
          rec = s.rec;
          return true;
        });
    if (!index)
      return std::move(index).error().within("cannot write the song index");
  }
  if (!summary.summary_path.empty())
    if (auto json = write_file_atomically(summary.summary_path,
                                          summary_json(summary.made), durable);
        !json) {
      remove_beside(summary);
      return std::move(json).error().within("cannot write the summary");
    }
  return {};
}

void remove_beside(const summary_files& summary) {
  if (!summary.index_path.empty())
    ::unlink(summary.index_path.c_str());
  if (!summary.summary_path.empty())
    ::unlink(summary.summary_path.c_str());
}

result<output_target> check_output(const std::string& path) {
  if (path == "-")
    return output_target{output_kind::standard_output, path, STDOUT_FILENO};
  struct stat own {}; // of the path itself, not of what a link leads to
  if (::lstat(path.c_str(), &own) != 0) {
    const int code = errno;
    if (code != ENOENT && code != ENOTDIR)
      return failure::of_errno("cannot write", path, code);
    if (auto why = cannot_create_in(directory_of(path)))
      return std::move(*why);
    return output_target{output_kind::replace, path};
  }
  if (S_ISREG(own.st_mode)) {
    if (auto why = cannot_create_in(directory_of(path)))
      return std::move(*why);
    return output_target{output_kind::replace, path};
  }
  // A symbolic link or a special file: what it leads to decides.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int code = errno;
    if (code == ENOENT)
      return failure::because("cannot write", path,
                              "it is a symbolic link to nothing");
    return failure::of_errno("cannot write", path, code);
  }
  if (const int fd = standard_descriptor(st); fd >= 0)
    return output_target{output_kind::standard_output, path, fd};
  if (S_ISDIR(st.st_mode))
    return failure::because("cannot write", path, "it is a directory");
  if (S_ISREG(st.st_mode)) {
    // A link to a regular file: the file is replaced, the link stays.
    char* real = ::realpath(path.c_str(), nullptr);
    if (real == nullptr)
      return failure::of_errno("cannot resolve", path, errno);
    std::string target = real;
    std::free(real); // NOLINT(cppcoreguidelines-no-malloc): realpath's
    if (auto why = cannot_create_in(directory_of(target)))
      return std::move(*why);
    return output_target{output_kind::replace, target};
  }
  if (::access(path.c_str(), W_OK) != 0)
    return failure::of_errno("cannot write", path, errno);
  return output_target{output_kind::direct, path};
}

result<void>
write_output(const std::string& path, bool durable,
             const std::function<bool(const text_sink&)>& produce) {
  auto target = check_output(path);
  if (!target)
    return std::move(target).error();
  switch (target->kind) {
  case output_kind::replace:
    return replace_file(target->path, durable, produce);
  case output_kind::standard_output:
    return write_directly(target->fd, path, produce);
  case output_kind::direct:
    break;
  }
  // A FIFO's open waits for a reader, as a shell's `>` does. No O_CREAT:
  // it exists; no O_TRUNC: a device or a pipe has nothing to cut.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return failure::of_errno("cannot open", path, errno);
  auto written = write_directly(fd, path, produce);
  if (::close(fd) != 0 && written)
    return failure::of_errno("cannot write", path, errno);
  return written;
}

result<void> write_result(partial_aggregate& totals, const std::string& path,
                          bool durable, unsigned threads, phase_meter* written,
                          summary_files* summary) {
  if (summary == nullptr)
    return write_output(path, durable, [&](const text_sink& sink) {
      return emit(
          totals, 4 << 20, threads,
          [&](const std::string& piece) { return sink(piece); }, written);
    });
  emit_summary collected;
  collected.index = !summary->index_path.empty();
  std::optional<failure> beside; // summary.json or songs.idx not written
  auto wrote = write_output(path, durable, [&](const text_sink& sink) {
    uint64_t bytes = 0;
    const bool ok = emit(
        totals, 4 << 20, threads,
        [&](const std::string& piece) {
          bytes += piece.size();
          return sink(piece);
        },
        written, &collected);
    if (!ok)
      return false;
    // Before the result is renamed into place: all three or none.
    summary->made =
        summary_part::finish_all(collected.parts, summary->skipped_rows);
    if (auto files = write_beside(*summary, collected.songs, bytes, durable);
        !files) {
      beside = std::move(files).error();
      return false;
    }
    return true;
  });
  if (beside)
    return std::move(*beside);
  if (!wrote)
    remove_beside(*summary);
  return wrote;
}

} // namespace playcount
