#include "http/upload.hpp"

#include "actors/job_store.hpp"
#include "core/file_chores.hpp"
#include "core/simd.hpp"
#include "core/write_all.hpp"
#include "http/file_names.hpp"
#include "http/multipart.hpp"
#include "http/wire.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <thread>
#include <unistd.h>

namespace playcount::http {

namespace {

constexpr size_t buffer_size = 1 << 20;
constexpr size_t direct_write_size = 64 << 10;
constexpr uint64_t writeback_every = 32 << 20;
// What the count has read leaves the page cache in steps of this size.
constexpr uint64_t drop_every = 16 << 20;

// One thread for all sinks' slow file chores.
file_chores& chores() {
  static file_chores shared;
  return shared;
}

// Copies `size` bytes at `offset` of `in` to the start of `out`, in the
// kernel; falls back to writing from `mapped` where copy_file_range cannot
// (an older kernel or another file system).
bool copy_range(int in, uint64_t offset, uint64_t size, int out,
                const char* mapped) {
  loff_t from = static_cast<loff_t>(offset);
  uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::copy_file_range(in, &from, out, nullptr,
                                        static_cast<size_t>(size - done), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    done += static_cast<uint64_t>(n);
  }
  if (done == size)
    return true;
  return write_all(out,
                   {mapped + offset + done, static_cast<size_t>(size - done)});
}

// Moves `tmp` to `final_path` once flushed, and flushes the directory.
result<void> publish(const std::string& tmp, const std::string& final_path) {
  if (std::rename(tmp.c_str(), final_path.c_str()) != 0)
    return failure::of_errno("cannot rename", tmp, errno);
  return sync_dir(std::filesystem::path(final_path).parent_path().string());
}

// A read-only mapping of a whole file, unmapped when it goes.
struct mapping {
  const char* data = nullptr;
  size_t size = 0;
  int fd = -1;
  mapping() = default;
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;
  ~mapping() {
    if (data != nullptr && size > 0)
      ::munmap(const_cast<char*>(data), size);
    if (fd >= 0)
      ::close(fd);
  }
  [[nodiscard]] std::string_view bytes() const { return {data, size}; }
};

std::optional<api_error> map_file(const std::string& path, mapping& map) {
  map.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (map.fd < 0 || ::fstat(map.fd, &st) != 0)
    return storage_error(errno, "cannot open " + path);
  map.size = static_cast<size_t>(st.st_size);
  if (map.size > 0) {
    void* p = ::mmap(nullptr, map.size, PROT_READ, MAP_PRIVATE, map.fd, 0);
    if (p == MAP_FAILED)
      return storage_error(errno, "cannot map " + path);
    ::madvise(p, map.size, MADV_SEQUENTIAL);
    map.data = static_cast<const char*>(p);
  }
  return std::nullopt;
}

// Removes a file when it goes, unless kept.
struct removed_unless_kept {
  std::string path;
  ~removed_unless_kept() {
    if (!path.empty())
      ::unlink(path.c_str());
  }
};

// At most one decoding per core at once, whatever the number of uploads
// that end together: decoding takes a core, and a zstd frame may ask for a
// window of up to 128 MiB, so memory stays bounded too. (A decoding runs
// on a thread of its own, which waits here for its turn.)
struct decode_slots {
  std::mutex mutex;
  std::condition_variable freed;
  unsigned running = 0;
  unsigned most = std::max(1U, std::thread::hardware_concurrency());
};

decode_slots& slots() {
  static decode_slots s;
  return s;
}

// One of the slots, held while it lives.
class decode_gate {
public:
  decode_gate() {
    decode_slots& s = slots();
    std::unique_lock<std::mutex> lock(s.mutex);
    s.freed.wait(lock, [&s] { return s.running < s.most; });
    ++s.running;
  }
  decode_gate(const decode_gate&) = delete;
  decode_gate& operator=(const decode_gate&) = delete;
  ~decode_gate() {
    decode_slots& s = slots();
    {
      const std::lock_guard<std::mutex> held(s.mutex);
      --s.running;
    }
    s.freed.notify_one();
  }
};

// Decodes `in`, a `kind` stream, into a new file `path`, flushed to disk;
// its decoded size, or why not (`path` is then removed).
std::variant<uint64_t, api_error> decode_into(std::string_view in,
                                              compression kind,
                                              const input_limit& limit,
                                              const std::string& path) {
  const decode_gate turn;
  removed_unless_kept removed{path};
  file_sink sink;
  if (auto opened = sink.open(path, true); !opened)
    return storage_error(opened.error());
  decoding_sink decoding(kind, limit, sink);
  constexpr size_t piece = 4 << 20;
  bool decoded = true;
  for (size_t at = 0; decoded && at < in.size(); at += piece)
    decoded = decoding.feed(in.substr(at, piece));
  if (!decoded || !decoding.finish())
    return *decoding.error();
  if (auto finished = sink.finish(true); !finished)
    return storage_error(finished.error());
  removed.path.clear();
  return decoding.bytes_out();
}

} // namespace

input_limit decoded_limit(uint64_t max_input, const std::string& input_path) {
  input_limit limit{max_input, false};
  struct statvfs fs {};
  const std::string dir =
      std::filesystem::path(input_path).parent_path().string();
  if (::statvfs(dir.empty() ? "." : dir.c_str(), &fs) == 0) {
    const uint64_t free = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (free < limit.bytes)
      limit = {free, true};
  }
  return limit;
}

decoding_sink::decoding_sink(compression kind, input_limit limit,
                             file_sink& out)
    : kind_(kind)
    , limit_(limit)
    , out_(out)
    , decoder_(stream_decoder::make(kind, limit.bytes)) {}

bool decoding_sink::feed(std::string_view in) {
  if (error_)
    return false;
  const auto write = [this](std::string_view piece) -> result<void> {
    // Compressed twice (Content-Encoding: gzip on a .gz, a .gz.gz): said
    // plainly rather than left to the CSV header check's riddle.
    if (head_.size() < 4) {
      head_.append(piece.substr(0, 4 - head_.size()));
      if (head_.size() == 4)
        inner_ = detect_compression(head_);
      if (inner_ != compression::none)
        return failure::words("compressed twice");
    }
    if (!out_.write(piece))
      return *out_.error();
    return {};
  };
  if (auto fed = decoder_->feed(in, write); !fed)
    return failed(fed.error());
  return true;
}

bool decoding_sink::finish() {
  if (error_)
    return false;
  if (auto finished = decoder_->finish(); !finished)
    return failed(finished.error());
  return true;
}

bool decoding_sink::failed(const failure& why) {
  if (out_.error())
    error_ = storage_error(*out_.error());
  else if (inner_ != compression::none)
    error_ = api_error{api_errc::bad_encoding,
                       "the upload is compressed twice (" +
                           std::string(to_string(inner_)) + " inside " +
                           std::string(to_string(kind_)) +
                           "): send the CSV compressed once"};
  else if (decoder_->over_limit())
    error_ =
        api_error{api_errc::too_large,
                  why.text() + (limit_.by_free_space
                                    ? "; the limit is the free space of the "
                                      "server's disk"
                                    : "; the limit is the server's "
                                      "--max-input-size")};
  else
    error_ = api_error{api_errc::bad_encoding, why.text()};
  return false;
}

std::shared_ptr<void> try_streaming_decode() {
  static std::atomic<unsigned> running{0};
  static const unsigned most =
      std::max(1U, std::thread::hardware_concurrency());
  struct turn {
    turn() = default;
    turn(const turn&) = delete;
    turn& operator=(const turn&) = delete;
    ~turn() { --running; }
  };
  unsigned now = running.load();
  do {
    if (now >= most)
      return nullptr;
  } while (!running.compare_exchange_weak(now, now + 1));
  return std::make_shared<turn>();
}

std::optional<compression> parse_content_encoding(std::string_view value) {
  value = trim_blanks(value);
  if (value.empty() || equals_ignoring_case(value, "identity"))
    return compression::none;
  if (equals_ignoring_case(value, "gzip") ||
      equals_ignoring_case(value, "x-gzip"))
    return compression::gzip;
  if (equals_ignoring_case(value, "zstd"))
    return compression::zstd;
  return std::nullopt;
}

file_sink::~file_sink() {
  if (fd_ >= 0)
    ::close(fd_);
}

result<void> file_sink::open(const std::string& path, bool writeback) {
  path_ = path;
  writeback_ = writeback;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0)
    return failure::of_errno("cannot create", path, errno);
  buffer_.reserve(buffer_size);
  return {};
}

