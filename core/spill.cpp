#include "core/spill.hpp"

#include "core/result_writer.hpp"
#include "core/write_all.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <queue>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace playcount {

namespace {

constexpr const char* spill_suffix = ".pca";
constexpr const char* piece_prefix = "piece-p";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() &&
         s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string partition_tag(uint32_t p) {
  char tag[8];
  std::snprintf(tag, sizeof tag, "-p%02u", p);
  return tag;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..")
        names.push_back(name);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool write_file(const std::string& path, std::string_view bytes,
                std::string& error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                        0600);
  if (fd < 0) {
    error = std::strerror(errno);
    return false;
  }
  bool ok = write_all(fd, bytes);
  if (!ok)
    error = std::strerror(errno != 0 ? errno : ENOSPC);
  if (::close(fd) != 0 && ok) {
    error = std::strerror(errno);
    ok = false;
  }
  if (!ok)
    ::unlink(path.c_str());
  return ok;
}

bool read_file(const std::string& path, std::string& out, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read a spilled partial: " + std::string(std::strerror(errno));
    return false;
  }
  out.assign(std::istreambuf_iterator<char>(in), {});
  return true;
}

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// A partition's songs as result text, one record each: u64 first offset,
// u64 text length, the text (its rows); in order of first offset.
bool write_piece(partial_aggregate& part, const std::string& path,
                 std::string& error) {
  part.seal();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                        0600);
  if (fd < 0) {
    error = std::strerror(errno);
    return false;
  }
  result_rows rows;
  std::string buf, text;
  bool ok = true;
  for (const song_ref s : part.songs_in_order()) {
    text.clear();
    rows.format(part, &s, &s + 1, text);
    put<uint64_t>(buf, part.first_offset(s));
    put<uint64_t>(buf, text.size());
    buf += text;
    if (buf.size() >= (1u << 20)) {
      ok = write_all(fd, buf);
      buf.clear();
      if (!ok)
        break;
    }
  }
  ok = ok && write_all(fd, buf);
  if (!ok)
    error = std::strerror(errno != 0 ? errno : ENOSPC);
  if (::close(fd) != 0 && ok) {
    error = std::strerror(errno);
    ok = false;
  }
  return ok;
}

// Reads a piece file's records in order, a buffer at a time.
class piece_reader {
public:
  explicit piece_reader(const std::string& path)
    : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
  }
  ~piece_reader() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  piece_reader(const piece_reader&) = delete;
  piece_reader& operator=(const piece_reader&) = delete;

  [[nodiscard]] bool ok() const { return fd_ >= 0 && !failed_; }

  /// The next record: false at the end (or on a read error: see ok()).
  bool next(uint64_t& offset, std::string_view& text) {
    uint64_t head[2];
    if (!fill(sizeof head))
      return false;
    std::memcpy(head, buf_.data() + at_, sizeof head);
    at_ += sizeof head;
    if (!fill(head[1])) {
      failed_ = true; // a record cut short: not what write_piece wrote
      return false;
    }
    offset = head[0];
    text = std::string_view(buf_.data() + at_, head[1]);
    at_ += head[1];
    return true;
  }

private:
  // Makes `n` bytes available at at_; false at the end of the file.
  bool fill(size_t n) {
    if (buf_.size() - at_ >= n)
      return true;
    buf_.erase(0, at_);
    at_ = 0;
    while (buf_.size() < n) {
      const size_t want = std::max<size_t>(n - buf_.size(), 1u << 20);
      const size_t had = buf_.size();
      buf_.resize(had + want);
      const ssize_t got = ::read(fd_, buf_.data() + had, want);
      buf_.resize(had + (got > 0 ? static_cast<size_t>(got) : 0));
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        failed_ = true;
      if (got <= 0)
        return false;
    }
    return true;
  }

  int fd_;
  bool failed_ = false;
  std::string buf_;
  size_t at_ = 0;
};

} // namespace

bool spill(partial_aggregate& totals, const std::string& dir,
           const std::string& name, uint64_t& bytes, std::string& error) {
  std::vector<std::string> written;
  for (uint32_t p = 0; p < partial_aggregate::partitions; ++p) {
    partial_aggregate part = totals.take_partition(p);
    if (part.songs() == 0)
      continue;
    const std::string encoded = part.encode_partition(p);
    const std::string path = dir + "/" + name + partition_tag(p) + spill_suffix;
    if (!write_file(path, encoded, error)) {
      for (const std::string& f : written)
        ::unlink(f.c_str());
      error = "cannot spill to disk: " + error;
      totals = partial_aggregate{};
      return false;
    }
    written.push_back(path);
    bytes += encoded.size();
  }
  totals = partial_aggregate{};
  return true;
}

bool has_spills(const std::string& dir) {
  for (const std::string& name : files_in(dir))
    if (ends_with(name, spill_suffix))
      return true;
  return false;
}

