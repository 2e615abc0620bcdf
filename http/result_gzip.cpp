#include "http/result_gzip.hpp"

#include <caf/all.hpp>
#include <isa-l/igzip_lib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

namespace playcount::http {

namespace {

constexpr size_t in_size = size_t{4} << 20;
constexpr size_t out_size = size_t{4} << 20;

// Writes all of `n` bytes, or says why not.
bool write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

} // namespace

result<void> gzip_file(const std::string& source, const std::string& target) {
  const auto started = std::chrono::steady_clock::now();
  const int in = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return failure::of_errno("cannot open", source, errno);
  const std::string tmp = target + ".tmp";
  const int out =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    return failure::of_errno("cannot create", tmp, err);
  }
  const auto fail = [&](const char* what, const std::string& path, int err) {
    ::close(in);
    ::close(out);
    ::unlink(tmp.c_str());
    return err != 0
               ? failure::of_errno(what, path, err)
               : failure::because(what, path, "ISA-L's isal_deflate failed");
  };
  std::vector<uint8_t> in_buf(in_size);
  std::vector<uint8_t> out_buf(out_size);
  std::vector<uint8_t> level_buf(ISAL_DEF_LVL1_DEFAULT);
  isal_zstream s{};
  isal_deflate_init(&s);
  s.level = 1;
  s.level_buf = level_buf.data();
  s.level_buf_size = static_cast<uint32_t>(level_buf.size());
  s.gzip_flag = IGZIP_GZIP;
  uint64_t read_total = 0;
  do {
    ssize_t n = 0;
    do
      n = ::read(in, in_buf.data(), in_buf.size());
    while (n < 0 && errno == EINTR);
    if (n < 0)
      return fail("cannot read", source, errno);
    read_total += static_cast<uint64_t>(n);
    s.next_in = in_buf.data();
    s.avail_in = static_cast<uint32_t>(n);
    s.end_of_stream = n == 0 ? 1 : 0;
    do {
      s.next_out = out_buf.data();
      s.avail_out = static_cast<uint32_t>(out_buf.size());
      if (isal_deflate(&s) != COMP_OK)
        return fail("cannot compress", source, 0);
      if (!write_all(out, out_buf.data(), out_buf.size() - s.avail_out))
        return fail("cannot write", tmp, errno);
    } while (s.avail_out == 0);
  } while (s.internal_state.state != ZSTATE_END);
  if (::fsync(out) != 0)
    return fail("cannot flush", tmp, errno);
  ::close(in);
  if (::close(out) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return failure::of_errno("cannot write", tmp, err);
  }
  if (std::rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return failure::of_errno("cannot rename", tmp, err);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  spdlog::debug(
      "gzip of {}: {} bytes in {:.2f} s ({:.0f} MB/s)", source, read_total,
      seconds, static_cast<double>(read_total) / 1e6 / std::max(seconds, 1e-6));
  return {};
}

void result_gzips::make(caf::actor_system& system, const std::string& source,
                        const std::string& target,
                        std::function<void(bool)> done) {
  std::function<void(bool)> refused; // busy: the plain file serves as well
  {
    std::lock_guard lock(mutex_);
    if (auto it = making_.find(target); it != making_.end()) {
      it->second.push_back(std::move(done));
      return;
    }
    if (making_.size() >= max_at_once_)
      refused = std::move(done);
    else
      making_[target].push_back(std::move(done));
  }
  if (refused) {
    refused(false);
    return;
  }
  system.spawn<caf::detached>(
      [self = shared_from_this(), source, target](caf::event_based_actor*) {
        bool ok = false;
        try {
          const auto made = gzip_file(source, target);
          if (!made)
            spdlog::warn("the gzip variant of a result cannot be made: {}",
                         made.error().text());
          ok = static_cast<bool>(made);
        } catch (const std::exception& e) {
          spdlog::error("the gzip variant of a result cannot be made: {}",
                        e.what());
        }
        std::vector<std::function<void(bool)>> waiting;
        {
          std::lock_guard lock(self->mutex_);
          waiting = std::move(self->making_[target]);
          self->making_.erase(target);
        }
        for (auto& f : waiting)
          f(ok);
      });
}

} // namespace playcount::http
