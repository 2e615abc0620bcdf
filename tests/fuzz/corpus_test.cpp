// Every file of tests/fuzz/corpus/<target>/ through its fuzz check: the seeds
// and every input a fuzzer once broke a property with (regression-* files),
// in every build, with or without clang.

#include "checks.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace playcount::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> corpus_files(const char* target) {
  std::vector<fs::path> out;
  const fs::path dir =
      fs::path(PLAYCOUNT_SOURCE_DIR) / "tests" / "fuzz" / "corpus" / target;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file())
      out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

class fuzz_corpus : public testing::TestWithParam<target> {};

} // namespace

// The target by its name in test names and messages.
void PrintTo(const target& t, std::ostream* os) {
  *os << t.name;
}

namespace {

TEST_P(fuzz_corpus, every_seed_and_regression_input_keeps_the_property) {
  const target t = GetParam();
  const auto files = corpus_files(t.name);
  EXPECT_GE(files.size(), 5u) << "the corpus of " << t.name << " is missing";
  size_t regressions = 0;
  for (const fs::path& file : files) {
    regressions += file.filename().string().rfind("regression-", 0) == 0;
    const std::string problem = t.check(read_file(file));
    EXPECT_EQ(problem, "") << file;
  }
  RecordProperty("regressions", static_cast<int>(regressions));
}

INSTANTIATE_TEST_SUITE_P(targets, fuzz_corpus, testing::ValuesIn(targets),
                         [](const testing::TestParamInfo<target>& info) {
                           return std::string(info.param.name);
                         });

} // namespace
} // namespace playcount::fuzz
