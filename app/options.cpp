#include "app/options.hpp"

#include <algorithm>
#include <cctype>

namespace playcount {

options::options(int argc, char** argv, int first,
                 std::vector<std::string> flags) {
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
        std::find(flags.begin(), flags.end(), name) != flags.end();
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (!is_flag) {
      if (i + 1 >= argc) {
        error_ = "option --" + name + " needs a value";
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

std::optional<uint64_t> parse_size(const std::string& text) {
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])))
    return std::nullopt;
  size_t used = 0;
  uint64_t value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (...) {
    return std::nullopt;
  }
  const std::string suffix = text.substr(used);
  uint64_t scale = 1;
  if (suffix == "K" || suffix == "k")
    scale = uint64_t{1} << 10;
  else if (suffix == "M" || suffix == "m")
    scale = uint64_t{1} << 20;
  else if (suffix == "G" || suffix == "g")
    scale = uint64_t{1} << 30;
  else if (suffix == "T" || suffix == "t")
    scale = uint64_t{1} << 40;
  else if (!suffix.empty())
    return std::nullopt;
  if (value > UINT64_MAX / scale)
    return std::nullopt;
  return value * scale;
}

uint64_t options::get_number(const std::string& name, uint64_t fallback,
                             bool sizes) {
  auto i = values_.find(name);
  if (i == values_.end())
    return fallback;
  auto v = parse_size(i->second);
  const bool plain = !i->second.empty() &&
                     std::all_of(i->second.begin(), i->second.end(), ::isdigit);
  if (!v || (!sizes && !plain)) {
    if (error_.empty())
      error_ = "--" + name + " wants a whole number" +
               (sizes ? " (optionally with K, M or G)" : "") + ", not \"" +
               i->second + "\"";
    return fallback;
  }
  return *v;
}

void options::reject_unknown(const std::vector<std::string>& known) {
  for (auto& [name, value] : values_)
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      if (error_.empty())
        error_ = "unknown option --" + name;
      return;
    }
}

} // namespace playcount