bool file_sink::flush_buffer() {
  if (!write_out(buffer_))
    return false;
  buffer_.clear();
  return true;
}

bool file_sink::write_out(std::string_view bytes) {
  if (!write_all(fd_, bytes)) {
    error_ = failure::of_errno("cannot write", path_, errno);
    return false;
  }
  written_ += bytes.size();
  quotes_ += count_byte(bytes.data(), bytes.size(), '"');
  if (writeback_ && written_ - flushed_ >= writeback_every) {
    // The pages reach the disk while the rest arrives, and the fsync at the
    // end has little left.
    chores().write_back(fd_, flushed_, written_ - flushed_);
    flushed_ = written_;
  }
  return true;
}

bool file_sink::write(std::string_view bytes) {
  if (fd_ < 0)
    return false;
  size_ += bytes.size();
  // A large piece (an upload reads 256 KiB at a time) goes to the file as it
  // is: copying it into the buffer first would cost a pass over its bytes.
  if (buffer_.empty() && bytes.size() >= direct_write_size)
    return write_out(bytes);
  while (!bytes.empty()) {
    const size_t n = std::min(bytes.size(), buffer_size - buffer_.size());
    buffer_.append(bytes.data(), n);
    bytes.remove_prefix(n);
    if (buffer_.size() == buffer_size && !flush_buffer())
      return false;
  }
  return true;
}

