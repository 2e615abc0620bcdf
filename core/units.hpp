#pragma once

// Byte sizes and durations as people write them: "4 GiB", "64K", "30 s",
// "1d". One reader and one writer for each, used wherever the CLI, the help
// texts and the logs show a size or a time to a user; what is printed reads
// back to the same value.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace playcount {

/// "123", "64K", "4G", "4GiB", "4 GiB", "1.5M" (K, M, G, T: powers of 1024,
/// upper or lower case, with or without "iB"; "B" alone: bytes); nullopt
/// when malformed or over 2^64 - 1. A fraction rounds down to whole bytes.
[[nodiscard]] std::optional<uint64_t> parse_size(std::string_view text);

/// "4 GiB", "64 KiB", "1000 B": the largest unit that divides `bytes`
/// evenly; "1.5 MiB" (one decimal, rounded) when none past bytes does and
/// it is 1 KiB or more.
[[nodiscard]] std::string format_bytes(uint64_t bytes);

/// "90" (seconds), "500ms", "45s", "30 s", "2min", "30m", "12h", "7d",
/// "1 d"; nullopt when malformed.
[[nodiscard]] std::optional<std::chrono::milliseconds>
parse_duration(std::string_view text);

/// "1 d", "12 h", "30 min", "45 s", "500 ms": the largest unit that divides
/// `time` evenly ("0 s" for none).
[[nodiscard]] std::string format_duration(std::chrono::milliseconds time);

} // namespace playcount
