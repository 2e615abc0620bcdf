// The range reader's fast path for quoted records against the slow path it
// stands in for. A record whose fields are each unquoted without a quote or
// wholly quoted without a quote inside is read from its block masks; every
// other record is split by split_record. Here a model reads the same bytes
// with split_record alone (records end at LFs outside quotes, one CR before
// the LF dropped, empty lines skipped), and read_range must give the same
// totals, the same bad records with the same lines and messages.

#include "core/fields.hpp"
#include "core/record_parser.hpp"
#include "core/result_writer.hpp"
#include "support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <iterator>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace playcount {
namespace {

using namespace playcount::test;

struct model_outcome {
  std::string output;
  uint64_t rows = 0;
  uint64_t bad_rows = 0;
  std::vector<row_problem> first_bad; // the first reported_bad_rows
  size_t simple_quoted = 0;           // records the fast path takes with quotes
};

// Whether split_record's fields of `record` are the fast path's: each field
// as written holds no quote, or is two bytes or more with a quote first and
// last and none between.
bool simply_quoted(std::string_view record) {
  if (record.find('"') == std::string_view::npos)
    return false;
  bool in = false;
  size_t begin = 0;
  for (size_t i = 0; i <= record.size(); ++i) {
    if (i < record.size() && record[i] == '"')
      in = !in;
    if (i == record.size() || (record[i] == ',' && !in)) {
      const std::string_view f = record.substr(begin, i - begin);
      const size_t quotes =
          static_cast<size_t>(std::count(f.begin(), f.end(), '"'));
      const bool wholly =
          f.size() >= 2 && f.front() == '"' && f.back() == '"' && quotes == 2;
      if (quotes != 0 && !wholly)
        return false;
      begin = i + 1;
    }
  }
  return true;
}

// The range [layout.data_begin, file end) read with split_record alone,
// skipping bad records.
model_outcome model_read(std::string_view file, const csv_layout& layout) {
  model_outcome out;
  partial_aggregate totals;
  std::deque<std::string> names; // the rows' names, alive until added
  std::vector<pending_row> batch;
  const auto add_batch = [&] {
    out.rows += totals.add_rows(batch.data(), batch.size(), 0);
    batch.clear();
  };
  std::vector<std::string_view> fields;
  std::string scratch;
  uint64_t line = 0; // LFs from the range's start to the record's
  const auto bad = [&](std::string what) {
    if (out.first_bad.size() < reported_bad_rows)
      out.first_bad.push_back({line, std::move(what)});
    ++out.bad_rows;
  };
  const std::string_view data = file.substr(layout.data_begin);
  size_t begin = 0;
  while (begin < data.size()) {
    // The record's end: the first LF outside quotes, or the end of the data.
    size_t end = begin;
    bool in = false;
    while (end < data.size() && (data[end] != '\n' || in)) {
      in = in != (data[end] == '"');
      ++end;
    }
    const std::string_view record = strip_cr(data.substr(begin, end - begin));
    const uint64_t lines_inside = static_cast<uint64_t>(
        std::count(data.begin() + static_cast<long>(begin),
                   data.begin() + static_cast<long>(end), '\n'));
    if (!record.empty()) {
      const split_outcome s = split_record(record, fields, scratch);
      if (s.problem != record_problem::none) {
        bad(describe(s, record));
      } else if (fields.size() != layout.columns) {
        bad("expected " + std::to_string(layout.columns) + " fields, found " +
            std::to_string(fields.size()));
      } else {
        const std::string_view date_text = fields[layout.date];
        const std::string_view count_text = fields[layout.count];
        const parsed_date d = parse_date(date_text);
        const parsed_count c = parse_count(count_text);
        if (d.status != date_status::ok) {
          bad(describe(d.status, date_text));
        } else if (c.status != count_status::ok) {
          bad(describe(c.status, count_text));
        } else {
          out.simple_quoted += simply_quoted(record);
          const std::string& name = names.emplace_back(fields[layout.song]);
          batch.push_back({name, song_hash(name), d.day, c.value,
                           layout.data_begin + begin});
          if (batch.size() == partial_aggregate::max_batch)
            add_batch();
        }
      }
    }
    line += lines_inside + (end < data.size());
    begin = end + 1;
  }
  add_batch();
  out.output = format_result(totals);
  return out;
}

// read_range over the whole data, skipping and failing, against the model.
void expect_like_the_model(std::string_view bytes, const std::string& where,
                           size_t* simple_quoted = nullptr) {
  const guarded_bytes guarded(bytes);
  const std::string_view file = guarded.view();
  auto parsed = read_layout(file);
  ASSERT_TRUE(std::holds_alternative<csv_layout>(parsed)) << where;
  const csv_layout layout = std::get<csv_layout>(parsed);
  const model_outcome want = model_read(file, layout);
  if (simple_quoted != nullptr)
    *simple_quoted += want.simple_quoted;
  const byte_range all{layout.data_begin, file.size()};

  partial_aggregate skipping;
  const range_report got =
      read_range(file, all, layout, bad_row_policy::skip, skipping, 0);
  ASSERT_FALSE(got.error) << where << ": " << got.error->what;
  EXPECT_EQ(got.rows, want.rows) << where;
  EXPECT_EQ(got.bad_rows, want.bad_rows) << where;
  ASSERT_EQ(got.first_bad.size(), want.first_bad.size()) << where;
  for (size_t i = 0; i < got.first_bad.size(); ++i) {
    EXPECT_EQ(got.first_bad[i].line, want.first_bad[i].line) << where;
    EXPECT_EQ(got.first_bad[i].what, want.first_bad[i].what) << where;
  }
  EXPECT_EQ(format_result(skipping), want.output) << where;

  partial_aggregate failing;
  const range_report stopped =
      read_range(file, all, layout, bad_row_policy::fail, failing, 0);
  if (want.first_bad.empty()) {
    EXPECT_FALSE(stopped.error) << where << ": " << stopped.error->what;
  } else {
    ASSERT_TRUE(stopped.error) << where;
    EXPECT_EQ(stopped.error->line, want.first_bad[0].line) << where;
    EXPECT_EQ(stopped.error->what, want.first_bad[0].what) << where;
  }
}

std::string printable(std::string_view s) {
  return testing::PrintToString(std::string(s));
}

// Each record alone after a filler record that shifts it across two 64-byte
// block edges, with LF, CRLF and no line end.
TEST(quoted_records,
     read_like_split_record_at_every_offset_around_block_edges) {
  const char* const records[] = {
      // simple quoting: the fast path
      R"("Song 1","2020-01-01","12")",
      R"("Song 1",2020-01-01,"12")",
      R"(Song 1,"2020-01-01",12)",
      R"("a,b","2020-01-01","1")",
      R"(",","2020-01-01","1")",
      R"("","2020-01-01","1")",
      "\"a\nb\",\"2020-01-01\",\"1\"",
      "\"a\r\nb\",\"2020-01-01\",\"1\"",
      "\"a\r\",\"2020-01-01\",\"1\"",
      R"(,"2020-01-01","1")",
      R"("Song 1"," 2020-01-01 ","  7 ")",
      R"("Song 1","2020-01-01","123456789")",
      R"("Song 1","2020-01-01","12345678901234567890")",
      R"("Song 1","2020-02-30","1")",
      R"("Song 1","2020-01-01","")",
      R"("Song 1","2020-01-01","-1")",
      R"("Song 1","2020-01-01","1x")",
      R"("Song 1","2020-01-01",)",
      "\"Song 1\",\"2020-01-01\",\"1\r\"",
      // doubled quotes: the slow path
      R"("a""b","2020-01-01","1")",
      R"("""","2020-01-01","1")",
      R"("Song 1","2020-01-01","1""")",
      // quoting errors in any column
      R"("a"b,"2020-01-01","1")",
      R"("a" ,"2020-01-01","1")",
      R"(a"b","2020-01-01","1")",
      R"(a","2020-01-01","1")",
      R"("Song 1","2020-01-01","1"x)",
      R"("Song 1","2020-01-01",1")",
      R"("Song 1",2020"-01-01","1")",
      R"("Song 1",""2020-01-01,"1")",
      R"("""a","2020-01-01","1")",
      // a stray quote just before a quoted comma or LF, which ends no field
      R"(x",y","2020-01-01","1")",
      R"("Song 1",x",y","1")",
      "x\"\ny\",\"2020-01-01\",\"1\"",
      R"(",x","2020-01-01","1")",
      // a closing quote just after a quoted comma or LF, which starts none
      R"("a,"b,"2020-01-01","1")",
      "\"a\n\"b,\"2020-01-01\",\"1\"",
      // wrong number of fields
      R"("Song 1","2020-01-01")",
      R"("Song 1","2020-01-01","1","")",
      R"("Song 1","2020-01-01,1")",
      // unclosed
      R"("Song 1","2020-01-01","1)",
      R"("Song 1,"2020-01-01","1")",
  };
  const char* const ends[] = {"\n", "\r\n", ""};
  for (const char* record : records)
    for (const char* end : ends)
      for (size_t shift = 0; shift < 130; ++shift) {
        const std::string bytes =
            "Song,Date,Number of Plays\nF" + std::string(shift, 'f') +
            ",2021-01-01,1\n" + record + end + (*end ? "Z,2021-01-02,2\n" : "");
        expect_like_the_model(bytes, printable(record) + " + " +
                                         printable(end) + ", shifted by " +
                                         std::to_string(shift));
        if (HasFailure())
          return;
      }
}

