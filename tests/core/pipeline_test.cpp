// The core pipeline end to end, one test per rule of docs/CONTRACT.md §1. Each
// result is checked over many range sizes, worker counts and range assignments
// (result_everywhere), against the sequential read.

#include "core/job_outcome.hpp"
#include "core/mapped_file.hpp"
#include "core/result_writer.hpp"
#include "support.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <unistd.h>

namespace playcount {
namespace {

using test::result_everywhere;

const std::string in_header = "Song,Date,Number of Plays\n";
const std::string out_header = "Song,Date,Total Number of Plays for Date\n";

/// Checks that `text` is the error `line N: ...` holding every piece.
void expect_error(const std::string& text, uint64_t line,
                  std::initializer_list<std::string> pieces) {
  const std::string prefix = "line " + std::to_string(line) + ": ";
  EXPECT_EQ(text.rfind(prefix, 0), 0u)
      << "expected " << prefix << "..., got: " << text;
  for (const auto& piece : pieces)
    EXPECT_NE(text.find(piece), std::string::npos)
        << "missing " << testing::PrintToString(piece) << " in: " << text;
}

// -- output rules
// --------------------------------------------------------------

TEST(pipeline, writes_the_output_header_line_first) {
  EXPECT_EQ(result_everywhere(in_header + "A,2021-01-01,1\n"),
            out_header + "A,2021-01-01,1\n");
}

TEST(pipeline, totals_plays_per_song_and_date) {
  EXPECT_EQ(result_everywhere(in_header + "A,2021-01-01,1\n"
                                          "A,2021-01-02,10\n"
                                          "A,2021-01-01,2\n"
                                          "B,2021-01-01,5\n"
                                          "A,2021-01-01,3\n"),
            out_header + "A,2021-01-01,6\n"
                         "A,2021-01-02,10\n"
                         "B,2021-01-01,5\n");
}

TEST(pipeline, lists_songs_in_the_order_of_their_first_appearance) {
  // Songs first appear late in the file, after many rows of others, so first
  // appearances fall into different ranges and workers.
  std::string in = in_header;
  const char* first_seen[] = {"Zulu", "alpha", "Mike", "Bravo", "0", "yankee"};
  for (int i = 0; i < 6; ++i) {
    for (int k = 0; k <= i; ++k)
      in += std::string(first_seen[k]) + ",2021-01-0" + std::to_string(1 + k) +
            ",1\n";
  }
  std::string out = out_header;
  for (int k = 0; k < 6; ++k)
    out += std::string(first_seen[k]) + ",2021-01-0" + std::to_string(1 + k) +
           "," + std::to_string(6 - k) + "\n";
  EXPECT_EQ(result_everywhere(in), out);
}

TEST(pipeline, lists_each_songs_dates_in_ascending_order) {
  EXPECT_EQ(result_everywhere(in_header + "A,2024-02-29,1\n"
                                          "A,9999-12-31,2\n"
                                          "A,2021-12-31,3\n"
                                          "A,0001-01-01,4\n"
                                          "B,2000-02-29,5\n"
                                          "A,2022-01-01,6\n"
                                          "A,1970-01-01,7\n"
                                          "B,1999-12-31,8\n"
                                          "A,2021-12-31,9\n"),
            out_header + "A,0001-01-01,4\n"
                         "A,1970-01-01,7\n"
                         "A,2021-12-31,12\n"
                         "A,2022-01-01,6\n"
                         "A,2024-02-29,1\n"
                         "A,9999-12-31,2\n"
                         "B,1999-12-31,8\n"
                         "B,2000-02-29,5\n");
}

TEST(pipeline, quotes_output_fields_that_hold_a_comma_quote_cr_or_lf) {
  EXPECT_EQ(result_everywhere(in_header +
                              "\"Hey, Jude\",2021-01-01,1\n"
                              "\"Say \"\"Hi\"\"\",2021-01-01,2\n"
                              "\"cr\ronly\",2021-01-01,3\n"
                              "\"two\nlines\",2021-01-01,4\n"
                              "\"crlf\r\nlines\",2021-01-01,5\n"
                              "\"\"\"\",2021-01-01,6\n"
                              "plain text,2021-01-01,7\n"
                              "\" spaced \",2021-01-01,8\n"
                              "\"quoted but plain\",2021-01-01,9\n"),
            out_header + "\"Hey, Jude\",2021-01-01,1\n"
                         "\"Say \"\"Hi\"\"\",2021-01-01,2\n"
                         "\"cr\ronly\",2021-01-01,3\n"
                         "\"two\nlines\",2021-01-01,4\n"
                         "\"crlf\r\nlines\",2021-01-01,5\n"
                         "\"\"\"\",2021-01-01,6\n"
                         "plain text,2021-01-01,7\n"
                         " spaced ,2021-01-01,8\n"
                         "quoted but plain,2021-01-01,9\n");
}

TEST(pipeline, ends_output_lines_in_lf_even_for_crlf_input) {
  const std::string out = result_everywhere(
      "Song,Date,Number of Plays\r\nA,2021-01-01,1\r\nB,2021-01-02,2\r\n");
  EXPECT_EQ(out, out_header + "A,2021-01-01,1\nB,2021-01-02,2\n");
  EXPECT_EQ(out.find('\r'), std::string::npos);
}

TEST(pipeline, keeps_songs_that_differ_in_case_or_spaces_apart) {
  EXPECT_EQ(result_everywhere(in_header + "Umbrella,2021-01-01,1\n"
                                          "umbrella,2021-01-01,2\n"
                                          "Umbrella ,2021-01-01,4\n"
                                          " Umbrella,2021-01-01,8\n"
                                          "Umbrella,2021-01-01,16\n"
                                          "UMBRELLA,2021-01-01,32\n"),
            out_header + "Umbrella,2021-01-01,17\n"
                         "umbrella,2021-01-01,2\n"
                         "Umbrella ,2021-01-01,4\n"
                         " Umbrella,2021-01-01,8\n"
                         "UMBRELLA,2021-01-01,32\n");
}

TEST(pipeline, counts_quoted_and_unquoted_spellings_of_a_name_as_one_song) {
  EXPECT_EQ(result_everywhere(in_header + "Umbrella,2021-01-01,1\n"
                                          "\"Umbrella\",2021-01-01,2\n"
                                          "\"Umb\"\"rella\",2021-01-01,4\n"
                                          "\"\",2021-01-01,8\n"
                                          ",2021-01-01,16\n"),
            out_header + "Umbrella,2021-01-01,3\n"
                         "\"Umb\"\"rella\",2021-01-01,4\n"
                         ",2021-01-01,24\n");
}

TEST(pipeline, reads_crlf_and_mixed_line_ends_like_lf) {
  const std::string lf = in_header + "A,2021-01-01,1\n"
                                     "\"B\nb\",2021-01-02,2\n"
                                     "A,2021-01-01,3\n"
                                     "C,2021-01-03,4";
  const std::string expected = result_everywhere(lf);
  EXPECT_EQ(expected, out_header + "A,2021-01-01,4\n"
                                   "\"B\nb\",2021-01-02,2\n"
                                   "C,2021-01-03,4\n");
  EXPECT_EQ(result_everywhere("Song,Date,Number of Plays\r\n"
                              "A,2021-01-01,1\r\n"
                              "\"B\nb\",2021-01-02,2\r\n"
                              "A,2021-01-01,3\r\n"
                              "C,2021-01-03,4\r\n"),
            expected);
  EXPECT_EQ(result_everywhere("Song,Date,Number of Plays\n"
                              "A,2021-01-01,1\r\n"
                              "\"B\nb\",2021-01-02,2\n"
                              "A,2021-01-01,3\r\n"
                              "C,2021-01-03,4"),
            expected);
  // CRLF after a quoted last field and after a padded count.
  EXPECT_EQ(result_everywhere("Song,Date,Number of Plays\r\n"
                              "\"A\",\"2021-01-01\",\"1\"\r\n"
                              "A,2021-01-01,3 \r\n"),
            out_header + "A,2021-01-01,4\n");
}

TEST(pipeline, ignores_a_byte_order_mark_at_the_start) {
  EXPECT_EQ(result_everywhere("\xEF\xBB\xBF" + in_header + "A,2021-01-01,1\n"),
            out_header + "A,2021-01-01,1\n");
  EXPECT_EQ(
      result_everywhere(
          "\xEF\xBB\xBFNumber of Plays,Song,Date\nA,B,2021-01-01\n"),
      test::result_everywhere("Number of Plays,Song,Date\nA,B,2021-01-01\n"));
}

TEST(pipeline, skips_empty_lines) {
  EXPECT_EQ(result_everywhere("\n\r\n" + in_header +
                              "\n"
                              "A,2021-01-01,1\n"
                              "\r\n"
                              "\n\n"
                              "A,2021-01-01,2\r\n"
                              "\r\n"
                              "B,2021-01-01,3\n"
                              "\n"
                              "\r\n"),
            out_header + "A,2021-01-01,3\nB,2021-01-01,3\n");
}

TEST(pipeline, reads_a_last_record_without_line_end) {
  EXPECT_EQ(result_everywhere(in_header + "A,2021-01-01,1\nA,2021-01-01,2"),
            out_header + "A,2021-01-01,3\n");
  EXPECT_EQ(result_everywhere(in_header +
                              "A,2021-01-01,1\n\"A\",\"2021-01-01\",\"2\""),
            out_header + "A,2021-01-01,3\n");
  EXPECT_EQ(result_everywhere(in_header + "\"x\ny\",2021-01-01,5"),
            out_header + "\"x\ny\",2021-01-01,5\n");
}

TEST(pipeline, gives_only_the_header_line_for_a_file_with_no_records) {
  for (const std::string& file :
       {in_header, std::string("Song,Date,Number of Plays"),
        std::string("Song,Date,Number of Plays\r\n"), in_header + "\n\n\r\n",
        "\xEF\xBB\xBF" + in_header, "\n" + in_header + "\n"}) {
    SCOPED_TRACE(testing::PrintToString(file));
    EXPECT_EQ(result_everywhere(file), out_header);
  }
}

TEST(pipeline, keeps_a_row_for_a_song_and_date_with_zero_plays) {
  EXPECT_EQ(result_everywhere(in_header + "A,2021-01-01,0\n"
                                          "B,2021-01-01,0\n"
                                          "B,2021-01-01,000\n"
                                          "A,2021-01-02,1\n"
                                          "B,2021-01-03,0\n"),
            out_header + "A,2021-01-01,0\n"
                         "A,2021-01-02,1\n"
                         "B,2021-01-01,0\n"
                         "B,2021-01-03,0\n");
}

TEST(pipeline, ignores_spaces_and_tabs_around_date_and_count_but_not_song) {
  EXPECT_EQ(result_everywhere(in_header + "A, 2021-01-01 ,\t5\t\n"
                                          "A,\t2021-01-01,  007 \n"
                                          "\"A\",\" 2021-01-01\",\"3 \"\n"
                                          "A ,2021-01-01,1\n"),
            out_header + "A,2021-01-01,15\nA ,2021-01-01,1\n");
}

TEST(pipeline, keeps_song_bytes_as_they_are) {
  const std::string nul("n\0l", 3);
  EXPECT_EQ(
      result_everywhere(in_header + "\xC3\x9C\xE2\x99\xAB,2021-01-01,1\n" +
                        "tab\there,2021-01-01,2\n" + nul + ",2021-01-01,3\n" +
                        "\"" + nul + "\",2021-01-01,4\n"),
      out_header + "\xC3\x9C\xE2\x99\xAB,2021-01-01,1\n" +
          "tab\there,2021-01-01,2\n" + nul + ",2021-01-01,7\n");
}

TEST(pipeline, reads_columns_in_any_order_and_ignores_extra_ones) {
  EXPECT_EQ(
      result_everywhere("Id, Number of Plays ,\"Extra, column\",Date,Song\n"
                        "1,5,\"x,\ny\",2021-01-01,A\n"
                        "2,6,,2021-01-01,B\n"
                        "3,7,\"\"\"\",2021-01-01,A\n"),
      out_header + "A,2021-01-01,12\nB,2021-01-01,6\n");
}

/// A file under /tmp with `bytes`, removed at the end of the test.
class temp_file {
public:
  explicit temp_file(const std::string& bytes) {
    char name[] = "/tmp/playcount-core-test-XXXXXX";
    const int fd = mkstemp(name);
    path_ = name;
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
    close(fd);
  }
  ~temp_file() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

TEST(pipeline, reads_a_file_mapped_from_disk) {
  const std::string bytes = in_header + "A,2021-01-01,1\n\"B\nb\",2021-01-01,2";
  const temp_file f(bytes);
  mapped_file file;
  const auto opened = file.open(f.path());
  ASSERT_TRUE(opened) << opened.error().text();
  EXPECT_EQ(file.size(), bytes.size());
  EXPECT_EQ(file.bytes(), bytes);
  for (uint64_t range_size : {1, 5, 0}) {
    test::run_options o;
    o.range_size = range_size;
    o.workers = 2;
    EXPECT_EQ(text_of(test::run_pipeline(file.bytes(), o)),
              out_header + "A,2021-01-01,1\n\"B\nb\",2021-01-01,2\n");
  }
}

// The way workers read: every chunk and every range mapped on its own.
TEST(pipeline, reads_chunks_and_ranges_mapped_one_by_one_from_disk) {
  std::mt19937 rng(11);
  test::doc_shape shape;
  shape.records = 2000; // some ranges cross page boundaries
  const std::string bytes = random_doc(rng, shape).assemble();
  const std::string expected = text_of(test::run_sequential(bytes));
  ASSERT_EQ(expected.rfind(out_header, 0), 0u) << expected;
  const temp_file f(bytes);
  file_handle file;
  const auto opened = file.open(f.path());
  ASSERT_TRUE(opened) << opened.error().text();
  ASSERT_EQ(file.size(), bytes.size());
  const csv_layout layout = std::get<csv_layout>(read_layout(bytes));
  for (uint64_t range_size : {37, 100, 4096, 10000}) {
    SCOPED_TRACE(range_size);
    const auto chunks =
        nominal_chunks(layout.data_begin, file.size(), range_size);
    std::vector<chunk_scan> scans;
    for (const byte_range& c : chunks) {
      const auto w = file.map(c.begin - 1, c.end);
      ASSERT_TRUE(w) << w.error().text();
      ASSERT_EQ(w->window().bytes.size(), c.end - c.begin + 1);
      scans.push_back(scan_chunk(w->window(), c));
    }
    const auto ranges = plan_ranges(chunks, scans);
    partial_aggregate workers[2];
    std::vector<std::optional<range_report>> reports;
    for (uint32_t r = 0; r < ranges.size(); ++r) {
      const auto w = file.map(ranges[r].begin, ranges[r].end);
      ASSERT_TRUE(w) << w.error().text();
      ASSERT_EQ(w->window().offset, ranges[r].begin);
      reports.push_back(read_range(w->window(), ranges[r], layout,
                                   bad_row_policy::fail, workers[r % 2], r));
    }
    const job_outcome o = combine_reports(layout, reports);
    ASSERT_FALSE(o.error) << o.error->to_string();
    ASSERT_TRUE(workers[0].merge(workers[1]));
    EXPECT_EQ(format_result(workers[0]), expected);
  }
}

TEST(file_handle, maps_windows_of_a_file_at_any_offset) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  std::string bytes;
  for (uint64_t i = 0; i < 3 * page + 123; ++i)
    bytes += static_cast<char>('a' + i % 23);
  const temp_file f(bytes);
  file_handle file;
  const auto opened = file.open(f.path());
  ASSERT_TRUE(opened) << opened.error().text();
  EXPECT_EQ(file.size(), bytes.size());
  const uint64_t n = bytes.size();
  const std::pair<uint64_t, uint64_t> cases[] = {
      {0, n},           {1, 2},        {page - 1, page + 1},
      {page, 2 * page}, {page + 5, n}, {n - 1, n},
      {0, 1},           {3 * page, n}, {2 * page - 7, 3 * page + 7}};
  for (const auto& [begin, end] : cases) {
    SCOPED_TRACE(std::to_string(begin) + ".." + std::to_string(end));
    const auto w = file.map(begin, end);
    ASSERT_TRUE(w) << w.error().text();
    const file_window fw = w->window();
    EXPECT_EQ(fw.offset, begin);
    EXPECT_EQ(fw.bytes, std::string_view(bytes).substr(begin, end - begin));
  }
  // Past the end: cut to the file; empty: no bytes.
  EXPECT_EQ((*file.map(n - 3, n + 100)).window().bytes, bytes.substr(n - 3));
  EXPECT_TRUE((*file.map(10, 10)).window().bytes.empty());
  // A window moved keeps its bytes; the moved-from one is empty.
  mapped_window a = *file.map(page - 2, page + 2);
  mapped_window b = std::move(a);
  EXPECT_EQ(b.window().bytes, bytes.substr(page - 2, 4));
  EXPECT_TRUE(a.window().bytes.empty()); // NOLINT(bugprone-use-after-move)
  mapped_window c;
  c = std::move(b);
  EXPECT_EQ(c.window().bytes, bytes.substr(page - 2, 4));
}

TEST(file_handle, names_the_file_it_cannot_open) {
  file_handle file;
  const auto missing = file.open("/nonexistent/dir/input.csv");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().text(), "cannot open /nonexistent/dir/input.csv: "
                                    "No such file or directory");
  file_handle dir;
  const auto not_a_file = dir.open("/tmp");
  ASSERT_FALSE(not_a_file);
  EXPECT_EQ(not_a_file.error().text(), "cannot read /tmp: not a regular file");
}

TEST(mapped_file, names_the_file_it_cannot_open) {
  mapped_file file;
  const auto missing = file.open("/nonexistent/dir/input.csv");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().path, "/nonexistent/dir/input.csv");
  const auto not_a_file = file.open("/tmp");
  ASSERT_FALSE(not_a_file);
  EXPECT_EQ(not_a_file.error().path, "/tmp");
}

