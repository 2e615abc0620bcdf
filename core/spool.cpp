#include "core/spool.hpp"

#include "core/compression.hpp"
#include "core/simd.hpp"
#include "core/units.hpp"
#include "core/write_all.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace playcount {

namespace {

// Bytes read at a time: large enough that a fast pipe costs few calls,
// small enough that the planner hears of new bytes often.
constexpr size_t block_size = size_t{1} << 20;

// How long a copy that found a pipe nearly empty lets it fill.
constexpr std::chrono::microseconds pipe_gathers{500};

// How often a copy waiting on a quiet pipe looks whether it is still
// wanted.
constexpr int abandon_check_ms = 200;

// What the job has read is freed in steps of a 16th of how far the spool
// may run ahead, at most 4 MiB, in whole pages (a hole punched in part of
// a page would zero bytes still needed).
uint64_t free_step_for(uint64_t ahead) {
  constexpr uint64_t page = 4096;
  return std::clamp<uint64_t>(ahead / 16 / page * page, page,
                              uint64_t{4} << 20);
}

// Punches a hole over [begin, end) of `fd`, keeping its size.
bool punch_hole(int fd, uint64_t begin, uint64_t end) {
  return ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                     static_cast<off_t>(begin),
                     static_cast<off_t>(end - begin)) == 0;
}

} // namespace

result<std::unique_ptr<spool>> spool::start(int fd, std::string source,
                                            const std::string& dir,
                                            uint64_t limit, uint64_t ahead,
                                            uint64_t kept_limit) {
  std::unique_ptr<spool> out(new spool);
  out->in_ = fd;
  out->source_ = std::move(source);
  out->limit_ = limit;
  out->ahead_ = ahead;
  out->free_step_ = free_step_for(ahead);
  out->path_ = dir + "/" + spool_file_name;
  out->out_ =
      ::open(out->path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out->out_ < 0)
    return failure::of_errno("cannot make", out->path_, errno)
        .within("cannot spool " + out->source_);
  // The bytes the job has read are freed as it goes (free_what_is_read),
  // where the file system can punch holes (ext4, xfs, tmpfs, btrfs).
  if (punch_hole(out->out_, 0, out->free_step_))
    out->file_->frees_what_is_read();
  else
    out->limit_ = std::min(limit, kept_limit);
  // A pipe of 1 MiB rather than 64 KiB: the producer and the copy take
  // turns 16 times less often (fails harmlessly on what is not a pipe).
  (void)::fcntl(fd, F_SETPIPE_SZ, 1 << 20);
  out->pipe_size_ = std::max(0, ::fcntl(fd, F_GETPIPE_SZ));
  out->thread_ = std::thread([s = out.get()] { s->copy(); });
  return out;
}

spool::~spool() {
  file_->abandon(); // the copy sees it within abandon_check_ms
  if (thread_.joinable())
    thread_.join();
  if (in_ >= 0)
    ::close(in_);
  if (out_ >= 0)
    ::close(out_);
  if (!path_.empty())
    ::unlink(path_.c_str());
}

void spool::keep_pace() const {
  while (!file_->wait_for_reader(ahead_,
                                 std::chrono::milliseconds(abandon_check_ms))) {
  }
}

void spool::free_what_is_read() {
  const growing_file::state now = file_->now();
  if (!now.frees)
    return;
  const uint64_t done = now.done / free_step_ * free_step_;
  if (done <= freed_)
    return;
  file_->freeing(done); // first: a reader that looks then reads no more
  if (!punch_hole(out_, freed_, done))
    return; // the bytes stay; they are only not read again
  freed_ = done;
}

void spool::copy() {
  // Reads of at most a quarter of the lead, so that a write past the lead
  // is small.
  std::vector<char> block(
      std::clamp<size_t>(ahead_ / 4, size_t{4} << 10, block_size));
  uint64_t size = 0; // bytes in the spool
  // Whether the input is compressed shows in its first four bytes; until
  // they are there (a pipe may give fewer), `block` holds what came.
  size_t head = 0;
  bool sniffed = false;
  std::unique_ptr<stream_decoder> decoder;
  // Said after the input's name (`standard input: the input is ...`), as
  // every error of the copy is.
  const auto over_limit = [&] {
    return failure::words("the input is larger than the limit of " +
                          format_bytes(limit_) + " (--max-input-size)");
  };
  uint64_t quotes = 0; // in the bytes landed through `land`
  const auto land = [&](std::string_view bytes) -> result<void> {
    if (size + bytes.size() > limit_)
      return over_limit();
    keep_pace();
    if (!write_all(out_, bytes))
      return failure::of_errno("cannot write", path_, errno).within("spooling");
    // Counted here, while the bytes are in cache, so that the planner
    // need not read them all again (growing_file::grow).
    quotes += count_byte(bytes.data(), bytes.size(), '"');
    size += bytes.size();
    file_->grow(size, quotes);
    free_what_is_read();
    return {};
  };
  const auto take = [&](std::string_view bytes) -> result<void> {
    if (!decoder)
      return land(bytes);
    return decoder->feed(bytes, land);
  };
  const auto sniff = [&]() -> result<void> {
    sniffed = true;
    const std::string_view first(block.data(), head);
    decoder = stream_decoder::make(detect_compression(first), limit_);
    return take(first);
  };
  for (;;) {
    // A pipe may stay quiet: wait for it in slices, so that a job that
    // ended (a bad record, an interrupt) is not held by a read.
    pollfd ready{in_, POLLIN, 0};
    const int polled = ::poll(&ready, 1, abandon_check_ms);
    if (file_->now().abandoned)
      return;
    if (polled == 0 || (polled < 0 && errno == EINTR))
      continue;
    char* into = sniffed ? block.data() : block.data() + head;
    const size_t room = sniffed ? block.size() : block.size() - head;
    const ssize_t n = ::read(in_, into, room);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return file_->fail(
          failure::of_errno("cannot read", source_, errno).within("spooling"));
    if (n == 0)
      break;
    // A pipe nearly empty: the producer is slower than the copy. Let more
    // gather before the next look: woken for each of the producer's writes
    // (zstd's are 128 KiB), this thread preempts a worker twice as often
    // (docs/performance.md). Only with a pipe of 1 MiB, which takes 0.5 ms
    // of a producer at 2 GB/s; one left at 64 KiB (F_SETPIPE_SZ refused
    // past the user's pipe-user-pages-soft) would hold a fast one up.
    const bool gather = pipe_size_ >= (1 << 20) && n < pipe_size_ / 4;
    result<void> taken;
    if (sniffed) {
      taken = take(std::string_view(block.data(), static_cast<size_t>(n)));
    } else {
      head += static_cast<size_t>(n);
      if (head >= 4)
        taken = sniff();
    }
    if (!taken)
      return file_->fail(std::move(taken).error());
    if (gather)
      std::this_thread::sleep_for(pipe_gathers);
  }
  if (!sniffed)
    if (auto taken = sniff(); !taken)
      return file_->fail(std::move(taken).error());
  if (decoder)
    if (auto whole = decoder->finish(); !whole)
      return file_->fail(std::move(whole).error());
  file_->complete();
}

} // namespace playcount