// One field as written in a record: mostly what the fast path takes, now
// and then doubled quotes, stray quotes, text after a closing quote, a lone
// quote.
std::string random_field(std::mt19937& rng, std::string value) {
  const unsigned kind = rng() % 100;
  if (kind < 35)
    return value;
  if (kind < 75)
    return "\"" + value + "\"";
  if (kind < 82)
    return test::quoted(value + "\"" + value);
  if (kind < 86)
    return "";
  if (kind < 90)
    return "\"\"";
  if (kind < 94)
    return "\"" + value + "\"" + value.substr(0, 1 + rng() % 2);
  if (kind < 98)
    return value.substr(0, value.size() / 2) + "\"" +
           value.substr(value.size() / 2);
  return "\"";
}

std::string random_text(std::mt19937& rng, size_t max) {
  static const char alphabet[] = "abcdefghij KLMNOP 0123456789,,\r\n\t-";
  std::string s(rng() % (max + 1), ' ');
  for (char& c : s)
    c = alphabet[rng() % (sizeof alphabet - 1)];
  if (rng() % 2) // most names without separators, as in real files
    for (char& c : s)
      if (c == ',' || c == '\r' || c == '\n')
        c = 'x';
  return s;
}

// Random files of every mix of quoted and unquoted fields, doubled quotes,
// stray quotes, CR, empty fields, commas and line ends inside quotes, with
// the named columns anywhere among others.
TEST(quoted_records, read_like_split_record_in_random_files) {
  size_t simple_quoted = 0;
  for (uint32_t seed = 1; seed <= 1500; ++seed) {
    std::mt19937 rng(seed);
    const uint32_t columns = 3 + rng() % 3;
    std::vector<uint32_t> role(columns); // 0 song, 1 date, 2 count, 3 other
    for (uint32_t i = 0; i < columns; ++i)
      role[i] = i < 3 ? i : 3;
    std::shuffle(role.begin(), role.end(), rng);
    static const char* const names[] = {"Song", "Date", "Number of Plays",
                                        "Other"};
    std::string bytes;
    for (uint32_t i = 0; i < columns; ++i)
      bytes += std::string(i ? "," : "") + names[role[i]];
    bytes += rng() % 2 ? "\n" : "\r\n";
    const size_t records = 1 + rng() % 60;
    for (size_t r = 0; r < records; ++r) {
      if (rng() % 30 == 0)
        bytes += rng() % 2 ? "\n" : "\r\n";
      // Now and then a field too many or too few.
      const uint32_t n = rng() % 25 == 0 ? columns + rng() % 3 - 1 : columns;
      for (uint32_t i = 0; i < n; ++i) {
        std::string value;
        switch (i < columns ? role[i] : 3) {
        case 0:
          value = "S" + random_text(rng, rng() % 4 == 0 ? 90 : 12);
          break;
        case 1:
          value = rng() % 20 == 0 ? "2021-02-29"
                                  : ymd(2021, 1 + static_cast<int>(rng() % 12),
                                        1 + static_cast<int>(rng() % 28));
          if (rng() % 20 == 0)
            value = " " + value + "\t";
          break;
        case 2:
          value = std::to_string(rng() % (rng() % 3 == 0 ? 1000000000 : 100));
          if (rng() % 30 == 0)
            value += "x";
          break;
        default:
          value = random_text(rng, 20);
        }
        bytes += (i ? "," : "") + random_field(rng, value);
      }
      if (r + 1 < records || rng() % 2)
        bytes += rng() % 2 ? "\n" : "\r\n";
    }
    expect_like_the_model(bytes, "seed " + std::to_string(seed),
                          &simple_quoted);
    if (HasFailure())
      return;
  }
  // The generator must reach the fast path often.
  EXPECT_GT(simple_quoted, 5000u);
}