TEST(mapped_file, maps_an_empty_file_as_no_bytes) {
  const temp_file f("");
  mapped_file file;
  const auto opened = file.open(f.path());
  EXPECT_TRUE(opened) << opened.error().text();
  EXPECT_EQ(file.size(), 0u);
  EXPECT_TRUE(file.bytes().empty());
}

// -- bad input
// -----------------------------------------------------------------

TEST(pipeline, fails_on_a_count_that_is_not_a_whole_number) {
  for (const char* value : {"1.5", "1e3", "+5", "abc", "", "1 2", "0x1"}) {
    SCOPED_TRACE(value);
    expect_error(result_everywhere(in_header + "A,2021-01-01,1\nB,2021-01-01," +
                                   value + "\nC,2021-01-01,1\n"),
                 3, {"whole number", "\"" + std::string(value) + "\""});
  }
}

TEST(pipeline, fails_on_a_negative_count) {
  expect_error(
      result_everywhere(in_header + "A,2021-01-01,1\nB,2021-01-01,-4\n"), 3,
      {"negative", "\"-4\""});
}

TEST(pipeline, fails_on_a_count_above_two_to_the_63_minus_one) {
  expect_error(
      result_everywhere(in_header + "A,2021-01-01,9223372036854775808\n"), 2,
      {"9223372036854775807", "\"9223372036854775808\""});
}