bool write_spilled_result(std::vector<partial_aggregate>& in_memory,
                          const std::string& dir, const std::string& path,
                          bool durable, uint64_t& groups, bool& overflow,
                          std::string& error) {
  groups = 0;
  overflow = false;
  const std::vector<std::string> names = files_in(dir);
  std::vector<std::string> pieces(partial_aggregate::partitions);
  std::vector<std::string> errors(partial_aggregate::partitions);
  std::vector<uint64_t> counts(partial_aggregate::partitions, 0);
  std::atomic<bool> overflowed{false};
  // One partition: its spilled pieces and its part of the partials in
  // memory, merged and written as text. Partitions are independent: two at
  // a time (each a 1/16 of the job's totals).
  const auto one = [&](uint32_t p) {
    partial_aggregate part;
    const std::string tag = partition_tag(p) + spill_suffix;
    for (const std::string& name : names) {
      if (!ends_with(name, tag))
        continue;
      std::string bytes;
      partial_aggregate spilled;
      if (!read_file(dir + "/" + name, bytes, errors[p]))
        return;
      if (!partial_aggregate::decode(bytes, spilled)) {
        errors[p] = "a spilled partial does not read back (damaged on disk?)";
        return;
      }
      ::unlink((dir + "/" + name).c_str()); // read: its memory is ours now
      if (!part.merge(std::move(spilled))) {
        overflowed = true;
        return;
      }
    }
    for (partial_aggregate& m : in_memory)
      if (!part.merge(m.take_partition(p))) {
        overflowed = true;
        return;
      }
    counts[p] = part.groups();
    const std::string piece =
      dir + "/" + piece_prefix + partition_tag(p).substr(2);
    if (!write_piece(part, piece, errors[p]))
      errors[p] = "cannot spill to disk: " + errors[p];
    pieces[p] = piece;
  };
  std::atomic<uint32_t> next{0};
  const auto loop = [&] {
    for (uint32_t p; (p = next.fetch_add(1)) < partial_aggregate::partitions;)
      one(p);
  };
  std::thread helper(loop);
  loop();
  helper.join();
  if (overflowed) {
    overflow = true;
    return false;
  }
  for (uint32_t p = 0; p < partial_aggregate::partitions; ++p) {
    if (!errors[p].empty()) {
      error = errors[p];
      return false;
    }
    groups += counts[p];
  }
  in_memory.clear();
  // The result: the pieces merged by first offset, each already in order.
  return write_file_atomically(path, durable, error, [&](const text_sink& sink) {
    std::vector<std::unique_ptr<piece_reader>> readers;
    using head = std::pair<uint64_t, size_t>; // first offset, reader
    std::priority_queue<head, std::vector<head>, std::greater<>> next;
    std::vector<std::string_view> texts(pieces.size());
    for (size_t i = 0; i < pieces.size(); ++i) {
      readers.push_back(std::make_unique<piece_reader>(pieces[i]));
      uint64_t offset = 0;
      if (readers[i]->next(offset, texts[i]))
        next.push({offset, i});
    }
    std::string out(result_header);
    while (!next.empty()) {
      const size_t i = next.top().second;
      next.pop();
      out += texts[i];
      uint64_t offset = 0;
      if (readers[i]->next(offset, texts[i]))
        next.push({offset, i});
      if (out.size() >= (4u << 20)) {
        if (!sink(out))
          return false;
        out.clear();
      }
    }
    for (const auto& r : readers)
      if (!r->ok()) {
        errno = EIO;
        return false;
      }
    return sink(out);
  });
}

uint64_t spilled_bytes(const std::string& dir) {
  uint64_t n = 0;
  for (const std::string& name : files_in(dir)) {
    struct stat st {};
    if (ends_with(name, spill_suffix) &&
        ::stat((dir + "/" + name).c_str(), &st) == 0)
      n += static_cast<uint64_t>(st.st_size);
  }
  return n;
}

void remove_spills(const std::string& dir) {
  if (dir.empty())
    return;
  for (const std::string& name : files_in(dir))
    if (ends_with(name, spill_suffix) || name.rfind(piece_prefix, 0) == 0)
      ::unlink((dir + "/" + name).c_str());
  (void)::rmdir(dir.c_str()); // only if nothing else is in it
}

uint64_t default_memory_limit() {
  uint64_t limit = 0;
  for (const char* path : {"/sys/fs/cgroup/memory.max",
                           "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    std::string text;
    if (in >> text && text != "max") {
      const uint64_t v = std::strtoull(text.c_str(), nullptr, 10);
      if (v > 0 && v < (uint64_t{1} << 60)) { // v1 says "no limit" as ~2^63
        limit = v;
        break;
      }
    }
  }
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGE_SIZE);
  const uint64_t physical =
    pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
  if (limit == 0 || (physical != 0 && physical < limit))
    limit = physical;
  return limit / 2;
}

bool merge_spilled_partition(const std::string& dir, uint32_t p,
                             partial_aggregate& part, bool& overflow,
                             std::string& error) {
  overflow = false;
  const std::string tag = partition_tag(p) + spill_suffix;
  for (const std::string& name : files_in(dir)) {
    if (!ends_with(name, tag))
      continue;
    std::string bytes;
    partial_aggregate spilled;
    if (!read_file(dir + "/" + name, bytes, error))
      return false;
    if (!partial_aggregate::decode(bytes, spilled)) {
      error = "a spilled partial does not read back (damaged on disk?)";
      return false;
    }
    bytes = std::string{};
    ::unlink((dir + "/" + name).c_str());
    if (!part.merge(std::move(spilled))) {
      overflow = true;
      return false;
    }
  }
  return true;
}

void remove_spill_tree(const std::string& dir) {
  if (dir.empty())
    return;
  for (const std::string& name : files_in(dir)) {
    const std::string path = dir + "/" + name;
    struct stat st {};
    // lstat: a link to a directory elsewhere is not ours to empty.
    if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      remove_spills(path);
  }
  remove_spills(dir);
}

} // namespace playcount
