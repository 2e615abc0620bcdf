#include "core/job_plan.hpp"

#include "core/mapped_file.hpp"
#include "core/simd.hpp"
#include "core/split.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <variant>

namespace playcount {

namespace {

// Scans chunks [next, chunks.size()) as the shared cursor hands them out;
// sets `why` when a chunk could not be mapped.
void scan_chunks(const file_handle& file, const std::vector<byte_range>& chunks,
                 std::atomic<size_t>& next, std::vector<chunk_scan>& scans,
                 std::optional<failure>& why, phase_meter* scanned) {
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
    advance(scanned, chunk.size());
  }
}

} // namespace

result<job_plan> plan_job(const std::string& path, uint64_t range_size,
                          unsigned threads, phase_meter* scanned) {
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
  if (scanned != nullptr)
    scanned->set_total(out.file_size - out.layout.data_begin);
  std::atomic<size_t> next{0};
  // This thread scans too: `threads - 1` more.
  const size_t helpers =
      chunks.empty()
          ? 0
          : std::min<size_t>(std::max(threads, 1u), chunks.size()) - 1;
  std::vector<std::optional<failure>> whys(helpers + 1);
  std::vector<std::thread> pool;
  for (size_t i = 0; i < helpers; ++i)
    pool.emplace_back([&, i] {
      scan_chunks(file, chunks, next, scans, whys[i + 1], scanned);
    });
  scan_chunks(file, chunks, next, scans, whys[0], scanned);
  for (auto& t : pool)
    t.join();
  for (auto& why : whys)
    if (why)
      return std::move(*why);
  out.ranges = plan_ranges(chunks, scans);
  return out;
}

} // namespace playcount

namespace playcount {

namespace {

// How long a planner waits for news before it looks again (abandon and
// every change wake it sooner).
constexpr std::chrono::milliseconds recheck{1000};

// Waits until `input` has more than `size` bytes or changes otherwise;
// the ranges planned reach `planned`.
growing_file::state wait_beyond(const growing_file& input, uint64_t size,
                                uint64_t planned) {
  for (;;) {
    auto now = input.wait_beyond(size, planned, recheck);
    if (now.size > size || now.whole || now.failed || now.abandoned)
      return now;
  }
}

} // namespace

result<void> plan_growing(const std::string& path, const growing_file& input,
                          uint64_t range_size,
                          const std::function<void(job_plan)>& step) {
  range_size = std::max<uint64_t>(range_size, 1);
  file_handle file;
  if (auto opened = file.open(path); !opened)
    return std::move(opened).error();
  // The header: read_layout is asked once a record has landed whole (an LF
  // at even quote parity), the file is whole, or max_header_bytes are there
  // (it then fails). Until a record ends, only the bytes new since the last
  // look are scanned, with the parity so far: a stream that never ends its
  // first line costs one pass, not one per piece that lands. After an empty
  // line, each look reads at most max_header_bytes again.
  growing_file::state now = input.now();
  job_plan plan;
  uint64_t looked = 0;
  uint64_t header_parity = 0; // of the quotes in [0, looked)
  bool record_ended = false;
  for (;;) {
    if (now.failed)
      return *now.failed;
    if (now.abandoned)
      return {};
    if (now.size > looked && !record_ended) {
      const auto bytes = file.map(looked > 0 ? looked - 1 : 0, now.size);
      if (!bytes)
        return bytes.error();
      const chunk_scan scan =
          scan_chunk(bytes->window(), byte_range{looked, now.size});
      record_ended = scan.first_boundary[header_parity] != no_boundary;
      header_parity ^= scan.quotes & 1;
    }
    looked = now.size;
    if (record_ended || now.whole || now.size > max_header_bytes) {
      const auto bytes = file.map(0, now.size);
      if (!bytes)
        return bytes.error();
      auto layout = read_layout(bytes->window().bytes, now.whole);
      if (auto* e = std::get_if<input_error>(&layout))
        return failure::words(e->to_string());
      if (auto* found = std::get_if<csv_layout>(&layout)) {
        plan.layout = *found;
        break;
      }
      // Empty lines so far: the header is still on its way.
    }
    now = wait_beyond(input, looked, 0);
  }
  // Then chunk after chunk as in plan_ranges: a range ends where the next
  // nominal chunk's first record starts, so it is known once that chunk has
  // landed whole.
  const uint64_t data_begin = plan.layout.data_begin;
  uint64_t open_start = data_begin; // the range not yet ended
  uint64_t chunk_begin = data_begin;
  unsigned parity = 0; // at chunk_begin
  for (;;) {
    if (now.failed)
      return *now.failed;
    if (now.abandoned)
      return {};
    if (now.whole && chunk_begin >= now.size) {
      plan.file_size = now.size;
      plan.ranges.clear();
      if (open_start < now.size)
        plan.ranges.push_back({open_start, now.size});
      plan.more = false;
      step(std::move(plan));
      return {};
    }
    // The last chunk of a whole file ends with it, as in nominal_chunks.
    const uint64_t chunk_end =
        now.whole ? std::min(now.size, chunk_begin + range_size)
                  : chunk_begin + range_size;
    if (now.size < chunk_end) {
      // The ranges handed out reach open_start; none yet reach nothing
      // (the reader is done with none of the bytes, not even the header's).
      const uint64_t planned = open_start == data_begin ? 0 : open_start;
      now = wait_beyond(input, chunk_end - 1, planned);
      continue;
    }
    // The chunk's scan looks at the byte before it too.
    const uint64_t from = chunk_begin > 0 ? chunk_begin - 1 : 0;
    const auto bytes = file.map(from, chunk_end);
    if (!bytes)
      return bytes.error();
    const byte_range chunk{chunk_begin, chunk_end};
    // The first chunk starts on a boundary by definition.
    uint64_t start = no_boundary;
    // A producer that counted the quotes before a point in this chunk
    // spares reading it whole: its head up to the first record, and what
    // follows the mark, are enough.
    if (const auto mark = input.quote_mark_before(chunk_end);
        mark && mark->offset >= chunk_begin) {
      if (chunk_begin != data_begin)
        start = first_boundary(bytes->window(), chunk, parity);
      const std::string_view after = bytes->window().bytes.substr(
          mark->offset - from, chunk_end - mark->offset);
      parity = static_cast<unsigned>(
          (mark->quotes + count_byte(after.data(), after.size(), '"')) & 1);
    } else {
      const chunk_scan scan = scan_chunk(bytes->window(), chunk);
      if (chunk_begin != data_begin)
        start = scan.first_boundary[parity];
      parity ^= scan.quotes & 1;
    }
    chunk_begin = chunk_end;
    if (start == no_boundary || start == open_start)
      continue; // no record starts here: the open range goes on
    plan.file_size = now.size;
    plan.ranges.assign(1, byte_range{open_start, start});
    plan.more = true;
    open_start = start;
    step(plan);
    now = input.now();
  }
}

} // namespace playcount