TEST(pipeline, fails_on_an_impossible_date) {
  for (const char* value :
       {"2023-02-29", "2021-04-31", "0000-01-01", "2021-13-01"}) {
    SCOPED_TRACE(value);
    expect_error(
        result_everywhere(in_header + "A,2021-01-01,1\n\nB," + value + ",1\n"),
        4, {"calendar date", "\"" + std::string(value) + "\""});
  }
}

TEST(pipeline, fails_on_a_date_not_written_yyyy_mm_dd) {
  for (const char* value : {"2021-1-01", "2021/01/01", "01-01-2021", ""}) {
    SCOPED_TRACE(value);
    expect_error(result_everywhere(in_header + "B," + value + ",1\n"), 2,
                 {"YYYY-MM-DD", "\"" + std::string(value) + "\""});
  }
}

TEST(pipeline, fails_on_a_record_with_the_wrong_number_of_fields) {
  expect_error(result_everywhere(in_header + "A,2021-01-01,1\nB,2021-01-01\n"),
               3, {"expected 3 fields, found 2"});
  expect_error(result_everywhere(in_header + "A,2021-01-01,1,extra\n"), 2,
               {"expected 3 fields, found 4"});
  expect_error(
      result_everywhere(in_header + "A,2021-01-01,1\n\"B,\"\"x\"\"\"\n"), 3,
      {"expected 3 fields, found 1"});
  expect_error(result_everywhere(in_header + "A,2021-01-01,1\n \r\n"), 3,
               {"expected 3 fields, found 1"});
}

