#pragma once

// songs.idx: the names of a result's songs, sorted (bytes), each with its
// totals and where its rows are in result.csv, so that a song or a prefix
// is found by a binary search over a read-only mapping (issue 15).
//
// The file (little-endian; docs/internals.md):
//   header, 64 bytes: "PCSONGS\0", u32 version (1), u32 record size (56),
//     u64 records, u64 names offset (64 + records * 56), u64 names bytes,
//     u64 result bytes (the size of the result.csv it indexes), 8 reserved
//   records, 56 bytes each, ascending by name: u64 name offset (in the names
//     area), u32 name bytes, i32 first day, i32 last day, u32 reserved,
//     i64 plays, u64 rows offset, u64 rows bytes, u64 dates
//   names area: the names, in the records' order, back to back.
// Everything is checked on open; a damaged file is a failure naming it.

#include "core/failure.hpp"
#include "core/fields.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace playcount {

struct song_entry {
  std::string song;
  int64_t plays = 0;
  day_number first = 0, last = 0;
  uint64_t offset = 0, length = 0; ///< bytes of its rows in result.csv
  uint64_t dates = 0;              ///< its rows
};

/// A songs.idx, mapped read-only.
class song_index {
public:
  song_index() = default;
  song_index(song_index&& other) noexcept;
  song_index& operator=(song_index&& other) noexcept;
  song_index(const song_index&) = delete;
  song_index& operator=(const song_index&) = delete;
  ~song_index();

  /// Maps and validates `path` (sizes, offsets, names in bounds and in
  /// strictly ascending order): O(records + names bytes), keep it open.
  static result<song_index> open(const std::string& path);

  /// Its songs.
  [[nodiscard]] uint64_t size() const noexcept;
  /// The size of the result.csv it was built for.
  [[nodiscard]] uint64_t result_bytes() const noexcept;

  /// Up to `limit` songs whose names start with `prefix`, in byte order;
  /// `more`: further ones match.
  [[nodiscard]] std::vector<song_entry>
  with_prefix(std::string_view prefix, size_t limit, bool& more) const;

  /// The song named exactly `song`.
  [[nodiscard]] std::optional<song_entry> find(std::string_view song) const;

  /// The i-th song in name order (i < size()).
  [[nodiscard]] song_entry at(uint64_t i) const;

private:
  [[nodiscard]] std::string_view name(uint64_t i) const noexcept;
  [[nodiscard]] uint64_t lower_bound(std::string_view key) const noexcept;

  const unsigned char* map_ = nullptr;
  size_t bytes_ = 0;
  uint64_t records_ = 0;
  const unsigned char* names_ = nullptr;
  uint64_t names_bytes_ = 0;
  uint64_t result_bytes_ = 0;
};

/// That song's rows read from `result_csv` at e.offset..e.offset+e.length,
/// checked (each line's name must be e.song, dates ascending) and parsed.
result<std::vector<std::pair<day_number, int64_t>>>
read_song_rows(const std::string& result_csv, const song_entry& e);

/// What one index record holds but its name (the writer's input).
struct song_record {
  int64_t plays = 0;
  day_number first = 0, last = 0;
  uint64_t offset = 0, length = 0, dates = 0;
};

/// Writes a songs.idx to `path` (all or nothing) from songs handed in
/// strictly ascending name order: `next(name, record)` gives one and says
/// true, or false at the end. `songs` and `names_bytes` are their count and
/// the sum of their names' sizes (known before: records come first).
result<void> write_song_index(
    const std::string& path, uint64_t songs, uint64_t names_bytes,
    uint64_t result_bytes, bool durable,
    const std::function<bool(std::string_view&, song_record&)>& next);

} // namespace playcount
