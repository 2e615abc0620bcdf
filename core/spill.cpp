#include "core/spill.hpp"

#include "core/spool.hpp"

#include "core/hash.hpp"
#include "core/mapped_file.hpp"
#include "core/result_writer.hpp"
#include "core/song_index.hpp"
#include "core/write_all.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <optional>
#include <queue>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <utility>

namespace playcount {

namespace {

constexpr const char* spill_suffix = ".pca";
constexpr const char* piece_prefix = "piece-p";
constexpr const char* spill_dir_prefix = "playcount-spill-";
constexpr const char* owner_lock = "owner.lock";

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

// What writing spill files fails with: the reason alone, the file kept for
// whoever wants it ("cannot spill to disk: No space left on device").
failure spill_failure(const std::string& path, int code) {
  return failure::of_errno({}, path, code).within("cannot spill to disk");
}

// A spilled file that does not decode.
failure damaged_spill() {
  return failure::words(
      "a spilled partial does not read back (damaged on disk?)");
}

result<void> write_file(const std::string& path, std::string_view bytes) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return spill_failure(path, errno);
  int code = 0;
  if (!write_all(fd, bytes))
    code = errno != 0 ? errno : ENOSPC;
  if (::close(fd) != 0 && code == 0)
    code = errno;
  if (code == 0)
    return {};
  ::unlink(path.c_str());
  return spill_failure(path, code);
}

result<void> read_file(const std::string& path, std::string& out) {
  const auto cannot = [&](int code) {
    return failure::of_errno({}, path, code)
        .within("cannot read a spilled partial");
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    const int code = errno;
    if (fd >= 0)
      ::close(fd);
    return cannot(code);
  }
  out.resize(static_cast<size_t>(st.st_size));
  size_t at = 0;
  while (at < out.size()) {
    const ssize_t got = ::read(fd, out.data() + at, out.size() - at);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      const int code = errno;
      ::close(fd);
      return cannot(code);
    }
    if (got == 0)
      break;
    at += static_cast<size_t>(got);
  }
  ::close(fd);
  out.resize(at); // cut short: the byte form says so
  return {};
}

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// A song of a run (write_run), all but its name and its offset in the
// result (known only once the pieces are merged).
struct run_record {
  int64_t plays;
  day_number first, last;
  uint64_t length, dates;
};

// One partition of the job, merged from the byte forms of its parts (the
// files spilled, its share of the partials in memory) by sorting rather than
// by hashing each group again: every (song, day, total) goes to one array,
// which is ordered in place by song, songs in order of first appearance,
// then each song's entries by day, equal days summed. 16 bytes a group; only
// songs are looked up.
class partition_merge {
public:
  /// Adds one byte form; false if it does not read.
  [[nodiscard]] bool add(std::string_view bytes) {
    // Songs are looked up a batch at a time, prefetching what the next
    // step reads: a partition's songs do not fit in cache, and there is a
    // song record for about every group when the parts are many small
    // spills. Their entries get the song's index once it is known.
    pending_.clear();
    const bool ok = partial_aggregate::read_encoded(
        bytes,
        [&](std::string_view name, uint64_t offset) {
          if (pending_.size() == batch)
            resolve();
          const uint64_t h = hash_bytes(name.data(), name.size());
          if (!slots_.empty())
            __builtin_prefetch(&slots_[h & (slots_.size() - 1)]);
          pending_.push_back(pending{name, h, offset, entries_.size()});
        },
        [&](day_number day, int64_t total) {
          entries_.push_back(entry{total, day, 0});
        });
    resolve();
    return ok;
  }