TEST(pipeline, fails_on_a_quoted_field_that_never_closes) {
  expect_error(
      result_everywhere(in_header + "A,2021-01-01,1\n\"B,2021-01-01,1\n"), 3,
      {"never closes"});
  expect_error(
      result_everywhere(in_header + "A,2021-01-01,1\n\"B\n\nC,2021-01-01,1"), 3,
      {"never closes"});
  expect_error(result_everywhere(in_header + "A,2021-01-01,\"1"), 2,
               {"never closes", "field 3"});
}

TEST(pipeline, fails_on_a_quote_inside_an_unquoted_field) {
  expect_error(
      result_everywhere(in_header + "A,2021-01-01,1\nB\"b\",2021-01-01,1\n"), 3,
      {"quote inside an unquoted field", "field 1"});
}

TEST(pipeline, fails_on_text_after_a_closing_quote) {
  expect_error(
      result_everywhere(in_header + "A,2021-01-01,1\n\"B\"b,2021-01-01,1\n"), 3,
      {"text after a closing quote", "field 1"});
}

TEST(pipeline,
     reports_the_line_where_a_bad_record_starts_after_multi_line_fields) {
  expect_error(result_everywhere(in_header + "\"a\nb\nc\",2021-01-01,1\n"
                                             "x,2021-01-01,bad\n"),
               5, {"\"bad\""});
  // The bad record itself spans lines; it is reported where it starts.
  expect_error(result_everywhere(in_header +
                                 "A,2021-01-01,1\r\n"
                                 "\"multi\r\nline\r\n\",2021-02-30,1\r\n"),
               3, {"\"2021-02-30\""});
  // Empty lines and a header spanning two lines count too.
  expect_error(result_everywhere("Song,\"Ex\ntra\",Date,Number of Plays\n"
                                 "\n"
                                 "\"x\n\ny\",,2021-01-01,1\n"
                                 "\r\n"
                                 "A,,2021-01-01,-1\n"),
               8, {"negative"});
}

