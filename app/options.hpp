#pragma once

// A small command-line reader shared by the subcommands: `--name value`,
// `--name=value`, flags, and positional arguments, with clear errors.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace playcount {

class options {
public:
  /// `flags` take no value; every other `--name` takes one.
  options(int argc, char** argv, int first, std::vector<std::string> flags);

  [[nodiscard]] const std::string& error() const noexcept { return error_; }
  [[nodiscard]] const std::vector<std::string>& positional() const noexcept {
    return positional_;
  }
  [[nodiscard]] bool has(const std::string& name) const {
    return values_.count(name) != 0;
  }
  [[nodiscard]] std::string get(const std::string& name,
                                const std::string& fallback) const;
  /// A whole number, with an optional K/M/G/T suffix (powers of 1024) when
  /// `sizes`; sets error() when malformed.
  [[nodiscard]] uint64_t get_number(const std::string& name, uint64_t fallback,
                                    bool sizes = false);
  /// Names given but not in `known`: sets error() naming the first.
  void reject_unknown(const std::vector<std::string>& known);

private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
  std::string error_;
};

/// Parses "123", "4K", "64M", "4G"; nullopt when malformed.
[[nodiscard]] std::optional<uint64_t> parse_size(const std::string& text);

} // namespace playcount
