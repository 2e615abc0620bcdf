#pragma once

// The summary of a finished job's result (issue 15): totals, the date span,
// plays per date over all songs and the top 100 songs. Computed while the
// result is written (summary_builder, fed by the writers' per-song hook),
// kept beside the result as summary.json (docs/http-api.md).

#include "core/failure.hpp"
#include "core/fields.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace playcount {

struct song_summary {
  std::string song;
  int64_t plays = 0;
  day_number first = 0, last = 0;
};

struct result_summary {
  int64_t plays = 0;
  uint64_t songs = 0, groups = 0;
  [[nodiscard]] bool empty() const { return songs == 0; }
  day_number first = 0, last = 0; ///< when !empty()
  std::optional<uint64_t> skipped_rows;
  enum class unit : uint8_t { day, month, year } series_unit = unit::day;
  std::vector<std::pair<day_number, int64_t>> series; ///< ascending buckets
  std::vector<song_summary> top_songs;                ///< <= 100
};

/// At most this many songs in result_summary::top_songs.
inline constexpr size_t top_song_count = 100;
/// More points than this: the series is by month (then by year).
inline constexpr size_t series_point_limit = 10000;

/// Sums `days` (ascending, by day) into the finest unit (day, month, year)
/// that needs at most series_point_limit points, in place; returns it.
result_summary::unit
bucket_series(std::vector<std::pair<day_number, int64_t>>& days);

/// "day", "month" or "year".
[[nodiscard]] const char* series_unit_name(result_summary::unit u);

/// The summary.json document (docs/http-api.md), compact, with a final
/// newline.
[[nodiscard]] std::string summary_json(const result_summary& s);

/// Reads and validates a summary.json (the shape summary_json writes).
result<result_summary> read_summary(const std::string& path);

/// Rebuilds summary.json and songs.idx from a result CSV alone (jobs
/// finished before summaries existed): one pass over the result. Both are
/// written all or nothing (temporary file + rename). Fails, saying where,
/// when the result does not parse as a result (a row out of order, a song
/// whose rows are not together, a bad date or total).
result<result_summary> summarize_result_file(
    const std::string& result_csv, const std::string& summary_path,
    const std::string& index_path, std::optional<uint64_t> skipped_rows);

/// One song of the result as a writer formats it: its name, its days
/// ascending with totals, where its rows are in the result file.
struct song_rows_seen {
  std::string_view song;
  int64_t plays = 0;
  day_number first = 0, last = 0;
  uint64_t dates = 0;
  uint64_t offset = 0, length = 0; ///< bytes of its rows in the result
};

/// The summary's part that one formatting thread collects: totals, the
/// per-date series (a flat array from the first date seen) and a bounded
/// heap of the top songs. Parts are merged when the result is written.
class summary_part {
public:
  /// A song's day (call for each, then end_song).
  void add_day(day_number day, int64_t total) {
    const auto at = static_cast<int64_t>(day) - base_;
    if (at < 0 || at >= static_cast<int64_t>(by_day_.size()))
      widen(day);
    by_day_[static_cast<size_t>(day - base_)] += total;
  }
  /// A song whose days were all added.
  void end_song(const song_rows_seen& s);
  /// Adds `other` into this part.
  void merge(summary_part&& other);
  /// The summary (top songs sorted, series bucketed).
  [[nodiscard]] result_summary finish(std::optional<uint64_t> skipped) &&;
  /// The summary of all `parts` (emptied), as finish.
  [[nodiscard]] static result_summary
  finish_all(std::vector<summary_part>& parts, std::optional<uint64_t> skipped);

private:
  void widen(day_number day);
  void offer_top(song_summary&& s);

  int64_t plays_ = 0;
  uint64_t songs_ = 0, groups_ = 0;
  day_number first_ = 0, last_ = 0;
  day_number base_ = 0;
  std::vector<int64_t> by_day_;   // plays of day base_ + i
  std::vector<song_summary> top_; // a min-heap on (plays, then name reversed)
};

/// Whether song a ranks before b in top_songs: plays descending, then name
/// (byte order) ascending.
[[nodiscard]] bool ranks_before(const song_summary& a, const song_summary& b);

/// What a result writer writes beside the result when asked (issue 15):
/// both only once the result is complete, before it is renamed into place.
struct summary_files {
  std::string summary_path; ///< summary.json; empty: none
  std::string index_path;   ///< songs.idx; empty: none
  std::optional<uint64_t> skipped_rows;
  result_summary made; ///< out: the summary written
};

/// Writes `text` to `path` all or nothing (temporary file + rename).
result<void> write_file_atomically(const std::string& path,
                                   std::string_view text, bool durable);

} // namespace playcount
