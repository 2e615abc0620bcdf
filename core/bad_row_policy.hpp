#pragma once

// What a job does with a bad record, as one type from the request to the
// reader: the CLI's --on-bad-rows, the API's on_bad_rows and onBadRows, the
// messages and the job record all carry this, read and written here.

#include <cstdint>
#include <optional>
#include <string_view>

namespace playcount {

/// Fail the job at the first bad record (the default), or skip it.
enum class bad_row_policy : uint8_t { fail, skip };

/// Its word: "fail" or "skip".
[[nodiscard]] constexpr const char* to_string(bad_row_policy policy) noexcept {
  return policy == bad_row_policy::skip ? "skip" : "fail";
}

/// The policy `word` names; nullopt for anything but "fail" and "skip".
[[nodiscard]] constexpr std::optional<bad_row_policy>
parse_bad_row_policy(std::string_view word) noexcept {
  if (word == "fail")
    return bad_row_policy::fail;
  if (word == "skip")
    return bad_row_policy::skip;
  return std::nullopt;
}

} // namespace playcount
