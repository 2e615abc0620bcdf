#include "core/job_plan.hpp"

#include "core/mapped_file.hpp"

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>
#include <variant>

namespace playcount {

namespace {

// Scans chunks [next, chunks.size()) as the shared cursor hands them out;
// sets `why` when a chunk could not be mapped.
void scan_chunks(const file_handle& file, const std::vector<byte_range>& chunks,
                 std::atomic<size_t>& next, std::vector<chunk_scan>& scans,
                 std::optional<failure>& why) {
  for (size_t i = next++; i < chunks.size(); i = next++) {
    const byte_range chunk = chunks[i];
    // A scan also looks at the byte before its chunk.
    const uint64_t from = chunk.begin > 0 ? chunk.begin - 1 : 0;
    const auto bytes = file.map(from, chunk.end);
    if (!bytes) {
      next = chunks.size(); // the others stop too
      why = bytes.error();
      return;
    }
    scans[i] = scan_chunk(bytes->window(), chunk);
  }
}

} // namespace

result<job_plan> plan_job(const std::string& path, uint64_t range_size,
                          unsigned threads) {
  job_plan out;
  file_handle file;
  if (auto opened = file.open(path); !opened)
    return std::move(opened).error();
  {
    // The header is at the start; only the pages it touches are read.
    const auto all = file.map(0, file.size());
    if (!all)
      return all.error();
    auto layout = read_layout(all->window().bytes);
    if (auto* e = std::get_if<input_error>(&layout))
      return failure::words(e->to_string());
    out.layout = std::get<csv_layout>(layout);
  }
  out.file_size = file.size();
  const auto chunks =
      nominal_chunks(out.layout.data_begin, file.size(), range_size);
  std::vector<chunk_scan> scans(chunks.size());
  std::atomic<size_t> next{0};
  // This thread scans too: `threads - 1` more.
  const size_t helpers =
      chunks.empty()
          ? 0
          : std::min<size_t>(std::max(threads, 1u), chunks.size()) - 1;
  std::vector<std::optional<failure>> whys(helpers + 1);
  std::vector<std::thread> pool;
  for (size_t i = 0; i < helpers; ++i)
    pool.emplace_back(
        [&, i] { scan_chunks(file, chunks, next, scans, whys[i + 1]); });
  scan_chunks(file, chunks, next, scans, whys[0]);
  for (auto& t : pool)
    t.join();
  for (auto& why : whys)
    if (why)
      return std::move(*why);
  out.ranges = plan_ranges(chunks, scans);
  return out;
}

} // namespace playcount
