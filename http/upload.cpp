#include "http/upload.hpp"

#include "actors/job_store.hpp"
#include "core/write_all.hpp"
#include "http/multipart.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace playcount::http {

namespace {

constexpr size_t buffer_size = 1 << 20;
constexpr uint64_t writeback_every = 32 << 20;

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
  ~mapping() {
    if (data != nullptr && size > 0)
      ::munmap(const_cast<char*>(data), size);
    if (fd >= 0)
      ::close(fd);
  }
};

} // namespace

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
  if (!write_all(fd_, {buffer_.data(), buffer_.size()})) {
    error_ = failure::of_errno("cannot write", path_, errno);
    return false;
  }
  written_ += buffer_.size();
  buffer_.clear();
  if (writeback_ && written_ - flushed_ >= writeback_every) {
    // Start writeback now (it does not wait): the pages reach the disk
    // while the rest arrives, and the fsync at the end has little left.
    (void)::sync_file_range(fd_, static_cast<off64_t>(flushed_),
                            static_cast<off64_t>(written_ - flushed_),
                            SYNC_FILE_RANGE_WRITE);
    flushed_ = written_;
  }
  return true;
}

bool file_sink::write(std::string_view bytes) {
  if (fd_ < 0)
    return false;
  size_ += bytes.size();
  while (!bytes.empty()) {
    const size_t n = std::min(bytes.size(), buffer_size - buffer_.size());
    buffer_.append(bytes.data(), n);
    bytes.remove_prefix(n);
    if (buffer_.size() == buffer_size && !flush_buffer())
      return false;
  }
  return true;
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
  if (!body.multipart) {
    struct stat st {};
    if (::stat(body.path.c_str(), &st) != 0)
      return storage_error(errno, "cannot stat " + body.path);
    out.bytes = static_cast<uint64_t>(st.st_size);
    if (auto published = publish(body.path, input_path); !published)
      return storage_error(published.error());
    return out;
  }

  mapping map;
  map.fd = ::open(body.path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (map.fd < 0 || ::fstat(map.fd, &st) != 0)
    return storage_error(errno, "cannot open " + body.path);
  map.size = static_cast<size_t>(st.st_size);
  if (map.size > 0) {
    void* p = ::mmap(nullptr, map.size, PROT_READ, MAP_PRIVATE, map.fd, 0);
    if (p == MAP_FAILED)
      return storage_error(errno, "cannot map " + body.path);
    ::madvise(p, map.size, MADV_SEQUENTIAL);
    map.data = static_cast<const char*>(p);
  }
  const auto form =
      parse_multipart(body.content_type, std::string_view(map.data, map.size));
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
  out.file_name = std::string(file->filename.substr(0, 255));
  out.bytes = file->content.size();

  const std::string tmp = input_path + ".tmp";
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
  if (auto published = publish(tmp, input_path); !published) {
    ::unlink(tmp.c_str());
    return storage_error(published.error());
  }
  ::unlink(body.path.c_str());
  return out;
}

} // namespace playcount::http
