#pragma once

// A small command-line reader shared by the subcommands: `--name value`,
// `--name=value`, flags, and positional arguments, with clear errors.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace playcount {

class options {
public:
  /// `flags` take no value; every other `--name` takes one. --help, -h,
  /// --version and -V are flags of every command.
  options(int argc, char** argv, int first, std::vector<std::string> flags);

  [[nodiscard]] const std::string& error() const noexcept { return error_; }
  [[nodiscard]] const std::vector<std::string>& positional() const noexcept {
    return positional_;
  }
  [[nodiscard]] bool has(const std::string& name) const {
    return values_.count(name) != 0;
  }
  /// --help or -h.
  [[nodiscard]] bool wants_help() const { return has("help") || has("h"); }
  /// --version or -V.
  [[nodiscard]] bool wants_version() const {
    return has("version") || has("V");
  }
  [[nodiscard]] std::string get(const std::string& name,
                                const std::string& fallback) const;
  /// A whole number; with `sizes`, a byte size as parse_size reads it
  /// ("64K", "4 GiB"); sets error() when malformed.
  [[nodiscard]] uint64_t get_number(const std::string& name, uint64_t fallback,
                                    bool sizes = false);
  /// A time as parse_duration reads it ("30s", "1 d"); nullopt and error()
  /// set when malformed.
  [[nodiscard]] std::optional<std::chrono::milliseconds>
  get_duration(const std::string& name, const std::string& fallback);
  /// Names given but neither in `known` nor a flag: sets error() naming the
  /// first, with the nearest known name when one is close.
  void reject_unknown(const std::vector<std::string>& known);

private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
  std::vector<std::string> flags_;
  std::string error_;
  std::string needs_value_; ///< the option at the end without its value
};

/// The smallest --memory-limit of every command.
inline constexpr uint64_t min_memory_limit = uint64_t{1} << 20;

/// The smallest --range-size a user may give: smaller ranges only cost
/// (each is a message and a task; 1-byte ranges make 50 MB take minutes).
inline constexpr uint64_t min_range_size = uint64_t{64} << 10;

/// A hidden option for tests, not in --help: any range size from 1 byte, so
/// that small inputs still cross many range boundaries.
inline constexpr const char* test_range_size_option = "test-range-size";
/// Hidden `count` option: also write the song index (songs.idx) to FILE, as
/// a server job does; for the benchmark of the summary's cost.
inline constexpr const char* test_song_index_option = "test-song-index";
/// Hidden `count` option: how far a spooled input may run ahead of the
/// count (default spool_ahead_for), small so that a test sees the bound.
inline constexpr const char* test_spool_ahead_option = "test-spool-ahead";
/// Hidden `count` option: the temp dir's free space as the default
/// --max-input-size takes it, small so that a test needs no small disk.
inline constexpr const char* test_free_space_option = "test-free-space";

/// --range-size (at least min_range_size) or --test-range-size, else
/// `fallback`; sets `error` when out of bounds (and error() when malformed).
[[nodiscard]] uint64_t range_size_option(options& opts, uint64_t fallback,
                                         std::string& error);

/// The name in `names` nearest to `typed` by edit distance, when it is close
/// enough to be what was meant (at most 2 edits, fewer than half of it).
[[nodiscard]] std::optional<std::string>
nearest_name(const std::string& typed, const std::vector<std::string>& names);

} // namespace playcount
