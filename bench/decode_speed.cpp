// Decode speed of compressed input: MB/s of output (decimal MB) for
//   playcount  core/compression's stream_decoder (ISA-L igzip; libzstd),
//   zlib       inflate, as a comparison only (gzip files),
//   zstd       ZSTD_decompressStream directly, as a comparison.
// The compressed file is read into memory first (so the disk is not
// measured), then fed in 1 MiB pieces; the output goes nowhere.
// Built and run by bench/decode.sh.

#include "core/compression.hpp"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
constexpr size_t piece = 1 << 20;

// Wall and CPU time: on a busy machine the CPU time is the steadier figure.
struct stopwatch {
  clock_type::time_point wall = clock_type::now();
  std::clock_t cpu = std::clock();
};

void report(const char* what, const std::string& file, uint64_t out,
            const stopwatch& t) {
  const double wall =
      std::chrono::duration<double>(clock_type::now() - t.wall).count();
  const double cpu = static_cast<double>(std::clock() - t.cpu) / CLOCKS_PER_SEC;
  const double mb = static_cast<double>(out) / 1e6;
  std::printf("%-10s %-20s %7.1f MB out  wall %5.2f s %6.0f MB/s  cpu %5.2f s "
              "%6.0f MB/s\n",
              what, file.c_str(), mb, wall, mb / wall, cpu, mb / cpu);
}

int ours(const std::string& name, const std::string& data) {
  const auto kind = playcount::detect_compression(data.substr(0, 4));
  auto decoder = playcount::stream_decoder::make(kind, UINT64_MAX);
  if (!decoder) {
    std::fprintf(stderr, "%s: not gzip or zstd\n", name.c_str());
    return 1;
  }
  const stopwatch start;
  const auto sink = [](std::string_view) -> playcount::result<void> {
    return {};
  };
  for (size_t at = 0; at < data.size(); at += piece)
    if (auto r = decoder->feed(std::string_view(data).substr(at, piece), sink);
        !r) {
      std::fprintf(stderr, "%s\n", r.error().text().c_str());
      return 1;
    }
  if (auto r = decoder->finish(); !r) {
    std::fprintf(stderr, "%s\n", r.error().text().c_str());
    return 1;
  }
  report(kind == playcount::compression::gzip ? "isa-l" : "zstd(ours)", name,
         decoder->bytes_out(), start);
  return 0;
}

int with_zlib(const std::string& name, const std::string& data) {
  z_stream z{};
  inflateInit2(&z, 15 + 32);
  std::vector<unsigned char> out(256 << 10);
  uint64_t total = 0;
  const stopwatch start;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  size_t left = data.size();
  while (left > 0 || z.avail_in > 0) {
    if (z.avail_in == 0) {
      const size_t n = left < piece ? left : piece;
      z.avail_in = static_cast<uInt>(n);
      left -= n;
    }
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&z, Z_NO_FLUSH);
    total += out.size() - z.avail_out;
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0 && left == 0)
        break;
      inflateReset(&z); // the next member
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      std::fprintf(stderr, "zlib: %d\n", rc);
      return 1;
    }
  }
  inflateEnd(&z);
  report("zlib", name, total, start);
  return 0;
}

int with_zstd(const std::string& name, const std::string& data) {
  ZSTD_DStream* ds = ZSTD_createDStream();
  std::vector<char> out(256 << 10);
  uint64_t total = 0;
  const stopwatch start;
  for (size_t at = 0; at < data.size(); at += piece) {
    ZSTD_inBuffer in{data.data() + at, std::min(piece, data.size() - at), 0};
    bool full = false;
    while (in.pos < in.size || full) {
      ZSTD_outBuffer o{out.data(), out.size(), 0};
      const size_t rc = ZSTD_decompressStream(ds, &o, &in);
      if (ZSTD_isError(rc)) {
        std::fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(rc));
        return 1;
      }
      total += o.pos;
      full = o.pos == o.size;
    }
  }
  ZSTD_freeDStream(ds);
  report("zstd", name, total, start);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  int status = 0;
  for (int i = 1; i < argc; ++i) {
    std::ifstream f(argv[i], std::ios::binary);
    const std::string data((std::istreambuf_iterator<char>(f)),
                           std::istreambuf_iterator<char>());
    std::string name = argv[i];
    name = name.substr(name.rfind('/') + 1);
    status |= ours(name, data);
    const auto kind = playcount::detect_compression(data.substr(0, 4));
    status |= kind == playcount::compression::gzip ? with_zlib(name, data)
                                                   : with_zstd(name, data);
  }
  return status;
}