TEST(pipeline, reports_the_first_bad_record_in_file_order) {
  std::string in = in_header;
  for (int i = 0; i < 50; ++i)
    in += "A,2021-01-01,1\n";
  in += "B,2021-01-01,x\n"; // line 52
  for (int i = 0; i < 50; ++i)
    in += i % 10 == 0 ? "C,2021-02-30,1\n" : "A,2021-01-01,1\n";
  expect_error(result_everywhere(in), 52, {"\"x\""});
}

TEST(pipeline, fails_on_a_missing_column_naming_it) {
  expect_error(result_everywhere("Song,Plays,Date\nA,1,2021-01-01\n"), 1,
               {"missing column \"Number of Plays\""});
  expect_error(result_everywhere("\n\nDate,Number of Plays\n"), 3,
               {"missing column \"Song\""});
}

// Lines ending in CR alone are not line ends (docs/CONTRACT.md §1: LF or CRLF):
// the whole file is one header record without the right columns. It must fail,
// not pass as a file with no records and an empty result.
TEST(pipeline, fails_on_a_file_whose_lines_end_in_cr_alone) {
  const std::string text = result_everywhere(
      "Song,Date,Number of Plays\rA,2021-01-01,1\rB,2021-01-02,2\r");
  EXPECT_NE(text, out_header) << "a CR-only file gave an empty result";
  expect_error(text, 1, {});
}

TEST(pipeline, fails_on_an_empty_file) {
  expect_error(result_everywhere(""), 1, {"empty"});
  expect_error(result_everywhere("\xEF\xBB\xBF"), 1, {"empty"});
}

// -- overflow
// --------------------------------------------------------------------

TEST(pipeline, accepts_a_total_of_exactly_two_to_the_63_minus_one) {
  EXPECT_EQ(result_everywhere(in_header + "A,2021-01-01,9223372036854775800\n"
                                          "A,2021-01-01,7\n"
                                          "A,2021-01-02,9223372036854775807\n"),
            out_header + "A,2021-01-01,9223372036854775807\n"
                         "A,2021-01-02,9223372036854775807\n");
}