  /// Orders and sums; false when a total exceeds 2^63-1.
  [[nodiscard]] bool finish() {
    const auto n = static_cast<uint32_t>(songs_.size());
    order_.resize(n);
    for (uint32_t i = 0; i < n; ++i)
      order_[i] = i;
    std::sort(order_.begin(), order_.end(), [&](uint32_t a, uint32_t b) {
      return songs_[a].first < songs_[b].first;
    });
    // Entries by rank: a radix sort (least significant digit first, of 11
    // bits at most, so that the places written to stay in cache; a scatter
    // straight to each song's place would miss the cache at every entry).
    // Stable: a song's entries keep their order.
    {
      std::vector<uint32_t> rank(n);
      for (uint32_t r = 0; r < n; ++r)
        rank[order_[r]] = r;
      for (entry& e : entries_)
        e.song = rank[e.song];
    }
    unsigned bits = 0;
    while (bits < 32 && (uint64_t{1} << bits) < n)
      ++bits;
    const unsigned passes = (bits + 10) / 11;
    const unsigned digit = passes == 0 ? 0 : (bits + passes - 1) / passes;
    std::vector<entry> other(passes == 0 ? 0 : entries_.size());
    std::vector<uint64_t> at(size_t{1} << digit);
    for (unsigned pass = 0; pass < passes; ++pass) {
      const unsigned shift = pass * digit;
      const uint32_t mask = (uint32_t{1} << digit) - 1;
      std::fill(at.begin(), at.end(), 0);
      for (const entry& e : entries_)
        ++at[(e.song >> shift) & mask];
      uint64_t sum = 0;
      for (uint64_t& a : at)
        sum += std::exchange(a, sum);
      for (const entry& e : entries_)
        other[at[(e.song >> shift) & mask]++] = e;
      entries_.swap(other);
    }
    other = std::vector<entry>();
    begin_.assign(size_t{n} + 1, 0);
    for (const entry& e : entries_)
      ++begin_[e.song + 1];
    for (uint32_t r = 0; r < n; ++r)
      begin_[r + 1] += begin_[r];
    // Each song's days ascending, the totals of a day summed (a day of a
    // song is in several parts when it was spilled more than once).
    uint64_t kept = 0;
    for (uint32_t r = 0; r < n; ++r) {
      entry* b = entries_.data() + begin_[r];
      entry* e = entries_.data() + begin_[r + 1];
      if (e - b > 16)
        std::sort(b, e,
                  [](const entry& x, const entry& y) { return x.day < y.day; });
      else
        for (entry* i = b + 1; i < e; ++i) // few days: insertion
          for (entry* j = i; j > b && j[-1].day > j->day; --j)
            std::swap(j[-1], *j);
      begin_[r] = kept;
      for (entry* i = b; i != e; ++i) {
        if (kept > begin_[r] && entries_[kept - 1].day == i->day) {
          int64_t& total = entries_[kept - 1].total;
          if (__builtin_add_overflow(total, i->total, &total))
            return false;
        } else {
          entries_[kept++] = *i;
        }
      }
    }
    begin_[n] = kept;
    entries_.resize(kept);
    return true;
  }

  [[nodiscard]] uint64_t groups() const noexcept { return entries_.size(); }

  /// Writes the partition as result text to `path` (after finish): per
  /// song, u64 first offset, u64 text length, the text (its rows), in order
  /// of first offset.
  /// `part`, when given, sees each song; `run`, when given too, is written
  /// with the partition's songs sorted by name: per song u32 name bytes,
  /// u32 its place in the piece, a run_record, the name.
  result<void> write_piece(const std::string& path,
                           summary_part* part = nullptr,
                           const std::string* run = nullptr) {
    std::vector<run_record> recs;
    if (run != nullptr)
      recs.resize(order_.size());
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
      return spill_failure(path, errno);
    result_rows rows;
    std::string buf;
    bool ok = true;
    for (uint32_t r = 0; ok && r < order_.size(); ++r) {
      const song& s = songs_[order_[r]];
      put<uint64_t>(buf, s.first);
      const size_t length_at = buf.size();
      put<uint64_t>(buf, 0); // the length, once known
      const std::string_view name(names_.data() + s.name_at, s.name_len);
      if (part == nullptr) {
        rows.format(name, entries_.data() + begin_[r],
                    entries_.data() + begin_[r + 1], buf);
      } else {
        const song_record rec =
            rows.format(name, entries_.data() + begin_[r],
                        entries_.data() + begin_[r + 1], buf, *part);
        if (run != nullptr)
          recs[r] =
              run_record{rec.plays, rec.first, rec.last, rec.length, rec.dates};
      }
      const uint64_t length = buf.size() - length_at - sizeof length;
      std::memcpy(buf.data() + length_at, &length, sizeof length);
      if (buf.size() >= (1u << 20)) {
        ok = write_all(fd, buf);
        buf.clear();
      }
    }
    ok = ok && write_all(fd, buf);
    int code = 0;
    if (!ok)
      code = errno != 0 ? errno : ENOSPC;
    if (::close(fd) != 0 && code == 0)
      code = errno;
    if (code != 0)
      return spill_failure(path, code);
    if (run != nullptr)
      return write_run(*run, recs);
    return {};
  }

