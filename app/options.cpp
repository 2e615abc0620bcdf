#include "app/options.hpp"

#include "core/units.hpp"

#include <algorithm>
#include <cctype>

namespace playcount {

namespace {

// An option as it is typed: -o, --output.
std::string spelled(const std::string& name) {
  return (name.size() == 1 ? "-" : "--") + name;
}

} // namespace

options::options(int argc, char** argv, int first,
                 std::vector<std::string> flags)
    : flags_(std::move(flags)) {
  for (const char* always : {"help", "h", "version", "V"})
    if (std::find(flags_.begin(), flags_.end(), always) == flags_.end())
      flags_.emplace_back(always);
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-' || arg == "-") {
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string value;
    const auto eq = name.find('=');
    const bool is_flag =
        std::find(flags_.begin(), flags_.end(), name) != flags_.end();
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (!is_flag) {
      if (i + 1 >= argc) {
        error_ = "option " + spelled(name) + " needs a value";
        needs_value_ = name;
        values_[name] = value;
        return;
      }
      value = argv[++i];
    }
    values_[name] = value;
  }
}

std::string options::get(const std::string& name,
                         const std::string& fallback) const {
  auto i = values_.find(name);
  return i == values_.end() ? fallback : i->second;
}

uint64_t options::get_number(const std::string& name, uint64_t fallback,
                             bool sizes) {
  auto i = values_.find(name);
  if (i == values_.end() || name == needs_value_)
    return fallback;
  auto v = parse_size(i->second);
  const bool plain = !i->second.empty() &&
                     std::all_of(i->second.begin(), i->second.end(), ::isdigit);
  if (!v || (!sizes && !plain)) {
    if (error_.empty())
      error_ = "--" + name +
               (sizes ? " wants a size such as 64K, 512 MiB or 4G (powers "
                        "of 1024)"
                      : " wants a whole number") +
               ", not \"" + i->second + "\"";
    return fallback;
  }
  return *v;
}

std::optional<std::chrono::milliseconds>
options::get_duration(const std::string& name, const std::string& fallback) {
  const std::string text = get(name, fallback);
  auto time = parse_duration(text);
  if (!time && error_.empty())
    error_ = "--" + name +
             " wants a time such as 500ms, 30s, 2min, 12h or 7d (a bare "
             "number is seconds), not \"" +
             text + "\"";
  return time;
}

uint64_t range_size_option(options& opts, uint64_t fallback,
                           std::string& error) {
  if (opts.has(test_range_size_option)) {
    const uint64_t size =
        opts.get_number(test_range_size_option, fallback, true);
    if (size < 1)
      error =
          std::string("--") + test_range_size_option + " must be at least 1";
    return size;
  }
  const uint64_t size = opts.get_number("range-size", fallback, true);
  if (size < min_range_size)
    error = "--range-size must be at least " + format_bytes(min_range_size) +
            " (smaller ranges only add overhead)";
  return size;
}

namespace {

// Insertions, deletions, substitutions and swaps of two neighbours
// ("prot" for "port") each count one (optimal string alignment).
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1,
                                     std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

} // namespace

std::optional<std::string> nearest_name(const std::string& typed,
                                        const std::vector<std::string>& names) {
  std::optional<std::string> best;
  size_t best_distance = SIZE_MAX;
  for (const std::string& name : names) {
    if (name.size() < 2) // -o, -h, -V: any typo is one edit from them
      continue;
    const size_t d = edit_distance(typed, name);
    if (d < best_distance) {
      best_distance = d;
      best = name;
    }
  }
  if (!best || best_distance > 2 || best_distance * 2 >= typed.size())
    return std::nullopt;
  return best;
}

void options::reject_unknown(const std::vector<std::string>& known) {
  std::vector<std::string> all = known;
  all.insert(all.end(), flags_.begin(), flags_.end());
  for (auto& [name, value] : values_)
    if (std::find(all.begin(), all.end(), name) == all.end()) {
      // An unknown name says so, rather than that it needs a value.
      if (error_.empty() || !needs_value_.empty()) {
        error_ = "unknown option " + spelled(name);
        if (auto near = nearest_name(name, all))
          error_ += "; did you mean --" + *near + "?";
      }
      return;
    }
}

} // namespace playcount