TEST(pipeline,
     fails_with_overflow_on_the_line_where_a_total_passes_two_to_the_63) {
  const std::string in = in_header +
                         "A,2021-01-01,9223372036854775000\n"
                         "B,2021-01-01,9223372036854775000\n"
                         "A,2021-01-01,800\n"
                         "A,2021-01-02,9223372036854775000\n"
                         "A,2021-01-01,8\n" // line 6: 9223372036854775808
                         "A,2021-01-01,1\n";
  expect_error(result_everywhere(in), 6, {"overflow", "\"A\"", "2021-01-01"});
}

TEST(read_range,
     reports_an_overflow_and_combine_reports_asks_for_a_sequential_read) {
  const std::string in = in_header + "A,2021-01-01,9223372036854775807\n"
                                     "A,2021-01-01,1\n";
  const csv_layout layout = std::get<csv_layout>(read_layout(in));
  partial_aggregate into;
  const range_report r = read_range(in, {layout.data_begin, in.size()}, layout,
                                    bad_row_policy::fail, into, 0);
  ASSERT_TRUE(r.error);
  EXPECT_TRUE(r.overflow);
  EXPECT_EQ(r.rows, 1u);
  EXPECT_NE(r.error->what.find("overflow"), std::string::npos) << r.error->what;
  const job_outcome o = combine_reports(layout, {r});
  ASSERT_TRUE(o.error);
  EXPECT_TRUE(o.needs_sequential_read);
  const sequential_result seq =
      read_sequentially(in, layout, bad_row_policy::fail);
  ASSERT_TRUE(seq.outcome.error);
  EXPECT_FALSE(seq.outcome.needs_sequential_read);
  EXPECT_EQ(seq.outcome.error->line, 3u);
  EXPECT_NE(seq.outcome.error->what.find("overflow"), std::string::npos);
}

TEST(read_range, overflows_even_when_skipping_bad_rows) {
  const std::string in = in_header + "A,2021-01-01,x\n"
                                     "A,2021-01-01,9223372036854775807\n"
                                     "A,2021-01-01,1\n";
  const csv_layout layout = std::get<csv_layout>(read_layout(in));
  const sequential_result seq =
      read_sequentially(in, layout, bad_row_policy::skip);
  ASSERT_TRUE(seq.outcome.error);
  EXPECT_EQ(seq.outcome.error->line, 4u);
  EXPECT_NE(seq.outcome.error->what.find("overflow"), std::string::npos);
  expect_error(result_everywhere(in, bad_row_policy::skip), 4, {"overflow"});
}

// A worker that reads later ranges first sees the overflow at the wrong
// record: only the sequential read places it.
TEST(read_sequentially,
     places_an_overflow_that_ranges_read_out_of_order_misplace) {
  const std::string in = in_header +
                         "A,2021-01-01,9223372036854775797\n" // line 2
                         "A,2021-01-01,5\n"                   // line 3
                         "A,2021-01-01,6\n"; // line 4: overflow
  const csv_layout layout = std::get<csv_layout>(read_layout(in));
  const auto chunks = nominal_chunks(layout.data_begin, in.size(), 1);
  std::vector<chunk_scan> scans;
  for (const auto& c : chunks)
    scans.push_back(scan_chunk(in, c));
  const auto ranges = plan_ranges(chunks, scans);
  ASSERT_EQ(ranges.size(), 3u);
  partial_aggregate one_worker;
  std::vector<std::optional<range_report>> reports(3);
  for (uint32_t r : {2u, 1u, 0u})
    reports[r] =
        read_range(in, ranges[r], layout, bad_row_policy::fail, one_worker, r);
  ASSERT_TRUE(reports[0]->error);
  EXPECT_TRUE(reports[0]->overflow);
  const job_outcome o = combine_reports(layout, reports);
  EXPECT_TRUE(o.needs_sequential_read);
  const sequential_result seq =
      read_sequentially(in, layout, bad_row_policy::fail);
  ASSERT_TRUE(seq.outcome.error);
  EXPECT_EQ(seq.outcome.error->to_string().rfind("line 4: overflow", 0), 0u)
      << seq.outcome.error->to_string();
}

TEST(partial_aggregate, merge_reports_a_total_that_overflows_across_workers) {
  const std::string in = in_header + "A,2021-01-01,9223372036854775807\n"
                                     "A,2021-01-01,1\n";
  const csv_layout layout = std::get<csv_layout>(read_layout(in));
  const uint64_t second = in.find("A,2021-01-01,1");
  partial_aggregate a, b;
  EXPECT_FALSE(read_range(in, {layout.data_begin, second}, layout,
                          bad_row_policy::fail, a, 0)
                   .error);
  EXPECT_FALSE(
      read_range(in, {second, in.size()}, layout, bad_row_policy::fail, b, 1)
          .error);
  EXPECT_FALSE(a.merge(b));
}

// -- on_bad_rows=skip
// --------------------------------------------------------------