  /// The songs and the bytes of their names (after finish).
  [[nodiscard]] uint64_t songs() const noexcept { return songs_.size(); }
  [[nodiscard]] uint64_t names_bytes() const noexcept { return names_.size(); }

private:
  result<void> write_run(const std::string& path,
                         const std::vector<run_record>& recs) {
    const auto name = [&](uint32_t r) {
      const song& s = songs_[order_[r]];
      return std::string_view(names_.data() + s.name_at, s.name_len);
    };
    std::vector<name_key> by_name(order_.size());
    for (uint32_t r = 0; r < by_name.size(); ++r)
      by_name[r] = name_key::of(name(r), r);
    std::sort(by_name.begin(), by_name.end(),
              [&](const name_key& a, const name_key& b) {
                return name_before(a, b, name);
              });
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
      return spill_failure(path, errno);
    std::string buf;
    bool ok = true;
    for (const name_key& k : by_name) {
      const uint32_t r = k.index;
      const std::string_view n = name(r);
      put<uint32_t>(buf, static_cast<uint32_t>(n.size()));
      put<uint32_t>(buf, r);
      put<run_record>(buf, recs[r]);
      buf += n;
      if (buf.size() >= (1u << 20)) {
        ok = ok && write_all(fd, buf);
        buf.clear();
      }
    }
    ok = ok && write_all(fd, buf);
    int code = ok ? 0 : (errno != 0 ? errno : ENOSPC);
    if (::close(fd) != 0 && code == 0)
      code = errno;
    if (code != 0)
      return spill_failure(path, code);
    return {};
  }

  struct entry {
    int64_t total;
    day_number day;
    uint32_t song; // its index in songs_ (its rank, once sorted)
  };

  void resolve() {
    if (!slots_.empty()) {
      const size_t mask = slots_.size() - 1;
      for (const pending& p : pending_) {
        const slot& s = slots_[p.hash & mask];
        if (s.index != 0)
          __builtin_prefetch(&songs_[s.index - 1]);
      }
      for (const pending& p : pending_) {
        const slot& s = slots_[p.hash & mask];
        if (s.index != 0 && s.tag == static_cast<uint32_t>(p.hash >> 32))
          __builtin_prefetch(names_.data() + songs_[s.index - 1].name_at);
      }
    }
    for (size_t i = 0; i < pending_.size(); ++i) {
      const pending& p = pending_[i];
      const uint32_t id = song_id(p.name, p.hash, p.offset);
      const size_t end =
          i + 1 < pending_.size() ? pending_[i + 1].entries : entries_.size();
      for (size_t k = p.entries; k < end; ++k)
        entries_[k].song = id;
    }
    pending_.clear();
  }

  uint32_t song_id(std::string_view name, uint64_t h, uint64_t offset) {
    if (2 * (songs_.size() + 1) > slots_.size())
      grow();
    const auto tag = static_cast<uint32_t>(h >> 32);
    const size_t mask = slots_.size() - 1;
    for (size_t at = h & mask;; at = (at + 1) & mask) {
      slot& s = slots_[at];
      if (s.index == 0) {
        s = slot{tag, static_cast<uint32_t>(songs_.size()) + 1};
        songs_.push_back(
            song{offset, names_.size(), static_cast<uint32_t>(name.size())});
        names_ += name;
        return s.index - 1;
      }
      if (s.tag != tag)
        continue;
      song& known = songs_[s.index - 1];
      if (known.name_len == name.size() &&
          std::memcmp(names_.data() + known.name_at, name.data(),
                      name.size()) == 0) {
        known.first = std::min(known.first, offset);
        return s.index - 1;
      }
    }
  }

  void grow() {
    std::vector<slot> slots(std::max<size_t>(1024, slots_.size() * 2));
    const size_t mask = slots.size() - 1;
    for (const slot& s : slots_) {
      if (s.index == 0)
        continue;
      const song& known = songs_[s.index - 1];
      size_t at =
          hash_bytes(names_.data() + known.name_at, known.name_len) & mask;
      while (slots[at].index != 0)
        at = (at + 1) & mask;
      slots[at] = s;
    }
    slots_ = std::move(slots);
  }

  struct song {
    uint64_t first;   // its first offset
    uint64_t name_at; // in names_
    uint32_t name_len;
  };
  // An open-addressing slot: bits of the song's hash, so that most probes
  // need not look at the song, and its index + 1 (0: empty).
  struct slot {
    uint32_t tag;
    uint32_t index;
  };

