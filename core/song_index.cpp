#include "core/song_index.hpp"

#include "core/result_reader.hpp"
#include "core/utf8.hpp"
#include "core/write_all.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace playcount {

namespace {

constexpr char magic[8] = {'P', 'C', 'S', 'O', 'N', 'G', 'S', '\0'};
constexpr uint32_t version = 1;
constexpr size_t header_size = 64;
constexpr size_t record_size = 56;

template <class T>
T load(const unsigned char* at) noexcept {
  T v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

template <class T>
void store(unsigned char* at, T v) noexcept {
  std::memcpy(at, &v, sizeof v);
}

} // namespace

song_index::song_index(song_index&& other) noexcept {
  *this = std::move(other);
}

song_index& song_index::operator=(song_index&& other) noexcept {
  if (this != &other) {
    if (map_ != nullptr)
      ::munmap(const_cast<unsigned char*>(map_), bytes_);
    map_ = std::exchange(other.map_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    records_ = std::exchange(other.records_, 0);
    names_ = std::exchange(other.names_, nullptr);
    names_bytes_ = std::exchange(other.names_bytes_, 0);
    result_bytes_ = std::exchange(other.result_bytes_, 0);
  }
  return *this;
}

song_index::~song_index() {
  if (map_ != nullptr)
    ::munmap(const_cast<unsigned char*>(map_), bytes_);
}

result<song_index> song_index::open(const std::string& path) {
  const auto damaged = [&](const std::string& why) {
    return failure::because("the song index", path, "damaged: " + why);
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return failure::of_errno("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int code = errno;
    ::close(fd);
    return failure::of_errno("cannot open", path, code);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return failure::because("cannot open", path, "not a regular file");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < header_size) {
    ::close(fd);
    return damaged("shorter than its header (" + std::to_string(size) +
                   " bytes)");
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  const int code = errno;
  ::close(fd);
  if (m == MAP_FAILED)
    return failure::of_errno("cannot map", path, code);
  song_index ix;
  ix.map_ = static_cast<const unsigned char*>(m);
  ix.bytes_ = size;
  const unsigned char* h = ix.map_;
  if (std::memcmp(h, magic, sizeof magic) != 0)
    return damaged("not a song index (no PCSONGS header)");
  if (load<uint32_t>(h + 8) != version)
    return damaged("version " + std::to_string(load<uint32_t>(h + 8)) +
                   ", not " + std::to_string(version));
  if (load<uint32_t>(h + 12) != record_size)
    return damaged("records of " + std::to_string(load<uint32_t>(h + 12)) +
                   " bytes");
  const auto records = load<uint64_t>(h + 16);
  const auto names_at = load<uint64_t>(h + 24);
  const auto names_bytes = load<uint64_t>(h + 32);
  ix.result_bytes_ = load<uint64_t>(h + 40);
  if (records > (size - header_size) / record_size ||
      names_at != header_size + records * record_size)
    return damaged("its records do not fit (" + std::to_string(records) +
                   " records in " + std::to_string(size) + " bytes)");
  if (names_bytes != size - names_at)
    return damaged("its names area is " + std::to_string(size - names_at) +
                   " bytes, the header says " + std::to_string(names_bytes));
  ix.records_ = records;
  ix.names_ = ix.map_ + names_at;
  ix.names_bytes_ = names_bytes;
  // Every record: its name right after the one before (so all in bounds),
  // names strictly ascending, rows inside the result.
  uint64_t next_name = 0;
  std::string_view before;
  for (uint64_t i = 0; i < records; ++i) {
    const unsigned char* r = ix.map_ + header_size + i * record_size;
    const auto at = load<uint64_t>(r);
    const auto len = load<uint32_t>(r + 8);
    const auto first = load<int32_t>(r + 12);
    const auto last = load<int32_t>(r + 16);
    const auto offset = load<uint64_t>(r + 32);
    const auto length = load<uint64_t>(r + 40);
    const auto dates = load<uint64_t>(r + 48);
    // Made only for a failure: a string per record of millions cost most
    // of the check.
    const auto where = [i] { return "record " + std::to_string(i) + ": "; };
    if (at != next_name || len > names_bytes - at)
      return damaged(where() + "its name is out of place");
    next_name = at + len;
    const std::string_view name(reinterpret_cast<const char*>(ix.names_ + at),
                                len);
    if (i > 0 && !(before < name))
      return damaged(where() + "names not in ascending order");
    before = name;
    if (first > last || dates == 0 ||
        dates > uint64_t(int64_t{last} - first) + 1)
      return damaged(where() + "impossible dates");
    if (length == 0 || offset > ix.result_bytes_ ||
        length > ix.result_bytes_ - offset)
      return damaged(where() + "its rows are outside the result");
  }
  if (next_name != names_bytes)
    return damaged("names area longer than its names");
  return ix;
}

uint64_t song_index::size() const noexcept {
  return records_;
}

uint64_t song_index::result_bytes() const noexcept {
  return result_bytes_;
}

std::string_view song_index::name(uint64_t i) const noexcept {
  const unsigned char* r = map_ + header_size + i * record_size;
  return {reinterpret_cast<const char*>(names_ + load<uint64_t>(r)),
          load<uint32_t>(r + 8)};
}

song_entry song_index::at(uint64_t i) const {
  const unsigned char* r = map_ + header_size + i * record_size;
  song_entry e;
  e.song = std::string(name(i));
  e.first = load<int32_t>(r + 12);
  e.last = load<int32_t>(r + 16);
  e.plays = load<int64_t>(r + 24);
  e.offset = load<uint64_t>(r + 32);
  e.length = load<uint64_t>(r + 40);
  e.dates = load<uint64_t>(r + 48);
  return e;
}

uint64_t song_index::lower_bound(std::string_view key) const noexcept {
  uint64_t lo = 0, hi = records_;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (name(mid) < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

std::optional<song_entry> song_index::find(std::string_view song) const {
  const uint64_t i = lower_bound(song);
  if (i == records_ || name(i) != song)
    return std::nullopt;
  return at(i);
}

std::vector<song_entry> song_index::with_prefix(std::string_view prefix,
                                                size_t limit,
                                                bool& more) const {
  std::vector<song_entry> out;
  more = false;
  for (uint64_t i = lower_bound(prefix); i < records_; ++i) {
    if (name(i).substr(0, prefix.size()) != prefix)
      break;
    if (out.size() == limit) {
      more = true;
      break;
    }
    out.push_back(at(i));
  }
  return out;
}

result<std::vector<std::pair<day_number, int64_t>>>
read_song_rows(const std::string& result_csv, const song_entry& e) {
  const auto bad = [&](const std::string& why) {
    return failure::because("cannot read the rows of " +
                                printable_utf8(e.song) + " from",
                            result_csv, why);
  };
  const int fd = ::open(result_csv.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return failure::of_errno("cannot open", result_csv, errno);
  std::string bytes(e.length, '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::pread(fd, bytes.data() + got, bytes.size() - got,
                              static_cast<off_t>(e.offset + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      const int code = errno;
      ::close(fd);
      return failure::of_errno("cannot read", result_csv, code);
    }
    if (n == 0)
      break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got != bytes.size())
    return bad("the result is shorter than its index says");
  std::vector<std::pair<day_number, int64_t>> rows;
  rows.reserve(e.dates);
  result_reader reader(bytes, 1);
  std::string_view name;
  day_number day = 0;
  int64_t total = 0;
  std::string why;
  while (reader.next(name, day, total, why)) {
    if (name != e.song)
      return bad("row " + std::to_string(rows.size() + 1) +
                 " is of another song (the index does not match the result)");
    if (!rows.empty() && rows.back().first >= day)
      return bad("dates not ascending");
    rows.emplace_back(day, total);
  }
  if (!why.empty())
    return bad(why);
  if (rows.size() != e.dates)
    return bad(std::to_string(rows.size()) + " rows, the index says " +
               std::to_string(e.dates));
  return rows;
}

result<void> write_song_index(
    const std::string& path, uint64_t songs, uint64_t names_bytes,
    uint64_t result_bytes, bool durable,
    const std::function<bool(std::string_view&, song_record&)>& next) {
  std::string tmp = path + ".partial-XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0)
    return failure::of_errno("cannot create", tmp, errno);
  const auto fail = [&](const char* what, int code) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return failure::of_errno(what, tmp, code);
  };
  const uint64_t names_at = header_size + songs * record_size;
  // Two cursors, each written a buffer at a time.
  struct cursor {
    uint64_t at;
    std::string buf;
  };
  cursor records{0, {}}, names{names_at, {}};
  const auto flush = [&](cursor& c) {
    size_t done = 0;
    while (done < c.buf.size()) {
      const ssize_t n = ::pwrite(fd, c.buf.data() + done, c.buf.size() - done,
                                 static_cast<off_t>(c.at + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      done += static_cast<size_t>(n);
    }
    c.at += c.buf.size();
    c.buf.clear();
    return true;
  };
  unsigned char head[header_size] = {};
  std::memcpy(head, magic, sizeof magic);
  store<uint32_t>(head + 8, version);
  store<uint32_t>(head + 12, record_size);
  store<uint64_t>(head + 16, songs);
  store<uint64_t>(head + 24, names_at);
  store<uint64_t>(head + 32, names_bytes);
  store<uint64_t>(head + 40, result_bytes);
  records.buf.append(reinterpret_cast<const char*>(head), sizeof head);
  std::string_view name;
  song_record rec;
  uint64_t count = 0, name_at = 0;
  while (next(name, rec)) {
    unsigned char r[record_size] = {};
    store<uint64_t>(r, name_at);
    store<uint32_t>(r + 8, static_cast<uint32_t>(name.size()));
    store<int32_t>(r + 12, rec.first);
    store<int32_t>(r + 16, rec.last);
    store<int64_t>(r + 24, rec.plays);
    store<uint64_t>(r + 32, rec.offset);
    store<uint64_t>(r + 40, rec.length);
    store<uint64_t>(r + 48, rec.dates);
    records.buf.append(reinterpret_cast<const char*>(r), sizeof r);
    names.buf += name;
    name_at += name.size();
    ++count;
    if ((records.buf.size() >= (1u << 20) && !flush(records)) ||
        (names.buf.size() >= (1u << 20) && !flush(names)))
      return fail("cannot write", errno);
  }
  if (!flush(records) || !flush(names))
    return fail("cannot write", errno);
  if (count != songs || name_at != names_bytes)
    return fail("cannot write", EINVAL); // a writer's mistake, not the disk's
  if (durable && ::fsync(fd) != 0)
    return fail("cannot flush", errno);
  if (::fchmod(fd, 0644) != 0)
    return fail("cannot set permissions of", errno);
  if (::close(fd) != 0) {
    const int code = errno;
    ::unlink(tmp.c_str());
    return failure::of_errno("cannot write", tmp, code);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int code = errno;
    ::unlink(tmp.c_str());
    return failure::of_errno("cannot rename", tmp, code, path);
  }
  return {};
}

} // namespace playcount
