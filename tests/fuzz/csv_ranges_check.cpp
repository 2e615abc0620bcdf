// Fuzz property (a): the CSV scanner and range splitter. Uses the pipeline
// and the libcsv reference of tests/core/support, the same ones the
// differential and libcsv tests use.

#include "checks.hpp"

#include "tests/core/support.hpp"

#include <cstdio>
#include <iterator>

namespace playcount::fuzz {

using namespace playcount::test;

std::string printable(std::string_view bytes, size_t max) {
  std::string out = "\"";
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '"' || c == '\\')
      out += std::string("\\") + static_cast<char>(c);
    else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else
      out += static_cast<char>(c);
  }
  out += bytes.size() > max ? "\"..." : "\"";
  return out;
}

namespace {

struct split_case {
  uint64_t range_size; // 0: the whole file
  unsigned workers;
  bool windows; // each chunk and range in its own guarded window
};

// Range sizes around the 64-byte block of the scanner and the 8-byte reads
// of the count parser, tiny ones (every byte a boundary candidate) and the
// whole file; windows where they stay few (each costs three syscalls).
constexpr split_case split_cases[] = {
    {1, 1, false},  {1, 3, false},   {2, 2, false},   {3, 1, false},
    {5, 4, true},   {7, 2, false},   {8, 3, true},    {13, 1, false},
    {63, 2, true},  {64, 1, false},  {65, 3, true},   {100, 2, false},
    {127, 5, true}, {256, 2, false}, {1000, 2, true}, {0, 1, false},
};

std::string describe(const split_case& c) {
  return "range size " +
         (c.range_size ? std::to_string(c.range_size) : std::string("whole")) +
         ", " + std::to_string(c.workers) + " workers" +
         (c.windows ? ", windows" : "");
}

// Each reader starts with a fresh date cache (64 KiB), so a split of a
// 1 KiB file into 1-byte ranges costs milliseconds: each input runs a few
// of the splits, picked by its bytes (so a replay runs the same ones), and
// the fuzzer's many inputs run them all.
constexpr size_t splits_per_input = 5;

uint64_t fnv1a(std::string_view bytes) {
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (char c : bytes)
    h = (h ^ static_cast<unsigned char>(c)) * UINT64_C(0x100000001b3);
  return h;
}

std::string check_splits(std::string_view file, bad_row_policy policy,
                         const run_result& truth) {
  const std::string expected = signature(truth);
  const char* how = policy == bad_row_policy::fail ? "failing" : "skipping";
  constexpr size_t n = std::size(split_cases);
  const uint64_t pick = fnv1a(file);
  for (size_t k = 0; k < splits_per_input; ++k) {
    // Distinct cases: a start and a stride coprime with 16.
    const split_case& c =
        split_cases[(pick + k * (2 * (pick >> 8 & 7) + 1)) % n];
    run_options o;
    o.range_size = c.range_size;
    o.workers = c.workers;
    o.policy = policy;
    o.assign = c.workers > 1 ? assignment::random : assignment::round_robin;
    o.seed = static_cast<uint32_t>(c.range_size * 7 + c.workers);
    o.windows = c.windows;
    const run_result r = run_pipeline(file, o);
    const std::string got = signature(r);
    if (got != expected)
      return std::string(how) + " bad rows, " + describe(c) +
             " differs from one sequential read:\n  split:      " +
             printable(got) + "\n  sequential: " + printable(expected);
  }
  return {};
}

// docs/CONTRACT.md §1 through libcsv (strict): the same verdict on validity,
// the same line for the first bad record, the same result bytes.
std::string check_reference(std::string_view file, const run_result& truth) {
  if (has_lone_cr(file))
    return {}; // libcsv ends records at a lone CR, the contract does not
  const reference_outcome ref = reference_count(file);
  const std::string ours = text_of(truth);
  const bool ours_failed = ours.rfind("line ", 0) == 0;
  if (!ref.libcsv_ok) {
    if (!ours_failed)
      return "libcsv (strict) rejects the file, playcount accepts it:\n  " +
             printable(ours);
    return {};
  }
  if (ref.error_line) {
    const std::string prefix = "line " + std::to_string(*ref.error_line) + ": ";
    if (ours.rfind(prefix, 0) != 0)
      return "the reference finds a bad record (" + ref.error_kind + ") on " +
             prefix + "playcount says\n  " + printable(ours);
    return {};
  }
  if (ours != ref.output)
    return "libcsv and the reference accept the file; playcount differs:\n"
           "  playcount: " +
           printable(ours) + "\n  reference: " + printable(ref.output);
  return {};
}

} // namespace

std::string check_csv_ranges(std::string_view input) {
  // The bytes end at an inaccessible page: a read past the file crashes even
  // where ASan's redzone would not see it (reads by SIMD loads).
  const guarded_bytes guarded(input);
  const std::string_view file = guarded.view();
  const run_result truth = run_sequential(file, bad_row_policy::fail);
  if (std::string p = check_splits(file, bad_row_policy::fail, truth);
      !p.empty())
    return p;
  // Skipping differs from failing only where a record is bad (not the
  // header: the sequential run has its one range once the header is read).
  if (truth.error && !truth.ranges.empty())
    if (std::string p =
            check_splits(file, bad_row_policy::skip,
                         run_sequential(file, bad_row_policy::skip));
        !p.empty())
      return p;
  return check_reference(file, truth);
}

} // namespace playcount::fuzz
