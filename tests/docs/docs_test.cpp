// The documentation as a reader follows it: README.md is a front page whose
// details live in docs/, so a heading renamed or a section moved breaks links
// that no build would notice; and docs/configuration.md promises every option
// of every command, which drifts as options are added.

#include "tests/support/process.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace playcount {
namespace {

namespace fs = std::filesystem;

const fs::path source_dir = PLAYCOUNT_SOURCE_DIR;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The Markdown files a reader gets to from the front page.
std::vector<fs::path> markdown_files() {
  std::vector<fs::path> files{source_dir / "README.md",
                              source_dir / "bench" / "README.md",
                              source_dir / "tests" / "sanitizers" / "TSAN.md"};
  for (const auto& entry : fs::directory_iterator(source_dir / "docs"))
    if (entry.path().extension() == ".md")
      files.push_back(entry.path());
  return files;
}

/// The text outside fenced code blocks, line by line: a `# HELP` line of a
/// metrics sample is not a heading, and a `](` in a code block is no link.
std::vector<std::string> prose_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  bool fenced = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0)
      fenced = !fenced;
    else if (!fenced)
      lines.push_back(line);
  }
  return lines;
}

/// GitHub's anchors for the headings of a file: lower case, punctuation
/// dropped, spaces as hyphens, repeats numbered. Non-ASCII bytes are kept
/// (GitHub keeps letters and drops symbols; no heading of ours has either).
std::set<std::string> anchors_of(const fs::path& path) {
  static const std::regex heading(R"(^#{1,6} +(.*?)\s*$)");
  std::set<std::string> anchors;
  std::map<std::string, int> seen;
  for (const auto& line : prose_lines(read_text(path))) {
    std::smatch m;
    if (!std::regex_match(line, m, heading))
      continue;
    std::string anchor;
    for (const unsigned char c : m[1].str()) {
      if (std::isalnum(c) || c == '-' || c == '_' || c >= 0x80)
        anchor += static_cast<char>(std::tolower(c));
      else if (c == ' ')
        anchor += '-';
    }
    const int n = seen[anchor]++;
    anchors.insert(n == 0 ? anchor : anchor + "-" + std::to_string(n));
  }
  return anchors;
}

TEST(docs, every_relative_link_names_a_file_and_a_heading_that_exist) {
  static const std::regex code_span("`[^`]*`");
  static const std::regex link(R"(\]\(([^)\s]+)\))");
  static const std::regex scheme("^[a-z]+:");
  size_t links = 0;
  for (const auto& file : markdown_files()) {
    const auto lines = prose_lines(read_text(file));
    for (size_t i = 0; i < lines.size(); ++i) {
      const auto line = std::regex_replace(lines[i], code_span, "");
      for (std::sregex_iterator it(line.begin(), line.end(), link), end;
           it != end; ++it) {
        const std::string target = (*it)[1];
        if (std::regex_search(target, scheme))
          continue;
        ++links;
        const auto hash = target.find('#');
        const auto name = target.substr(0, hash);
        const auto path = name.empty() ? file : file.parent_path() / name;
        const auto where =
            fs::relative(file, source_dir).string() + ": " + target;
        if (!fs::exists(path)) {
          ADD_FAILURE() << where << ": no such file";
          continue;
        }
        if (hash != std::string::npos && path.extension() == ".md") {
          EXPECT_TRUE(anchors_of(path).count(target.substr(hash + 1)))
              << where << ": no such heading";
        }
      }
    }
  }
  // The front page links to docs/ at the very least.
  EXPECT_GT(links, 20u);
}

TEST(docs, the_configuration_reference_names_every_option_of_every_help_text) {
  static const std::regex option(R"(--[a-z][a-z-]*[a-z])");
  const auto reference = read_text(source_dir / "docs" / "configuration.md");
  for (const std::string command : {"count", "serve", "worker"}) {
    // The command's own section: from its heading to the next one.
    const auto begin = reference.find("\n## `playcount " + command + "`\n");
    ASSERT_NE(begin, std::string::npos) << command << " has no section";
    const auto section =
        reference.substr(begin, reference.find("\n## ", begin + 1) - begin);
    const auto r = test::run({PLAYCOUNT_BINARY, command, "--help"});
    ASSERT_EQ(r.exit_code, 0) << command << ": " << r.err;
    std::set<std::string> options;
    for (std::sregex_iterator it(r.out.begin(), r.out.end(), option), end;
         it != end; ++it)
      options.insert(it->str());
    EXPECT_GT(options.size(), 5u) << command;
    for (const auto& o : options)
      EXPECT_NE(section.find("`" + o), std::string::npos)
          << "playcount " << command << " " << o
          << " is not in its section of docs/configuration.md";
  }
}

} // namespace
} // namespace playcount
