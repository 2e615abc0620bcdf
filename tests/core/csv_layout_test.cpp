// core/csv_layout: the header record (docs/CONTRACT.md §1: BOM, column names,
// missing and duplicate columns, empty file).

#include "core/csv_layout.hpp"

#include <gtest/gtest.h>

#include <string>

namespace playcount {
namespace {

csv_layout layout_of(std::string_view file) {
  auto parsed = read_layout(file);
  if (const auto* e = std::get_if<input_error>(&parsed)) {
    ADD_FAILURE() << "unexpected error: " << e->to_string();
    return {};
  }
  return std::get<csv_layout>(parsed);
}

input_error error_of(std::string_view file) {
  auto parsed = read_layout(file);
  if (const auto* e = std::get_if<input_error>(&parsed))
    return *e;
  ADD_FAILURE() << "no error for " << testing::PrintToString(std::string(file));
  return {};
}

// The header must end in the first max_header_bytes: a first line of any
// length is neither read whole (libcsv copies its fields) nor waited for.
TEST(read_layout, needs_the_header_to_end_in_its_first_mebibyte) {
  const std::string header = "Song,Date,Number of Plays";
  const std::string pad(max_header_bytes - header.size() - 1, ' ');
  // Spaces are trimmed from names: the header just fits with its LF.
  EXPECT_EQ(layout_of(pad + header + "\n").data_begin, max_header_bytes);
  const input_error e = error_of(pad + " " + header + "\n");
  EXPECT_EQ(e.line, 1u);
  EXPECT_EQ(e.what.rfind("no header line ends in the first 1 MiB", 0), 0u)
      << e.what;
  // Empty lines before it count too, and their lines are numbered.
  const input_error lines =
      error_of(std::string(max_header_bytes, '\n') + header);
  EXPECT_EQ(lines.line, max_header_bytes + 1);
}

// Of a file still arriving, a header not yet ended is not read as a
// shorter one, nor empty lines as an empty file.
TEST(read_layout, says_when_the_header_of_a_file_still_arriving_is_incomplete) {
  for (std::string_view part :
       {"", "\xEF\xBB", "Song,Da", "\n", "\r\n\nSong,Date,Number of Plays"})
    EXPECT_TRUE(
        std::holds_alternative<header_incomplete>(read_layout(part, false)))
        << testing::PrintToString(std::string(part));
  const auto landed = read_layout("\nSong,Date,Number of Plays\n", false);
  ASSERT_TRUE(std::holds_alternative<csv_layout>(landed));
  EXPECT_EQ(std::get<csv_layout>(landed).first_data_line, 3u);
  // Whole, the same bytes are a header without LF, and an empty file.
  EXPECT_EQ(layout_of("Song,Date,Number of Plays").data_begin, 25u);
  EXPECT_EQ(error_of("\n").what.rfind("empty file", 0), 0u);
}

TEST(read_layout, finds_the_three_columns_in_any_order) {
  const struct {
    const char* header;
    uint32_t song, date, count;
  } cases[] = {
      {"Song,Date,Number of Plays\n", 0, 1, 2},
      {"Song,Number of Plays,Date\n", 0, 2, 1},
      {"Date,Song,Number of Plays\n", 1, 0, 2},
      {"Date,Number of Plays,Song\n", 2, 0, 1},
      {"Number of Plays,Song,Date\n", 1, 2, 0},
      {"Number of Plays,Date,Song\n", 2, 1, 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.header);
    const csv_layout l = layout_of(c.header);
    EXPECT_EQ(l.columns, 3u);
    EXPECT_EQ(l.song, c.song);
    EXPECT_EQ(l.date, c.date);
    EXPECT_EQ(l.count, c.count);
  }
}

TEST(read_layout, allows_and_counts_extra_columns) {
  const csv_layout l =
      layout_of("Id,Song,Artist,Date,Plays,Number of Plays,Notes\nrest");
  EXPECT_EQ(l.columns, 7u);
  EXPECT_EQ(l.song, 1u);
  EXPECT_EQ(l.date, 3u);
  EXPECT_EQ(l.count, 5u);
}

TEST(read_layout, trims_spaces_around_column_names) {
  const csv_layout l = layout_of("  Song , Date,Number of Plays   \n");
  EXPECT_EQ(l.columns, 3u);
  EXPECT_EQ(l.song, 0u);
  EXPECT_EQ(l.date, 1u);
  EXPECT_EQ(l.count, 2u);
  const csv_layout q =
      layout_of("\" Song \",\"Date  \",\"  Number of Plays\"\n");
  EXPECT_EQ(q.columns, 3u);
  EXPECT_EQ(q.count, 2u);
}

// Found with the csv_ranges fuzz property (libcsv strict disagreed): the
// header was read with libcsv's default blank skipping, the records without.
TEST(read_layout, rejects_a_quote_after_spaces_like_a_data_record_does) {
  for (const char* file :
       {"Song, \"Date\",Number of Plays\n", "\"Song\" ,Date,Number of Plays\n",
        "Song,Date,\t\"Number of Plays\"\n"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(file)));
    const input_error e = error_of(file);
    EXPECT_EQ(e.line, 1u);
    EXPECT_NE(e.what.find("not valid CSV"), std::string::npos) << e.what;
  }
}

TEST(read_layout, trims_only_spaces_not_tabs_around_column_names) {
  for (const char* file :
       {"\tSong,Date,Number of Plays\n", "Song,Date\t,Number of Plays\n",
        "Song,Date,\"Number of Plays\t\"\n"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(file)));
    const input_error e = error_of(file);
    EXPECT_EQ(e.line, 1u);
    EXPECT_NE(e.what.find("missing column"), std::string::npos) << e.what;
  }
}

