// core/result_writer: the result CSV (docs/CONTRACT.md §1 output rules),
// written to disk all at once or not at all.

#include "core/hash.hpp"
#include "core/result_writer.hpp"

#include "support.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace playcount {
namespace {

void add_row(partial_aggregate& p, std::string_view name, day_number day,
             int64_t count, uint64_t offset) {
  const pending_row r{name, test::song_hash(name), day, count, offset};
  ASSERT_EQ(p.add_rows(&r, 1, 0), 1u);
}

/// A fresh directory under /tmp, removed with what is left in it.
class temp_dir {
public:
  temp_dir() {
    char name[] = "/tmp/playcount-writer-XXXXXX";
    path_ = mkdtemp(name);
  }
  ~temp_dir() {
    for (const auto& f : files())
      ::unlink((path_ + "/" + f).c_str());
    ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    if (DIR* d = opendir(path_.c_str())) {
      while (dirent* e = readdir(d))
        if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
          out.push_back(e->d_name);
      closedir(d);
    }
    return out;
  }

private:
  std::string path_;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(append_csv_field, quotes_a_field_holding_a_comma_quote_cr_or_lf) {
  const struct {
    std::string field;
    std::string written;
  } cases[] = {
      {"plain", "plain"},
      {"", ""},
      {" spaced ", " spaced "},
      {"tab\there", "tab\there"},
      {"a,b", "\"a,b\""},
      {"say \"hi\"", "\"say \"\"hi\"\"\""},
      {"\"", "\"\"\"\""},
      {"cr\r", "\"cr\r\""},
      {"l\nf", "\"l\nf\""},
      {"\r\n", "\"\r\n\""},
      {std::string("n\0l", 3), std::string("n\0l", 3)},
      {"\xC3\xA9", "\xC3\xA9"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::PrintToString(c.field));
    std::string out = "x";
    append_csv_field(out, c.field);
    EXPECT_EQ(out, "x" + c.written);
  }
}

TEST(format_result, gives_only_the_header_for_no_songs) {
  EXPECT_EQ(format_result(partial_aggregate{}),
            "Song,Date,Total Number of Plays for Date\n");
  EXPECT_EQ(result_header, "Song,Date,Total Number of Plays for Date\n");
}

TEST(format_result, writes_songs_by_first_offset_and_days_ascending) {
  partial_aggregate p;
  add_row(p, "b,\"c\"", 20000, 3, 30);
  add_row(p, "a", 20001, 1, 10);
  add_row(p, "a", 19999, 2, 11);
  add_row(p, "z\nz", 0, 0, 20);
  EXPECT_EQ(format_result(p), std::string(result_header) +
                                  "a,2024-10-03,2\n"
                                  "a,2024-10-05,1\n"
                                  "\"z\nz\",1970-01-01,0\n"
                                  "\"b,\"\"c\"\"\",2024-10-04,3\n");
}

// Pieces of 4 MB are formatted side by side and written in order: the
// bytes do not depend on how many threads format them.
TEST(write_result, writes_the_same_bytes_with_any_number_of_threads) {
  temp_dir dir;
  partial_aggregate totals;
  std::vector<std::string> names;
  for (int i = 0; i < 150000; ++i)
    names.push_back("A song with a longish name, number " + std::to_string(i));
  std::vector<pending_row> rows;
  std::mt19937 rng(5);
  for (int i = 0; i < 600000; ++i) {
    const std::string& name = names[rng() % names.size()];
    rows.push_back({name, test::song_hash(name),
                    static_cast<day_number>(rng() % 500), i % 13,
                    static_cast<uint64_t>(i)});
    if (rows.size() == partial_aggregate::max_batch) {
      ASSERT_EQ(totals.add_rows(rows.data(), rows.size(), 0), rows.size());
      rows.clear();
    }
  }
  ASSERT_EQ(totals.add_rows(rows.data(), rows.size(), 0), rows.size());
  const std::string expected = format_result(totals);
  ASSERT_GT(expected.size(), size_t{12} << 20); // several pieces
  for (unsigned threads : {1u, 2u, 3u}) {
    const std::string path = dir.path() + "/result.csv";
    phase_meter pieces;
    const auto written = write_result(totals, path, false, threads, &pieces);
    ASSERT_TRUE(written) << written.error().text();
    EXPECT_TRUE(read_all(path) == expected) << threads << " threads";
    // Progress: about 4 MiB of text a piece, all of them written.
    EXPECT_GE(pieces.total, expected.size() / (5u << 20)) << threads;
    EXPECT_EQ(pieces.done, pieces.total) << threads;
  }
}

TEST(write_result, writes_the_same_bytes_as_format_result) {
  temp_dir dir;
  std::mt19937 rng(3);
  const std::string csv = test::random_doc(rng).assemble();
  const test::run_result r = test::run_sequential(csv);
  ASSERT_FALSE(r.error);
  const csv_layout layout = std::get<csv_layout>(read_layout(csv));
  auto seq = read_sequentially(csv, layout, bad_row_policy::fail);
  const std::string path = dir.path() + "/result.csv";
  for (bool durable : {false, true}) {
    const auto written = write_result(seq.totals, path, durable);
    ASSERT_TRUE(written) << written.error().text();
    EXPECT_EQ(read_all(path), format_result(seq.totals));
    EXPECT_EQ(read_all(path), r.output);
  }
  EXPECT_EQ(dir.files(), std::vector<std::string>{"result.csv"})
      << "a temporary file is left";
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(write_result, writes_a_result_larger_than_its_write_buffer) {
  temp_dir dir;
  partial_aggregate p;
  std::vector<pending_row> rows;
  std::vector<std::string> names;
  for (int i = 0; i < 3000; ++i)
    names.push_back("song number " + std::to_string(i) + ", with a comma");
  for (int i = 0; i < 3000; ++i)
    for (day_number d = 0; d < 20; ++d)
      add_row(p, names[static_cast<size_t>(i)], 18000 + d * 3, i + d,
              static_cast<uint64_t>(i));
  const std::string expected = format_result(p);
  ASSERT_GT(expected.size(), 2u << 20);
  const std::string path = dir.path() + "/big.csv";
  const auto written = write_result(p, path, false);
  ASSERT_TRUE(written) << written.error().text();
  EXPECT_TRUE(read_all(path) == expected);
}

TEST(write_result, replaces_an_existing_file_whole) {
  temp_dir dir;
  const std::string path = dir.path() + "/result.csv";
  {
    std::ofstream old(path);
    old << std::string(100000, 'o');
  }
  partial_aggregate p;
  add_row(p, "A", 0, 1, 0);
  const auto written = write_result(p, path, false);
  ASSERT_TRUE(written) << written.error().text();
  EXPECT_EQ(read_all(path), std::string(result_header) + "A,1970-01-01,1\n");
}

TEST(write_result, leaves_no_file_when_the_directory_is_missing) {
  temp_dir dir;
  const std::string missing = dir.path() + "/missing";
  const std::string path = missing + "/result.csv";
  partial_aggregate p;
  add_row(p, "A", 0, 1, 0);
  const auto written = write_result(p, path, true);
  ASSERT_FALSE(written);
  const failure& why = written.error();
  // Said of the directory at fault, not of a temporary file's name.
  EXPECT_EQ(why.text(),
            "cannot write into " + missing + ": the directory does not exist");
  struct stat st {};
  EXPECT_NE(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(dir.files().empty());
}

TEST(write_result, refuses_a_directory_as_its_output) {
  temp_dir dir;
  const std::string path = dir.path() + "/taken";
  ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
  partial_aggregate p;
  add_row(p, "A", 0, 1, 0);
  const auto written = write_result(p, path, false);
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().text(),
            "cannot write " + path + ": it is a directory");
  EXPECT_EQ(dir.files(), std::vector<std::string>{"taken"});
  ::rmdir(path.c_str());
}

TEST(write_output, leaves_nothing_behind_when_the_final_rename_fails) {
  temp_dir dir;
  // The path becomes a non-empty directory while the text is written: the
  // result cannot be renamed over it.
  const std::string path = dir.path() + "/taken";
  const auto written = write_output(path, false, [&](const text_sink& sink) {
    EXPECT_EQ(mkdir(path.c_str(), 0755), 0);
    std::ofstream keep(path + "/keep");
    keep << "x";
    return sink("some text\n");
  });
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().action, "cannot rename");
  EXPECT_EQ(written.error().to, path);
  EXPECT_EQ(dir.files(), std::vector<std::string>{"taken"})
      << "a temporary file is left";
  ::unlink((path + "/keep").c_str());
  ::rmdir(path.c_str());
}

TEST(check_output, says_how_each_kind_of_path_is_written) {
  temp_dir dir;
  const auto kind = [](const std::string& path) {
    auto target = check_output(path);
    EXPECT_TRUE(target) << path << ": " << target.error().text();
    return target ? target->kind : output_kind::replace;
  };
  EXPECT_EQ(kind("-"), output_kind::standard_output);
  EXPECT_EQ(kind("/dev/null"), output_kind::direct);
  EXPECT_EQ(kind(dir.path() + "/new.csv"), output_kind::replace);
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(kind(fifo), output_kind::direct);
  // A link to a regular file: the file is replaced, the link stays.
  const std::string file = dir.path() + "/file.csv";
  { std::ofstream f(file); }
  const std::string link = dir.path() + "/link.csv";
  ASSERT_EQ(symlink(file.c_str(), link.c_str()), 0);
  auto target = check_output(link);
  ASSERT_TRUE(target);
  EXPECT_EQ(target->kind, output_kind::replace);
  char* real = realpath(file.c_str(), nullptr);
  EXPECT_EQ(target->path, real);
  free(real);
  // A link to nothing, and a regular file as a directory.
  const std::string dangling = dir.path() + "/dangling";
  ASSERT_EQ(symlink((dir.path() + "/none").c_str(), dangling.c_str()), 0);
  ASSERT_FALSE(check_output(dangling));
  EXPECT_EQ(check_output(dangling).error().text(),
            "cannot write " + dangling + ": it is a symbolic link to nothing");
  ASSERT_FALSE(check_output(file + "/out.csv"));
  EXPECT_EQ(check_output(file + "/out.csv").error().text(),
            "cannot write into " + file + ": it is not a directory");
}

TEST(write_result, leaves_no_file_when_the_directory_is_not_writable) {
  if (geteuid() == 0)
    GTEST_SKIP() << "root writes anywhere";
  temp_dir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0555), 0);
  partial_aggregate p;
  add_row(p, "A", 0, 1, 0);
  const auto written = write_result(p, dir.path() + "/result.csv", false);
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, EACCES);
  chmod(dir.path().c_str(), 0755);
  EXPECT_TRUE(dir.files().empty());
}

} // namespace
} // namespace playcount
