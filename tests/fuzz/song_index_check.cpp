// Fuzz property (g): songs.idx (core/song_index.hpp), a file the server
// maps and trusts once it is opened. The input's bytes as an index: open
// either refuses them or gives an index whose every song is found again,
// in byte order, with its rows inside the result. And names taken from the
// input: sorted by their 16-byte keys (name_before) as by their bytes,
// written and opened again, every name is found and every prefix of one
// lists what a plain sorted list lists.

#include "checks.hpp"

#include "core/song_index.hpp"
#include "core/write_all.hpp"

#include <algorithm>
#include <fcntl.h>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

namespace playcount::fuzz {

namespace {

std::string scratch_path() {
  return "/tmp/playcount-fuzz-song-index-" + std::to_string(::getpid());
}

bool write_file(const std::string& path, std::string_view bytes) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return false;
  const bool ok = write_all(fd, bytes);
  return ::close(fd) == 0 && ok;
}

// The input's bytes as an index: refused, or consistent.
std::string check_as_index(std::string_view input, const std::string& path) {
  if (!write_file(path, input))
    return "cannot write " + path;
  auto opened = song_index::open(path);
  if (!opened)
    return {};
  const song_index& ix = *opened;
  std::string before;
  for (uint64_t i = 0; i < ix.size(); ++i) {
    const song_entry e = ix.at(i);
    if (i > 0 && !(before < e.song))
      return "an accepted index has names out of order at " + std::to_string(i);
    before = e.song;
    if (e.offset + e.length > ix.result_bytes() || e.first > e.last)
      return "an accepted index has a song outside its result: " +
             printable(e.song);
    const auto found = ix.find(e.song);
    if (!found || found->offset != e.offset)
      return "an accepted index does not find its own song " +
             printable(e.song);
    bool more = false;
    const auto listed = ix.with_prefix(e.song, 1, more);
    if (listed.empty() || listed.front().song != e.song)
      return "a prefix search does not start at the song it names";
  }
  return {};
}

// Names from the input (split at 0xFF bytes), through the writer and back.
std::string check_round_trip(std::string_view input, const std::string& path) {
  std::vector<std::string> names;
  for (size_t at = 0; at <= input.size() && names.size() < 200;) {
    const size_t end = std::min(input.find('\xff', at), input.size());
    names.emplace_back(input.substr(at, end - at));
    at = end + 1;
  }
  // By their keys, as the writers sort them, then by their bytes.
  std::vector<name_key> keys;
  for (size_t i = 0; i < names.size(); ++i)
    keys.push_back(name_key::of(names[i], static_cast<uint32_t>(i)));
  std::sort(keys.begin(), keys.end(),
            [&](const name_key& a, const name_key& b) {
              return name_before(a, b, [&](uint32_t k) -> std::string_view {
                return names[k];
              });
            });
  const std::set<std::string> unique(names.begin(), names.end());
  const std::vector<std::string> sorted(unique.begin(), unique.end());
  std::vector<std::string> by_keys;
  for (const name_key& k : keys)
    if (by_keys.empty() || by_keys.back() != names[k.index])
      by_keys.push_back(names[k.index]);
  if (by_keys != sorted)
    return "sorted by their keys, the names are not in byte order";

  uint64_t names_bytes = 0;
  for (const std::string& n : sorted)
    names_bytes += n.size();
  size_t next = 0;
  const auto written =
      write_song_index(path, sorted.size(), names_bytes, sorted.size(), false,
                       [&](std::string_view& name, song_record& r) {
                         if (next == sorted.size())
                           return false;
                         name = sorted[next];
                         r = song_record{static_cast<int64_t>(next) + 1,
                                         static_cast<day_number>(next),
                                         static_cast<day_number>(next),
                                         next,
                                         1,
                                         1};
                         ++next;
                         return true;
                       });
  if (!written)
    return "write_song_index failed: " + written.error().text();
  auto opened = song_index::open(path);
  if (!opened)
    return "an index just written does not open: " + opened.error().text();
  for (size_t i = 0; i < sorted.size(); ++i) {
    const auto found = opened->find(sorted[i]);
    if (!found || found->offset != i)
      return "a written song is not found: " + printable(sorted[i]);
    // Every prefix of it lists what the sorted list lists.
    for (size_t cut = 0; cut <= sorted[i].size(); cut += 1 + cut / 4) {
      const std::string_view prefix(sorted[i].data(), cut);
      bool more = false;
      const auto listed = opened->with_prefix(prefix, 3, more);
      std::vector<std::string> expected;
      for (const std::string& n : sorted)
        if (n.compare(0, prefix.size(), prefix) == 0)
          expected.push_back(n);
      const size_t shown = std::min<size_t>(expected.size(), 3);
      if (listed.size() != shown || more != (expected.size() > 3))
        return "the prefix " + printable(prefix) + " lists " +
               std::to_string(listed.size()) + " songs, not " +
               std::to_string(shown);
      for (size_t k = 0; k < shown; ++k)
        if (listed[k].song != expected[k])
          return "the prefix " + printable(prefix) + " lists " +
                 printable(listed[k].song) + " for " + printable(expected[k]);
    }
  }
  return {};
}

} // namespace

std::string check_song_index(std::string_view input) {
  const std::string path = scratch_path();
  std::string why = check_as_index(input, path);
  if (why.empty())
    why = check_round_trip(input, path);
  ::unlink(path.c_str());
  return why;
}

} // namespace playcount::fuzz