TEST(pipeline,
     skips_bad_records_counting_them_and_listing_the_first_ten_lines) {
  std::string in = in_header;
  std::vector<uint64_t> bad_lines;
  uint64_t line = 2;
  uint64_t good = 0;
  uint64_t a_total = 0;
  std::map<int, uint64_t> b_totals;
  const char* bad[] = {"A,2021-01-01,x\n",      "A,2021-02-30,1\n",
                       "A,2021-01-01\n",        "A,2021-01-01,1,1\n",
                       "\"A\"x,2021-01-01,1\n", "A,2021-01-01,-1\n",
                       "A,21-01-01,1\n"};
  for (int i = 0; i < 40; ++i) {
    if (i % 3 == 1) {
      in += bad[i % 7];
      bad_lines.push_back(line);
      line += 1;
    } else if (i % 5 == 0) {
      in += "\"B\nb\",2021-01-0" + std::to_string(1 + i % 3) + ",2\n";
      b_totals[1 + i % 3] += 2;
      line += 2;
      ++good;
    } else {
      in += "A,2021-01-01,1\n";
      a_total += 1;
      line += 1;
      ++good;
    }
  }
  ASSERT_GT(bad_lines.size(), 10u);
  // The first record is a B, so B comes first.
  std::string expected = out_header;
  for (const auto& [day, total] : b_totals)
    expected += "\"B\nb\",2021-01-0" + std::to_string(day) + "," +
                std::to_string(total) + "\n";
  expected += "A,2021-01-01," + std::to_string(a_total) + "\n";
  EXPECT_EQ(result_everywhere(in, bad_row_policy::skip), expected);

  const test::run_result seq = test::run_sequential(in, bad_row_policy::skip);
  ASSERT_FALSE(seq.error) << *seq.error;
  EXPECT_EQ(seq.outcome.bad_rows, bad_lines.size());
  EXPECT_EQ(seq.outcome.rows, good);
  ASSERT_EQ(seq.outcome.first_bad.size(), 10u);
  for (size_t i = 0; i < 10; ++i)
    EXPECT_EQ(seq.outcome.first_bad[i].line, bad_lines[i]) << i;
  EXPECT_NE(seq.outcome.first_bad[0].what.find("\"2021-02-30\""),
            std::string::npos)
      << seq.outcome.first_bad[0].what;
  EXPECT_NE(seq.outcome.first_bad[1].what.find("text after a closing quote"),
            std::string::npos)
      << seq.outcome.first_bad[1].what;
}

TEST(pipeline, skips_a_last_record_whose_quote_never_closes) {
  const std::string in =
      in_header + "A,2021-01-01,1\n\"B,2021-01-01,2\nC,2021-01-01,3\n";
  EXPECT_EQ(result_everywhere(in, bad_row_policy::skip),
            out_header + "A,2021-01-01,1\n");
  const auto seq = test::run_sequential(in, bad_row_policy::skip);
  EXPECT_EQ(seq.outcome.bad_rows, 1u);
  ASSERT_EQ(seq.outcome.first_bad.size(), 1u);
  EXPECT_EQ(seq.outcome.first_bad[0].line, 3u);
  EXPECT_NE(seq.outcome.first_bad[0].what.find("never closes"),
            std::string::npos);
}

TEST(pipeline, does_not_skip_a_bad_header) {
  expect_error(result_everywhere("Song,Plays\nA,1\n", bad_row_policy::skip), 1,
               {"missing column \"Date\""});
  expect_error(result_everywhere("", bad_row_policy::skip), 1, {"empty"});
}