  // A song record read whose song is not looked up yet.
  struct pending {
    std::string_view name;
    uint64_t hash;
    uint64_t offset;
    size_t entries; // where its entries begin
  };
  static constexpr size_t batch = 16;

  std::vector<entry> entries_;
  std::vector<pending> pending_;
  std::vector<song> songs_;
  std::string names_;
  std::vector<slot> slots_; // a power of two, at most half full
  // After finish: songs in order of first offset, and where each one's
  // entries begin (by rank).
  std::vector<uint32_t> order_;
  std::vector<uint64_t> begin_;
};

// Reads a piece file's records in order, a buffer at a time.
class piece_reader {
public:
  explicit piece_reader(const std::string& path)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
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

  /// The next song of a run (write_run): false at the end. `name` stays
  /// valid until the next call.
  bool next_song(std::string_view& name, uint32_t& place, run_record& rec) {
    uint32_t head[2];
    if (!fill(sizeof head + sizeof rec))
      return false;
    std::memcpy(head, buf_.data() + at_, sizeof head);
    std::memcpy(&rec, buf_.data() + at_ + sizeof head, sizeof rec);
    at_ += sizeof head + sizeof rec;
    if (!fill(head[0])) {
      failed_ = true;
      return false;
    }
    place = head[1];
    name = std::string_view(buf_.data() + at_, head[0]);
    at_ += head[0];
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

result<uint64_t> spill(partial_aggregate& totals, const std::string& dir,
                       const std::string& name) {
  uint64_t bytes = 0;
  std::vector<std::string> written;
  for (uint32_t p = 0; p < partial_aggregate::partitions; ++p) {
    partial_aggregate part = totals.take_partition(p);
    if (part.songs() == 0)
      continue;
    const std::string encoded = part.encode_partition(p);
    const std::string path = dir + "/" + name + partition_tag(p) + spill_suffix;
    if (auto done = write_file(path, encoded); !done) {
      for (const std::string& f : written)
        ::unlink(f.c_str());
      totals = partial_aggregate{};
      return std::move(done).error();
    }
    written.push_back(path);
    bytes += encoded.size();
  }
  totals = partial_aggregate{};
  return bytes;
}

bool has_spills(const std::string& dir) {
  for (const std::string& name : files_in(dir))
    if (ends_with(name, spill_suffix))
      return true;
  return false;
}

result<spilled_write> write_spilled_result(
    std::vector<partial_aggregate>& in_memory, const std::string& dir,
    const std::vector<std::string>& owners, const std::string& path,
    bool durable, phase_meter* written, summary_files* summary) {
  spilled_write out;
  const bool indexing = summary != nullptr && !summary->index_path.empty();
  std::vector<summary_part> parts(
      summary != nullptr ? partial_aggregate::partitions : 0);
  std::vector<uint64_t> songs(partial_aggregate::partitions, 0),
      names_bytes(partial_aggregate::partitions, 0);
  const auto run_of = [&](uint32_t p) {
    return dir + "/" + piece_prefix + partition_tag(p).substr(2) + ".run";
  };
  const auto places_of = [&](uint32_t p) {
    return dir + "/" + piece_prefix + partition_tag(p).substr(2) + ".at";
  };
  if (written != nullptr)
    written->set_total(partial_aggregate::partitions + 1);
  std::vector<std::string> names;
  for (const std::string& name : files_in(dir))
    if (std::any_of(owners.begin(), owners.end(), [&](const std::string& o) {
          return name.rfind(o, 0) == 0;
        }))
      names.push_back(name);
  std::vector<std::string> pieces(partial_aggregate::partitions);
  std::vector<std::optional<failure>> errors(partial_aggregate::partitions);
  std::vector<uint64_t> counts(partial_aggregate::partitions, 0);
  std::atomic<bool> overflowed{false};
  // One partition: its spilled pieces and its part of the partials in
  // memory, merged and written as text. Partitions are independent: two at
  // a time (each a 1/16 of the job's totals).
  const auto one = [&](uint32_t p) {
    partition_merge part;
    const std::string tag = partition_tag(p) + spill_suffix;
    std::string bytes;
    for (const std::string& name : names) {
      if (!ends_with(name, tag))
        continue;
      if (auto read = read_file(dir + "/" + name, bytes); !read) {
        errors[p] = std::move(read).error();
        return;
      }
      if (!part.add(bytes)) {
        errors[p] = damaged_spill();
        return;
      }
      ::unlink((dir + "/" + name).c_str()); // read: its memory is ours now
    }
    for (partial_aggregate& m : in_memory) {
      partial_aggregate taken = m.take_partition(p);
      if (taken.songs() == 0)
        continue;
      bytes = taken.encode_partition(p);
      taken = partial_aggregate{};
      if (!part.add(bytes)) {
        errors[p] = failure::words("a partial does not read back");
        return;
      }
    }
    bytes = std::string();
    if (!part.finish()) {
      overflowed = true;
      return;
    }
    counts[p] = part.groups();
    const std::string piece =
        dir + "/" + piece_prefix + partition_tag(p).substr(2);
    const std::string run = run_of(p);
    if (auto wrote =
            part.write_piece(piece, summary != nullptr ? &parts[p] : nullptr,
                             indexing ? &run : nullptr);
        !wrote)
      errors[p] = std::move(wrote).error();
    songs[p] = part.songs();
    names_bytes[p] = part.names_bytes();
    pieces[p] = piece;
    advance(written, 1);
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
    out.overflow = true;
    return out;
  }
  for (uint32_t p = 0; p < partial_aggregate::partitions; ++p) {
    if (errors[p])
      return std::move(*errors[p]);
    out.groups += counts[p];
  }
  in_memory.clear();
  // songs.idx: the runs merged by name, each song's offset read from its
  // piece's places (mapped).
  const auto write_index_and_summary = [&](summary_files& files,
                                           uint64_t result_bytes,
                                           bool durable_files) -> result<void> {
    if (indexing) {
      uint64_t all_songs = 0, all_names = 0;
      for (uint32_t p = 0; p < partial_aggregate::partitions; ++p) {
        all_songs += songs[p];
        all_names += names_bytes[p];
      }
      std::vector<std::unique_ptr<piece_reader>> runs;
      std::vector<mapped_file> offsets(partial_aggregate::partitions);
      struct run_head {
        std::string_view name;
        uint32_t place;
        run_record rec;
      };
      std::vector<run_head> heads(partial_aggregate::partitions);
      // The runs' heads by name, keyed by the run: most comparisons are of
      // the keys.
      const auto name_of = [&](uint32_t p) { return heads[p].name; };
      const auto later = [&](const name_key& a, const name_key& b) {
        return name_before(b, a, name_of);
      };
      std::priority_queue<name_key, std::vector<name_key>, decltype(later)>
          by_name(later);
      for (uint32_t p = 0; p < partial_aggregate::partitions; ++p) {
        runs.push_back(std::make_unique<piece_reader>(run_of(p)));
        if (songs[p] == 0)
          continue;
        if (auto opened = offsets[p].open(places_of(p)); !opened)
          return std::move(opened).error();
        if (offsets[p].size() != songs[p] * sizeof(uint64_t))
          return failure::because("cannot read", places_of(p), "cut short");
        if (runs[p]->next_song(heads[p].name, heads[p].place, heads[p].rec))
          by_name.push(name_key::of(heads[p].name, p));
      }
      int64_t advance_run = -1; // the run whose head was handed out last
      bool damaged = false;
      auto index = write_song_index(
          files.index_path, all_songs, all_names, result_bytes, durable_files,
          [&](std::string_view& name, song_record& rec) {
            if (advance_run >= 0) {
              const auto p = static_cast<uint32_t>(advance_run);
              if (runs[p]->next_song(heads[p].name, heads[p].place,
                                     heads[p].rec))
                by_name.push(name_key::of(heads[p].name, p));
              advance_run = -1;
            }
            if (by_name.empty())
              return false;
            const uint32_t p = by_name.top().index;
            by_name.pop();
            const run_head& h = heads[p];
            if (h.place >= songs[p]) {
              damaged = true;
              return false;
            }
            uint64_t offset = 0;
            std::memcpy(&offset,
                        offsets[p].bytes().data() + size_t{h.place} * 8, 8);
            name = h.name;
            rec = song_record{h.rec.plays, h.rec.first,  h.rec.last,
                              offset,      h.rec.length, h.rec.dates};
            advance_run = p;
            return true;
          });
      if (!index)
        return std::move(index).error().within("cannot write the song index");
      if (damaged)
        return damaged_spill();
      for (uint32_t p = 0; p < partial_aggregate::partitions; ++p) {
        ::unlink(run_of(p).c_str());
        ::unlink(places_of(p).c_str());
      }
    }
    if (!files.summary_path.empty())
      if (auto json = write_file_atomically(
              files.summary_path, summary_json(files.made), durable_files);
          !json) {
        remove_beside(files);
        return std::move(json).error().within("cannot write the summary");
      }
    return {};
  };
  std::optional<failure> beside; // summary.json or songs.idx not written
  // The result: the pieces merged by first offset, each already in order.
  auto result_file = write_output(path, durable, [&](const text_sink& sink) {
    std::vector<std::unique_ptr<piece_reader>> readers;
    using head = std::pair<uint64_t, size_t>; // first offset, reader
    std::priority_queue<head, std::vector<head>, std::greater<>> next;
    std::vector<std::string_view> texts(pieces.size());
    // When indexing: the offset in the result of each piece's songs, in
    // the piece's order, into a file per piece (8 bytes a song).
    std::vector<int> places(indexing ? pieces.size() : 0, -1);
    std::vector<std::string> place_bufs(places.size());
    struct closer {
      std::vector<int>& fds;
      ~closer() {
        for (const int fd : fds)
          if (fd >= 0)
            ::close(fd);
      }
    } close_places{places};
    for (size_t i = 0; i < places.size(); ++i) {
      places[i] = ::open(places_of(static_cast<uint32_t>(i)).c_str(),
                         O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (places[i] < 0)
        return false;
    }
    uint64_t emitted = result_header.size();
    for (size_t i = 0; i < pieces.size(); ++i) {
      readers.push_back(std::make_unique<piece_reader>(pieces[i]));
      uint64_t offset = 0;
      if (readers[i]->next(offset, texts[i]))
        next.push({offset, i});
    }
    // A buffer is written (the system call copies it) on a thread of its
    // own while the next one is merged.
    std::string out(result_header), writing;
    std::thread writer;
    bool wrote = true;
    int write_errno = 0;
    const auto flushed = [&] {
      if (writer.joinable())
        writer.join();
      if (!wrote)
        errno = write_errno;
      return wrote;
    };
    const auto hand_over = [&] {
      if (!flushed())
        return false;
      std::swap(out, writing);
      out.clear();
      writer = std::thread([&] {
        wrote = sink(writing);
        write_errno = errno;
      });
      return true;
    };
    while (!next.empty()) {
      const size_t i = next.top().second;
      next.pop();
      out += texts[i];
      if (indexing) {
        put<uint64_t>(place_bufs[i], emitted);
        if (place_bufs[i].size() >= (1u << 16)) {
          if (!write_all(places[i], place_bufs[i]))
            return false;
          place_bufs[i].clear();
        }
      }
      emitted += texts[i].size();
      uint64_t offset = 0;
      if (readers[i]->next(offset, texts[i]))
        next.push({offset, i});
      if (out.size() >= (4u << 20) && !hand_over())
        return false;
    }
    if (!flushed())
      return false;
    for (const auto& r : readers)
      if (!r->ok()) {
        errno = EIO;
        return false;
      }
    if (!sink(out))
      return false;
    if (summary == nullptr)
      return true;
    for (size_t i = 0; i < places.size(); ++i)
      if (!write_all(places[i], place_bufs[i]))
        return false;
    // Before the result is renamed into place: all three or none.
    summary->made = summary_part::finish_all(parts, summary->skipped_rows);
    if (auto files = write_index_and_summary(*summary, emitted, durable);
        !files) {
      beside = std::move(files).error();
      return false;
    }
    return true;
  });
  if (beside)
    return std::move(*beside);
  if (!result_file && summary != nullptr)
    remove_beside(*summary);
  if (!result_file)
    return std::move(result_file).error();
  advance(written, 1);
  return out;
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

void remove_spills_named(const std::string& dir, const std::string& name) {
  if (dir.empty() || name.empty())
    return;
  for (const std::string& file : files_in(dir))
    if (file.rfind(name, 0) == 0 && ends_with(file, spill_suffix))
      ::unlink((dir + "/" + file).c_str());
}

void remove_spills(const std::string& dir) {
  if (dir.empty())
    return;
  for (const std::string& name : files_in(dir))
    if (ends_with(name, spill_suffix) || name.rfind(piece_prefix, 0) == 0 ||
        name == owner_lock || name == spool_file_name)
      ::unlink((dir + "/" + name).c_str());
  (void)::rmdir(dir.c_str()); // only if nothing else is in it
}

uint64_t default_memory_limit() {
  uint64_t limit = 0; // the least limit found; 0: none
  const auto take = [&](const std::string& path) {
    std::ifstream in(path);
    std::string text;
    if (in >> text && text != "max") {
      const uint64_t v = std::strtoull(text.c_str(), nullptr, 10);
      // v1 says "no limit" as ~2^63
      if (v > 0 && v < (uint64_t{1} << 60) && (limit == 0 || v < limit))
        limit = v;
    }
  };
  // The process's own cgroup and those above it (/proc/self/cgroup:
  // "0::/path" for v2, "N:memory,...:/path" for v1): systemd's MemoryMax=
  // or a parent slice sets the limit there, not at the hierarchy's root,
  // unless a cgroup namespace makes the process's cgroup the root.
  std::ifstream self("/proc/self/cgroup");
  for (std::string line; std::getline(self, line);) {
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos)
      continue;
    const std::string controllers = "," + line.substr(a + 1, b - a - 1) + ",";
    std::string base;
    std::string file;
    if (controllers == ",,") {
      base = "/sys/fs/cgroup";
      file = "memory.max";
    } else if (controllers.find(",memory,") != std::string::npos) {
      base = "/sys/fs/cgroup/memory";
      file = "memory.limit_in_bytes";
    } else {
      continue;
    }
    std::string path = line.substr(b + 1);
    while (!path.empty() && path != "/") {
      take(base + path + "/" + file);
      path.resize(path.find_last_of('/'));
    }
  }
  // The hierarchies' roots: a container's own cgroup, as it sees it.
  take("/sys/fs/cgroup/memory.max");
  take("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGE_SIZE);
  const uint64_t physical =
      pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
  if (limit == 0 || (physical != 0 && physical < limit))
    limit = physical;
  return limit / 2;
}

result<bool> merge_spilled_partition(const std::string& dir, uint32_t p,
                                     partial_aggregate& part) {
  const std::string tag = partition_tag(p) + spill_suffix;
  for (const std::string& name : files_in(dir)) {
    if (!ends_with(name, tag))
      continue;
    std::string bytes;
    partial_aggregate spilled;
    if (auto read = read_file(dir + "/" + name, bytes); !read)
      return std::move(read).error();
    if (!partial_aggregate::decode(bytes, spilled))
      return damaged_spill();
    bytes = std::string{};
    ::unlink((dir + "/" + name).c_str());
    if (!part.merge(std::move(spilled)))
      return false; // a total overflows
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

std::string default_temp_dir() {
  const char* tmpdir = std::getenv("TMPDIR");
  return tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
}

namespace {

// Whether `path` is a spill directory of a process that is gone: ours (uid),
// holding an owner.lock that nobody locks, untouched for a minute (so that a
// directory whose owner is between mkdtemp and flock is left alone). Locks
// it then (held by `fd`, closed by the caller).
bool abandoned(const std::string& path, int& fd) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      st.st_uid != ::geteuid() || ::time(nullptr) - st.st_mtime < 60)
    return false;
  fd = ::open((path + "/" + owner_lock).c_str(),
              O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  return fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
}

} // namespace

result<std::string> make_spill_dir(const std::string& temp_dir,
                                   unsigned& swept) {
  swept = 0;
  const std::string prefix = spill_dir_prefix;
  for (const std::string& name : files_in(temp_dir)) {
    if (name.size() != prefix.size() + 6 || name.rfind(prefix, 0) != 0)
      continue;
    const std::string path = temp_dir + "/" + name;
    int fd = -1;
    if (abandoned(path, fd)) {
      remove_spill_tree(path);
      ++swept;
    }
    if (fd >= 0)
      ::close(fd);
  }
  std::string dir = temp_dir + "/" + prefix + "XXXXXX";
  const auto cannot = [&](int code) {
    return failure::of_errno("cannot make a directory in", temp_dir, code);
  };
  if (::mkdtemp(dir.data()) == nullptr)
    return cannot(errno);
  // Held until the process ends: its lock says the directory is in use.
  const int fd = ::open((dir + "/" + owner_lock).c_str(),
                        O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int code = errno;
    if (fd >= 0)
      ::close(fd);
    remove_spills(dir);
    return cannot(code);
  }
  return dir;
}

} // namespace playcount