void file_sink::release_read(uint64_t upto) {
  if (!writeback_ || fd_ < 0)
    return; // a temporary body: it is gone soon anyway
  upto = std::min(upto, flushed_) / drop_every * drop_every;
  if (upto <= dropped_)
    return;
  chores().drop_cached(fd_, dropped_, upto - dropped_);
  dropped_ = upto;
}

result<void> file_sink::finish(bool durable) {
  if (fd_ < 0)
    return failure::words("the file is not open");
  const bool ok = flush_buffer() && (!durable || ::fsync(fd_) == 0);
  if (!ok && !error_)
    error_ = failure::of_errno("cannot flush", path_, errno);
  const int fd = fd_;
  fd_ = -1;
  if (!ok)
    (void)::close(fd);
  else if (::close(fd) != 0)
    error_ = failure::of_errno("cannot write", path_, errno);
  if (error_)
    return *error_;
  return {};
}

std::variant<job_input, api_error>
make_job_input(const received_body& body, const std::string& input_path) {
  job_input out;
  out.file_name = body.file_name;
  out.on_bad_rows = body.on_bad_rows;
  const input_limit limit = decoded_limit(body.max_input, input_path);
  const std::string decoded_tmp = input_path + ".decoded.tmp";

  // A body sent with Content-Encoding is decoded whole first: for a raw
  // body that is the input; a form is parsed from the decoded body.
  std::string body_path = body.path;
  removed_unless_kept decoded_body;
  if (body.coding != compression::none) {
    mapping map;
    if (auto e = map_file(body.path, map))
      return *e;
    const std::string to =
        body.multipart ? input_path + ".body.tmp" : decoded_tmp;
    auto decoded = decode_into(map.bytes(), body.coding, limit, to);
    if (auto* e = std::get_if<api_error>(&decoded))
      return *e;
    ::unlink(body.path.c_str());
    body_path = to;
    if (body.multipart)
      decoded_body.path = to;
  }

  if (!body.multipart) {
    mapping map;
    if (auto e = map_file(body_path, map))
      return *e;
    out.bytes = map.size;
    // A compressed file sent as it is (a .csv.gz, by its magic bytes).
    const compression kind = body.coding == compression::none
                                 ? detect_compression(map.bytes().substr(0, 4))
                                 : compression::none;
    if (kind != compression::none) {
      auto decoded = decode_into(map.bytes(), kind, limit, decoded_tmp);
      if (auto* e = std::get_if<api_error>(&decoded))
        return *e;
      out.bytes = std::get<uint64_t>(decoded);
      ::unlink(body_path.c_str());
      body_path = decoded_tmp;
    }
    if (auto published = publish(body_path, input_path); !published) {
      ::unlink(body_path.c_str());
      return storage_error(published.error());
    }
    return out;
  }

  mapping map;
  if (auto e = map_file(body_path, map))
    return *e;
  const auto form = parse_multipart(body.content_type, map.bytes());
  if (!form)
    return api_error{api_errc::bad_multipart,
                     "malformed multipart/form-data body: " +
                         form.error().message};
  if (const multipart_part* mode = form->find("on_bad_rows")) {
    const auto policy = parse_bad_row_policy(mode->content);
    if (!policy)
      return api_error{api_errc::bad_request,
                       "on_bad_rows is fail or skip, not \"" +
                           std::string(mode->content.substr(0, 64)) + "\""};
    out.on_bad_rows = *policy;
  }
  const multipart_part* file = form->file();
  if (file == nullptr)
    return api_error{api_errc::file_required, {}};
  out.file_name = form_file_name(file->filename);
  out.bytes = file->content.size();

  const std::string tmp = input_path + ".tmp";
  // A .csv.gz or .csv.zst form file (by its magic bytes, not its name):
  // decoded into the input; its name is shown as it was uploaded.
  const compression kind = detect_compression(file->content.substr(0, 4));
  if (kind != compression::none) {
    auto decoded = decode_into(file->content, kind, limit, tmp);
    if (auto* e = std::get_if<api_error>(&decoded))
      return *e;
    out.bytes = std::get<uint64_t>(decoded);
  } else {
    const int fd =
        ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
      return storage_error(errno, "cannot create " + tmp);
    const uint64_t offset =
        static_cast<uint64_t>(file->content.data() - map.data);
    const bool copied =
        out.bytes == 0 || copy_range(map.fd, offset, out.bytes, fd, map.data);
    const bool flushed = copied && ::fsync(fd) == 0;
    const int why = errno;
    ::close(fd);
    if (!flushed) {
      ::unlink(tmp.c_str());
      return storage_error(why, "cannot write " + tmp);
    }
  }
  if (auto published = publish(tmp, input_path); !published) {
    ::unlink(tmp.c_str());
    return storage_error(published.error());
  }
  ::unlink(body.path.c_str());
  return out;
}

} // namespace playcount::http