// Files of tokens in any order: quotes, commas, CR and LF anywhere, next to
// pieces of good records, so that records the fast path must refuse lie
// close to ones it takes.
TEST(quoted_records, read_like_split_record_in_token_soup) {
  static const char* const tokens[] = {
      "\"",         "\"",
      ",",          ",",
      ",",          "\r",
      "\n",         "\r\n",
      "\"\"",       "S",
      "\"S\"",      "5",
      "\"5\"",      "\" 5\"",
      "x\"",        "\"\"\"",
      "2021-01-01", "\"2021-01-01\"",
      "\"S,\r\n\"", "\n\"S\",\"2021-01-02\",\"7\"\r\n"};
  size_t simple_quoted = 0;
  for (uint32_t seed = 1; seed <= 3000; ++seed) {
    std::mt19937 rng(seed);
    std::string bytes = seed % 2 ? "Song,Date,Number of Plays\n"
                                 : "Date,Song,x,Number of Plays\r\n";
    for (size_t n = rng() % 120; n > 0; --n)
      bytes += tokens[rng() % std::size(tokens)];
    expect_like_the_model(
        bytes, "seed " + std::to_string(seed) + ": " + printable(bytes),
        &simple_quoted);
    if (HasFailure())
      return;
  }
  EXPECT_GT(simple_quoted, 500u);
}

} // namespace
} // namespace playcount