TEST(read_layout, reads_quoted_column_names) {
  const csv_layout l =
      layout_of("\"Song\",\"Date\",\"Number of Plays\",\"Listener, Id\"\n");
  EXPECT_EQ(l.columns, 4u);
  EXPECT_EQ(l.song, 0u);
  EXPECT_EQ(l.date, 1u);
  EXPECT_EQ(l.count, 2u);
  const csv_layout e =
      layout_of("\"a,b\",\"x\"\"y\",Song,Date,Number of Plays\n");
  EXPECT_EQ(e.columns, 5u);
  EXPECT_EQ(e.song, 2u);
}

TEST(read_layout, needs_the_exact_names_after_trimming) {
  for (const char* header :
       {"song,Date,Number of Plays\n", "Song,date,Number of Plays\n",
        "Song,Date,Number of plays\n", "Song,Date,NumberofPlays\n",
        "Song,Date,Number  of Plays\n", "Songs,Date,Number of Plays\n"}) {
    SCOPED_TRACE(header);
    const input_error e = error_of(header);
    EXPECT_EQ(e.line, 1u);
    EXPECT_NE(e.what.find("missing column"), std::string::npos) << e.what;
  }
}

TEST(read_layout, skips_a_utf8_byte_order_mark) {
  const std::string file =
      "\xEF\xBB\xBFSong,Date,Number of Plays\nA,2021-01-01,1\n";
  const csv_layout l = layout_of(file);
  EXPECT_EQ(l.columns, 3u);
  EXPECT_EQ(l.song, 0u);
  EXPECT_EQ(l.data_begin, file.find("A,"));
  EXPECT_EQ(l.first_data_line, 2u);
}

TEST(read_layout, names_the_missing_column_on_line_1) {
  const struct {
    const char* header;
    const char* missing;
  } cases[] = {
      {"Date,Number of Plays\n", "Song"},
      {"Song,Number of Plays\n", "Date"},
      {"Song,Date\n", "Number of Plays"},
      {"Song,Date,Plays\n", "Number of Plays"},
      {"a,b,c\n", "Song"},
      {"Song\n", "Date"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.header);
    const std::string message = error_of(c.header).to_string();
    EXPECT_EQ(message.rfind(std::string("line 1: missing column \"") +
                                c.missing + "\"",
                            0),
              0u)
        << message;
  }
}

TEST(read_layout, rejects_a_duplicated_column) {
  for (const char* header :
       {"Song,Date,Number of Plays,Song\n", "Song,Date,Date,Number of Plays\n",
        "Number of Plays,Song, Number of Plays ,Date\n"}) {
    SCOPED_TRACE(header);
    const input_error e = error_of(header);
    EXPECT_EQ(e.line, 1u);
    EXPECT_NE(e.what.find("duplicate column"), std::string::npos) << e.what;
  }
}

TEST(read_layout, rejects_an_empty_file_on_line_1) {
  for (const char* file : {"", "\xEF\xBB\xBF"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(file)));
    const input_error e = error_of(file);
    EXPECT_EQ(e.line, 1u);
    EXPECT_NE(e.what.find("empty file"), std::string::npos) << e.what;
  }
}

