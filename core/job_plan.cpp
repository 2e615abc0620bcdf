#include "core/job_plan.hpp"

#include "core/mapped_file.hpp"

#include <algorithm>
#include <atomic>
#include <thread>
#include <variant>

namespace playcount {

namespace {

// Scans chunks [next, chunks.size()) as the shared cursor hands them out;
// false (with `error`) when a chunk could not be mapped.
bool scan_chunks(const file_handle& file, const std::vector<byte_range>& chunks,
                 std::atomic<size_t>& next, std::vector<chunk_scan>& scans,
                 std::string& error) {
  for (size_t i = next++; i < chunks.size(); i = next++) {
    const byte_range chunk = chunks[i];
    // A scan also looks at the byte before its chunk.
    const uint64_t from = chunk.begin > 0 ? chunk.begin - 1 : 0;
    const mapped_window bytes = file.map(from, chunk.end, error);
    if (!error.empty()) {
      next = chunks.size(); // the others stop too
      return false;
    }
    scans[i] = scan_chunk(bytes.window(), chunk);
  }
  return true;
}

} // namespace

bool plan_job(const std::string& path, uint64_t range_size, unsigned threads,
              job_plan& out, std::string& error) {
  error.clear();
  file_handle file;
  if (!file.open(path, error))
    return false;
  {
    // The header is at the start; only the pages it touches are read.
    const mapped_window all = file.map(0, file.size(), error);
    if (!error.empty())
      return false;
    auto layout = read_layout(all.window().bytes);
    if (auto* e = std::get_if<input_error>(&layout)) {
      error = e->to_string();
      return false;
    }
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
  std::vector<std::string> errors(helpers);
  std::vector<std::thread> pool;
  for (size_t i = 0; i < helpers; ++i)
    pool.emplace_back(
        [&, i] { scan_chunks(file, chunks, next, scans, errors[i]); });
  scan_chunks(file, chunks, next, scans, error);
  for (auto& t : pool)
    t.join();
  for (const auto& e : errors)
    if (error.empty() && !e.empty())
      error = e;
  if (!error.empty())
    return false;
  out.ranges = plan_ranges(chunks, scans);
  return true;
}

} // namespace playcount
