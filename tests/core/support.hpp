#pragma once

// Test support for the core suite: the whole core pipeline as one call (the
// way the coordinator and workers use core/), a random CSV generator, and an
// independent reference built on libcsv.

#include "core/aggregate.hpp"
#include "core/csv_layout.hpp"
#include "core/job_outcome.hpp"
#include "core/range_reader.hpp"
#include "core/split.hpp"

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#if __has_include("core/hash.hpp")
#include "core/hash.hpp"
#endif

namespace playcount::test {

/// The hash a pending_row carries for `name` (the hash moved from
/// partial_aggregate into core/hash.hpp; either works here).
[[nodiscard]] inline uint64_t song_hash(std::string_view name) {
#if __has_include("core/hash.hpp")
  return hash_bytes(name.data(), name.size());
#else
  return partial_aggregate::hash_bytes(name.data(), name.size());
#endif
}

/// Bytes copied so that the byte after the last one is on an inaccessible
/// page: a read past the end of the data crashes the test instead of
/// passing by luck, as it would with a std::string.
class guarded_bytes {
public:
  /// Which side of the bytes touches the inaccessible page.
  enum class side { after, before };

  explicit guarded_bytes(std::string_view bytes, side guard = side::after);
  guarded_bytes(const guarded_bytes&) = delete;
  guarded_bytes& operator=(const guarded_bytes&) = delete;
  ~guarded_bytes();

  [[nodiscard]] std::string_view view() const noexcept {
    return {data_, size_};
  }

private:
  char* map_ = nullptr;
  size_t map_size_ = 0;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

enum class assignment { round_robin, random };

struct run_options {
  uint64_t range_size = 0; ///< 0: the whole file as one nominal chunk
  unsigned workers = 1;
  bad_row_policy policy = bad_row_policy::fail;
  assignment assign = assignment::round_robin;
  uint32_t seed = 1; ///< for random assignment and read order
  /// Each chunk is scanned and each range read from its own window of the
  /// file (file_window, as workers map them), guarded on one side.
  bool windows = false;
};

struct run_result {
  std::optional<std::string> error; ///< `line N: ...`
  std::string output;               ///< format_result, when no error
  job_outcome outcome;              ///< after the sequential re-read, if any
  std::vector<byte_range> ranges;
  bool merge_overflowed = false;
  bool needed_sequential_read = false;
};

/// The core pipeline: read_layout, nominal chunks, scan, plan, each range read
/// by one of `workers` partials (tag = range index), combine_reports in file
/// order, merge into the first partial, format_result. An overflow (seen by a
/// range or by the merge) is placed by read_sequentially.
[[nodiscard]] run_result run_pipeline(std::string_view file,
                                      const run_options& options = {});

/// `s` without the spaces and tabs around it (as fields allow around a Date
/// and a Number of Plays).
[[nodiscard]] std::string_view blanks_trimmed(std::string_view s);

/// The range plan of `file` in memory: every chunk scanned in order.
[[nodiscard]] std::vector<byte_range>
plan_in_memory(std::string_view file, uint64_t data_begin, uint64_t range_size);

/// read_sequentially: the ground truth.
[[nodiscard]] run_result
run_sequential(std::string_view file,
               bad_row_policy policy = bad_row_policy::fail);

/// `output` or `*error`, whichever the run gave.
[[nodiscard]] std::string text_of(const run_result& r);

/// text_of with the rows, the bad rows and the first bad ones: what two runs
/// of one file must share whatever the split.
[[nodiscard]] std::string signature(const run_result& r);

/// Runs the pipeline over a spread of range sizes, worker counts and
/// assignments (the bytes guarded), checks they all give the same text as
/// the sequential read, and returns that text.
[[nodiscard]] std::string
result_everywhere(std::string_view file,
                  bad_row_policy policy = bad_row_policy::fail);

// -- independent reference ---------------------------------------------------

/// What libcsv (strict, no space trimming) and a plain re-implementation of
/// docs/CONTRACT.md §1 make of a file.
struct reference_outcome {
  bool libcsv_ok = true;              ///< libcsv strict accepted the bytes
  std::optional<uint64_t> error_line; ///< first bad record (or header) line
  std::string error_kind;             ///< short word for the first problem
  std::string output;                 ///< the result CSV when no error
  uint64_t rows = 0;
};

[[nodiscard]] reference_outcome reference_count(std::string_view file);

/// libcsv's records of `bytes` (strict, spaces kept); nullopt when it rejects.
[[nodiscard]] std::optional<std::vector<std::vector<std::string>>>
libcsv_records(std::string_view bytes);

/// Whether `bytes` hold a CR not followed by LF. libcsv ends a record there;
/// docs/CONTRACT.md §1 does not (records end in LF or CRLF), so the reference
/// does not apply to such files.
[[nodiscard]] bool has_lone_cr(std::string_view bytes);

// -- calendar, written independently of core/fields.cpp
// ------------------------

[[nodiscard]] bool is_leap_year(int y);
[[nodiscard]] int month_length(int y, int m);
[[nodiscard]] std::string ymd(int y, int m, int d);

// -- random CSV documents ----------------------------------------------------

/// A CSV file as parts, so a record can be replaced before assembly.
struct csv_doc {
  bool bom = false;
  std::vector<std::string> pre_header; ///< empty lines' ends before the header
  std::string header;                  ///< without its line end
  std::string header_end = "\n";
  uint32_t columns = 3, song = 0, date = 1, count = 2;

  struct line {
    std::vector<std::string>
        fields;      ///< as written (quoted or not); empty: an empty line
    std::string end; ///< "\n", "\r\n" or "" (last line only)
    [[nodiscard]] bool is_record() const { return !fields.empty(); }
    [[nodiscard]] std::string text() const;
  };
  std::vector<line> lines;

  [[nodiscard]] std::string assemble() const;
  /// The 1-based physical line on which lines[i] starts.
  [[nodiscard]] uint64_t line_number(size_t i) const;
  /// Indexes into `lines` of the records.
  [[nodiscard]] std::vector<size_t> record_indexes() const;
};

struct doc_shape {
  size_t records = 300;
  bool tricky_header =
      true; ///< BOM, empty lines, spaces, quotes, extra columns
  bool allow_cr_in_values = true;
  bool allow_empty_lines = true;
};

[[nodiscard]] csv_doc random_doc(std::mt19937& rng,
                                 const doc_shape& shape = {});

/// `field` as written in a CSV record: quoted when it must be, and sometimes
/// when it need not be.
[[nodiscard]] std::string encode_field(std::mt19937& rng,
                                       std::string_view field,
                                       int quote_anyway_percent = 30);

/// RFC 4180 quoting, always.
[[nodiscard]] std::string quoted(std::string_view field);

/// Kinds of bad record `make_bad` can write.
enum class bad_kind {
  count_not_whole,
  count_negative,
  count_too_large,
  date_impossible,
  date_bad_form,
  too_few_fields,
  too_many_fields,
  stray_quote,
  text_after_quote,
  unclosed_quote,
};
inline constexpr int bad_kinds = 10;

/// Turns record `i` of `doc` into a bad record of `kind`; returns a piece of
/// text the error message must hold.
std::string make_bad(csv_doc& doc, size_t i, bad_kind kind);

} // namespace playcount::test