// A file of empty lines has no header at all: it is an empty file, reported
// on line 1 like the others (the brief for this suite; docs/CONTRACT.md §1
// counts the header as line 1).
TEST(read_layout, rejects_a_file_of_only_empty_lines_as_empty_on_line_1) {
  for (const char* file :
       {"\n", "\r\n", "\n\n\n", "\r\n\r\n", "\xEF\xBB\xBF\n\n"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(file)));
    const input_error e = error_of(file);
    EXPECT_NE(e.what.find("empty file"), std::string::npos) << e.what;
    EXPECT_EQ(e.line, 1u) << e.to_string();
  }
}

TEST(read_layout, reads_a_crlf_header) {
  const std::string file = "Song,Date,Number of Plays\r\nA,2021-01-01,1\r\n";
  const csv_layout l = layout_of(file);
  EXPECT_EQ(l.columns, 3u);
  EXPECT_EQ(l.count, 2u);
  EXPECT_EQ(l.data_begin, file.find("A,"));
  EXPECT_EQ(l.first_data_line, 2u);
}

TEST(read_layout, reads_a_header_with_no_line_end_and_no_data) {
  const std::string file = "Song,Date,Number of Plays";
  const csv_layout l = layout_of(file);
  EXPECT_EQ(l.columns, 3u);
  EXPECT_EQ(l.data_begin, file.size());
  EXPECT_EQ(l.first_data_line, 2u);
  const std::string crlf = "Song,Date,Number of Plays\r";
  const csv_layout c = layout_of(crlf);
  EXPECT_EQ(c.columns, 3u);
  EXPECT_EQ(c.count, 2u);
  EXPECT_EQ(c.data_begin, crlf.size());
}

TEST(read_layout, skips_empty_lines_before_the_header_and_counts_them) {
  const std::string file =
      "\n\r\n\nSong,Date,Number of Plays\nA,2021-01-01,1\n";
  const csv_layout l = layout_of(file);
  EXPECT_EQ(l.data_begin, file.find("A,"));
  EXPECT_EQ(l.first_data_line, 5u);
  const input_error e = error_of("\n\nSong,Date\n");
  EXPECT_EQ(e.line, 3u) << e.to_string();
}

TEST(read_layout, counts_the_lines_of_a_header_with_a_quoted_line_break) {
  const std::string file =
      "Song,\"Multi\nLine\r\nNote\",Date,Number of Plays\nA,x,2021-01-01,1\n";
  const csv_layout l = layout_of(file);
  EXPECT_EQ(l.columns, 4u);
  EXPECT_EQ(l.date, 2u);
  EXPECT_EQ(l.data_begin, file.find("A,"));
  EXPECT_EQ(l.first_data_line, 4u);
}

// Records end in LF or CRLF (docs/CONTRACT.md §1): a CR alone does not end the
// header (libcsv would end a record there, giving the layout columns the
// records do not have, or a CR-only file read as a header with no data).
TEST(read_layout, rejects_a_header_holding_a_lone_cr_on_line_1) {
  for (const char* file :
       {"Song,Date\r,Number of Plays\nA,2021-01-01,1\n",
        "Song,Date,Number of Plays\rA,2021-01-01,1\rB,2021-01-02,2\r",
        "Song\rX,Date,Number of Plays\n"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(file)));
    auto parsed = read_layout(file);
    if (const auto* l = std::get_if<csv_layout>(&parsed)) {
      ADD_FAILURE() << "accepted as " << l->columns << " columns (song "
                    << l->song << ", date " << l->date << ", count " << l->count
                    << "), data from byte " << l->data_begin;
      continue;
    }
    EXPECT_EQ(std::get<input_error>(parsed).line, 1u)
        << std::get<input_error>(parsed).to_string();
  }
}

TEST(read_layout, reads_a_cr_inside_a_quoted_header_name) {
  const csv_layout l = layout_of(
      "Song,\"Ex\rtra\",Date,Number of Plays\r\nA,x,2021-01-01,1\r\n");
  EXPECT_EQ(l.columns, 4u);
  EXPECT_EQ(l.date, 2u);
  EXPECT_EQ(l.first_data_line, 2u);
}

TEST(read_layout, rejects_a_header_that_is_not_valid_csv) {
  for (const char* file :
       {"Song,Da\"te,Number of Plays\n", "\"Song,Date,Number of Plays\n",
        "\"Song\"x,Date,Number of Plays\n"}) {
    SCOPED_TRACE(file);
    const input_error e = error_of(file);
    EXPECT_EQ(e.line, 1u);
  }
}

} // namespace
} // namespace playcount