// The reader ends well-formed records without quotes straight from the
// block masks and hands every other record to a slow path; a record may start
// and end anywhere in a 64-byte block, or span several. Each case is read
// with its records starting at every offset across two block edges (a filler
// record in front shifts them) and must give what libcsv gives, or fail on
// the expected line (libcsv's reference, when it accepts the quoting, agrees).
TEST(read_range, reads_records_at_every_offset_around_block_edges_like_libcsv) {
  const std::string header = "Song,Date,Number of Plays\n";
  const std::string long_name(150, 'L');
  struct block_case {
    const char* name;
    std::string header;
    std::string records;
    uint64_t bad_line; // 0: none; the header is line 1, the filler line 2
    std::string filler = "F#,2021-01-01,1\n"; // # grows
  };
  const block_case cases[] = {
      {"lf", header, "Ab,2021-01-02,12\nCd,2021-01-03,3\n", 0},
      {"crlf", header, "Ab,2021-01-02,12\r\nCd,2021-01-03,3\r\n", 0},
      {"quoted next to unquoted", header,
       "\"A, \"\"b\"\"\",2021-01-02,12\nAb,2021-01-02,5\n"
       "\"Cd\",\"2021-01-03\",\" 3\"\nCd,2021-01-03,4\n",
       0},
      {"quoted line end", header, "\"A\nb\",2021-01-02,1\r\nAb,2021-01-02,5\n",
       0},
      {"other order, extra column", "Number of Plays,Extra,Date,Song\r\n",
       "12,x,2021-01-02,Ab\n3,,2021-01-03,Cd\r\n7,\"y,z\",2021-01-03,Cd\n", 0,
       "1,,2021-01-01,F#\n"},
      {"spanning blocks", header,
       long_name + ",2021-01-02,12\nAb," + std::string(70, ' ') +
           "2021-01-02,1\n",
       0},
      {"empty lines", header, "\nAb,2021-01-02,12\n\r\n\nCd,2021-01-03,3\n", 0},
      {"empty song", header, ",2021-01-02,12\nAb,2021-01-02,3\n", 0},
      {"last without line end", header, "Ab,2021-01-02,12\nCd,2021-01-03,3", 0},
      {"last with cr alone", header, "Ab,2021-01-02,12\nCd,2021-01-03,3\r", 0},
      {"empty count", header, "Ab,2021-01-02,12\nAb,2021-01-02,\n", 4},
      {"too few fields", header, "Ab,2021-01-02,12\nAb,2021-01-02\n", 4},
      {"too many fields", header, "Ab,2021-01-02,12\nAb,2021-01-02,1,\r\n", 4},
      {"too many across blocks", header,
       "Ab,2021-01-02,12\n\nAb," + std::string(70, ',') + "\n", 5},
      {"bad count", header, "Ab,2021-01-02,12\nAb,2021-01-02,1x\n", 4},
      {"stray quote", header, "Ab,2021-01-02,12\nA\"b,2021-01-02,1\n", 4},
  };
  for (const block_case& c : cases) {
    for (size_t shift = 0; shift < 140; ++shift) {
      std::string filler = c.filler;
      filler.replace(filler.find('#'), 1, std::string(shift, 'f'));
      const std::string in = c.header + filler + c.records;
      const std::string where =
          std::string(c.name) + ", shifted by " + std::to_string(shift);
      const test::reference_outcome ref = test::reference_count(in);
      const test::run_result got = test::run_sequential(in);
      if (c.bad_line != 0) {
        ASSERT_TRUE(got.error) << where;
        expect_error(*got.error, c.bad_line, {});
        if (ref.libcsv_ok) {
          ASSERT_TRUE(ref.error_line) << where;
          EXPECT_EQ(*ref.error_line, c.bad_line) << where;
        }
      } else {
        ASSERT_TRUE(ref.libcsv_ok && !ref.error_line) << where;
        ASSERT_FALSE(got.error) << where << ": " << *got.error;
        ASSERT_EQ(got.output, ref.output) << where;
        EXPECT_EQ(got.outcome.rows, ref.rows) << where;
      }
      if (::testing::Test::HasFailure())
        FAIL() << where;
    }
  }
}

TEST(read_range, lists_at_most_the_reported_number_of_skipped_records) {
  std::string in = in_header;
  for (int i = 0; i < 25; ++i)
    in += i % 2 ? "A,2021-01-01,1\n" : "A,2021-01-01,x\n";
  const csv_layout layout = std::get<csv_layout>(read_layout(in));
  partial_aggregate into;
  const range_report r = read_range(in, {layout.data_begin, in.size()}, layout,
                                    bad_row_policy::skip, into, 0);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.bad_rows, 13u);
  EXPECT_EQ(r.rows, 12u);
  ASSERT_EQ(r.first_bad.size(), reported_bad_rows);
  for (size_t i = 0; i < r.first_bad.size(); ++i)
    EXPECT_EQ(r.first_bad[i].line, 2 * i)
        << i; // LFs before the record, in the range
  EXPECT_EQ(r.lines, 25u);
}

TEST(pipeline, skipping_finds_no_bad_records_in_a_good_file) {
  const std::string in = in_header + "A,2021-01-01,1\nB,2021-01-01,2\n";
  EXPECT_EQ(result_everywhere(in, bad_row_policy::skip),
            out_header + "A,2021-01-01,1\nB,2021-01-01,2\n");
  const auto seq = test::run_sequential(in, bad_row_policy::skip);
  EXPECT_EQ(seq.outcome.bad_rows, 0u);
  EXPECT_TRUE(seq.outcome.first_bad.empty());
  EXPECT_EQ(seq.outcome.rows, 2u);
}

TEST(combine_reports, numbers_lines_from_the_first_data_line_across_ranges) {
  csv_layout layout;
  layout.first_data_line = 4;
  range_report a;
  a.lines = 10;
  a.rows = 7;
  a.bad_rows = 1;
  a.first_bad.push_back({2, "first"});
  range_report b;
  b.lines = 5;
  b.rows = 3;
  b.first_bad.push_back({0, "second"});
  b.bad_rows = 1;
  range_report c;
  c.error = row_problem{3, "bad"};
  const job_outcome o = combine_reports(layout, {a, b, c, std::nullopt});
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->to_string(), "line 22: bad");
  EXPECT_FALSE(o.needs_sequential_read);
  EXPECT_EQ(o.rows, 10u);
  EXPECT_EQ(o.bad_rows, 2u);
  ASSERT_EQ(o.first_bad.size(), 2u);
  EXPECT_EQ(o.first_bad[0].line, 6u);
  EXPECT_EQ(o.first_bad[1].line, 14u);
}

} // namespace
} // namespace playcount
