#pragma once

#include "core/aggregate.hpp"
#include "core/failure.hpp"
#include "core/phase_meter.hpp"
#include "core/result_summary.hpp"
#include "core/song_index.hpp"

#include <charconv>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace playcount {

/// A song as written, for the index: its name (a view into what holds the
/// names while the result is written) and where its rows are.
struct indexed_song {
  std::string_view song;
  song_record rec;
};

inline constexpr std::string_view result_header =
    "Song,Date,Total Number of Plays for Date\n";

/// What a job's error starts with when the result could not be written (the
/// CLI then names the output, not the input).
inline constexpr std::string_view result_write_failed =
    "the result could not be written";

/// How a result reaches OUT (docs/input-output.md, "Where the result goes").
enum class output_kind : uint8_t {
  replace,         ///< a regular file or nothing yet: a temporary file beside
                   ///< it, renamed over it when complete
  standard_output, ///< `-`, or a name of the file open as this process's
                   ///< fd 1 or 2 (/dev/stdout): written to that descriptor
  direct,          ///< a FIFO, a character device...: opened and written to
};

/// Where and how `path` is written, known before any work: `path` itself,
/// or the regular file a symbolic link leads to (the link stays a link).
struct output_target {
  output_kind kind = output_kind::replace;
  std::string path;
  int fd = -1; ///< standard_output: the descriptor
};

/// Says how `path` will be written, or why it cannot be: a directory that
/// does not exist or cannot be written in, a directory as OUT, a link to
/// nothing. Nothing is created.
[[nodiscard]] result<output_target> check_output(const std::string& path);

/// Writes the result CSV (docs/CONTRACT.md §1 output rules) to `path` as
/// write_output does. Seals `totals` (see partial_aggregate::seal);
/// `threads` format side by side while the file is written in order.
/// `written`, when given, counts the pieces (about 4 MiB of text each)
/// written of their total.
/// `summary`, when given, says what else to write (summary.json, songs.idx),
/// computed while the rows are formatted; both are written before the
/// result is renamed into place, and a failure to write them fails it all.
result<void> write_result(partial_aggregate& totals, const std::string& path,
                          bool durable, unsigned threads = 1,
                          phase_meter* written = nullptr,
                          summary_files* summary = nullptr);

/// Where text goes piece by piece; false when it cannot take more.
using text_sink = std::function<bool(std::string_view)>;

/// Writes summary.json and songs.idx of `summary` (those with a path) from
/// the summary made and the songs of the result (sorted here, by name); a
/// failure leaves neither.
result<void> write_beside(summary_files& summary,
                          std::vector<indexed_song>& songs,
                          uint64_t result_bytes, bool durable);

/// Removes summary.json and songs.idx of `summary` (a result not written).
void remove_beside(const summary_files& summary);

/// Writes what `produce` hands its sink to `path` (see check_output). A
/// regular file (or none) is replaced all at once or not at all: written
/// into a temporary file beside it, flushed to disk when `durable`, renamed
/// over it; a failure leaves no file and names the directory or file at
/// fault. Standard output and special files are written to directly and
/// never renamed over (a failure may leave part of the text there).
result<void> write_output(const std::string& path, bool durable,
                          const std::function<bool(const text_sink&)>& produce);

/// Removes the temporary files of the results being written
/// (`OUT.partial-XXXXXX`) and keeps any more from being made or renamed
/// into place: for a process that is about to die of a signal.
void remove_partial_results_for_good();

/// Appends `field` to `out`, quoted if it holds `,`, `"`, CR or LF.
void append_csv_field(std::string& out, std::string_view field);

/// Formats result rows: a song's days, ascending, as CSV lines.
class result_rows {
public:
  /// format, and each song seen by `part` and, when `songs` is given, added
  /// to it (offsets from the start of `out`).
  void format(const partial_aggregate& totals, const song_ref* begin,
              const song_ref* end, std::string& out, summary_part& part,
              std::vector<indexed_song>* songs);

  /// The one song's rows, seen by `part`; its facts are returned.
  template <class It>
  song_record format(std::string_view name, It begin, It end, std::string& out,
                     summary_part& part) {
    name_.clear();
    append_csv_field(name_, name);
    song_record rec;
    rec.offset = out.size();
    for (It d = begin; d != end; ++d) {
      row(d->day, d->total, out);
      see(rec, part, d->day, d->total);
    }
    rec.length = out.size() - rec.offset;
    part.end_song(song_rows_seen{name, rec.plays, rec.first, rec.last,
                                 rec.dates, rec.offset, rec.length});
    return rec;
  }

  /// Appends the rows of songs [begin, end) of a sealed `totals` to `out`.
  void format(const partial_aggregate& totals, const song_ref* begin,
              const song_ref* end, std::string& out);

  /// Appends the rows of one song named `name`: its days [begin, end),
  /// ascending, each with `day` and `total` members.
  template <class It>
  void format(std::string_view name, It begin, It end, std::string& out) {
    name_.clear();
    append_csv_field(name_, name);
    for (It d = begin; d != end; ++d)
      row(d->day, d->total, out);
  }

private:
  static void see(song_record& rec, summary_part& part, day_number day,
                  int64_t total) {
    part.add_day(day, total);
    if (rec.dates++ == 0)
      rec.first = day;
    rec.last = day;
    if (__builtin_add_overflow(rec.plays, total, &rec.plays))
      rec.plays = total > 0 ? INT64_MAX : INT64_MIN;
  }

  void row(day_number day, int64_t total, std::string& out) {
    out += name_;
    out += ',';
    cached_date& c = dates_[static_cast<uint32_t>(day) & 4095];
    if (c.day != day) {
      c.day = day;
      format_date(day, c.text);
    }
    out.append(c.text, sizeof c.text);
    out += ',';
    const auto e = std::to_chars(number_, number_ + sizeof number_, total).ptr;
    out.append(number_, e);
    out += '\n';
  }

  // Formatting a day number costs divisions; the same few thousand days
  // come back for every song.
  struct cached_date {
    day_number day = INT32_MIN;
    char text[10];
  };
  std::vector<cached_date> dates_ = std::vector<cached_date>(4096);
  std::string name_;
  char number_[24];
};

/// The result CSV as a string, for small results and tests.
[[nodiscard]] std::string format_result(partial_aggregate& totals);
[[nodiscard]] inline std::string format_result(partial_aggregate&& totals) {
  return format_result(totals);
}

} // namespace playcount
