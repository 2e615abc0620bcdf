#pragma once

// The properties the fuzz targets check, as plain functions of the input
// bytes: each returns an empty string when the property holds, else what
// went wrong. The libFuzzer targets (fuzz_target.cpp, clang only, `make
// fuzz`) abort on a non-empty answer; the ctest suite fuzz_corpus_tests
// replays every file of tests/fuzz/corpus/<target>/ through the same
// function with any compiler, so a crashing input kept there is a regression
// test for every build.

#include <string>
#include <string_view>

namespace playcount::fuzz {

/// The whole core pipeline on `input` as a CSV file: every split (range
/// sizes, workers, windows) gives what one sequential read gives, with bad
/// rows failing and skipped; and the sequential read agrees with libcsv
/// (strict) and the reference of tests/core/support on which files are
/// valid, the result, and the line of the first bad record.
[[nodiscard]] std::string check_csv_ranges(std::string_view input);

/// The multipart parser on `input` read as a Content-Type line, LF, and the
/// body: no crash, every view inside the body; where a plain reference split
/// finds a well-formed form, the same parts and the same `file` bytes. Also
/// `input` as the file of a form built around it must come back unchanged.
[[nodiscard]] std::string check_multipart(std::string_view input);

/// multipart_stream on the body of `input` (read as check_multipart does)
/// fed in pieces of 1 byte, of sizes drawn from the input, and whole: the
/// same parts and bytes as parse_multipart, or the same error and message
/// (but for its own limit on transport padding), within its memory bounds.
[[nodiscard]] std::string check_multipart_stream(std::string_view input);

/// parse_date, the date cache, format_date, parse_count, parse_short_count
/// and parse_count_slowly on `input` against slow references.
[[nodiscard]] std::string check_fields(std::string_view input);

/// partial_aggregate::decode of `input` (the bytes other nodes send): no
/// crash; an accepted form re-encodes to the same totals, merges, formats.
[[nodiscard]] std::string check_partial_bytes(std::string_view input);

/// The group store on rows read from `input` (any number of songs, days
/// near or far, large totals, ranges in any order, two partials merged
/// through the byte form) against a plain std::map: the same result.
[[nodiscard]] std::string check_group_store(std::string_view input);

/// songs.idx: the input as an index is refused or found consistent (every
/// song found again, in byte order, inside its result); names from the
/// input sort by their keys as by their bytes, and written and opened again
/// are all found, every prefix listing what a sorted list lists.
[[nodiscard]] std::string check_song_index(std::string_view input);

struct target {
  const char* name; ///< also the corpus directory tests/fuzz/corpus/<name>
  std::string (*check)(std::string_view);
};

inline constexpr target targets[] = {
    {"csv_ranges", check_csv_ranges},
    {"multipart", check_multipart},
    {"fields", check_fields},
    {"partial_bytes", check_partial_bytes},
    {"group_store", check_group_store},
    {"multipart_stream", check_multipart_stream},
    {"song_index", check_song_index},
};

/// Printable form of bytes for a failure message: C escapes, at most `max`.
[[nodiscard]] std::string printable(std::string_view bytes, size_t max = 300);

} // namespace playcount::fuzz
