#pragma once

// Why an operation failed, kept in parts rather than glued into a sentence:
// what the caller was doing, what failed, on which file, and errno (or a
// reason in words when there is no errno). Whoever shows it decides how: the
// log and the CLI get the full paths, an API client only the file's name
// (a server's directories are nobody else's business).
//
// `result<T>` is what a function that can fail returns: a T, or a failure
// (caf::expected for code without CAF).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace playcount {

struct failure {
  /// What the caller was doing ("cannot read the input again"); nested
  /// callers' contexts come first.
  std::string context;
  /// What failed, said before the path ("cannot open", "cannot rename").
  /// Empty: the path is not shown (the context says enough).
  std::string action;
  std::string path;
  /// A second path: "cannot rename <path> to <to>".
  std::string to;
  /// errno; 0: `reason` says why.
  int code = 0;
  /// Why, when there is no errno ("not a regular file", "line 3: ...").
  std::string reason;

  /// How paths show in text().
  enum class paths : uint8_t {
    full,       ///< as they are (logs, the CLI)
    file_names, ///< only what follows the last '/' (API clients)
  };

  /// `action path[ to to]` failed with errno `code`.
  [[nodiscard]] static failure of_errno(std::string action, std::string path,
                                        int code, std::string to = {});

  /// `action path` failed because of `reason`.
  [[nodiscard]] static failure because(std::string action, std::string path,
                                       std::string reason);

  /// A failure that is only words ("line 4: ...", "empty file").
  [[nodiscard]] static failure words(std::string reason);

  /// The same failure, seen by a caller that was doing `what`: its context
  /// comes first.
  [[nodiscard]] failure within(std::string_view what) &&;
  [[nodiscard]] failure within(std::string_view what) const&;

  /// "<context>: <action> <path>[ to <to>]: <strerror(code) or reason>",
  /// each part only when there is one.
  [[nodiscard]] std::string text(paths shown = paths::full) const;
};

/// What a function that can fail returns: a `T` or why not.
template <class T>
class [[nodiscard]] result {
public:
  result(T value) // NOLINT(google-explicit-constructor): as expected<T>
      : value_(std::in_place_index<0>, std::move(value)) {}
  result(failure why) // NOLINT(google-explicit-constructor)
      : value_(std::in_place_index<1>, std::move(why)) {}

  [[nodiscard]] explicit operator bool() const noexcept {
    return value_.index() == 0;
  }
  [[nodiscard]] T& operator*() & { return std::get<0>(value_); }
  [[nodiscard]] const T& operator*() const& { return std::get<0>(value_); }
  [[nodiscard]] T&& operator*() && { return std::get<0>(std::move(value_)); }
  [[nodiscard]] T* operator->() { return &std::get<0>(value_); }
  [[nodiscard]] const T* operator->() const { return &std::get<0>(value_); }
  /// Only when it failed.
  [[nodiscard]] const failure& error() const& { return std::get<1>(value_); }
  [[nodiscard]] failure&& error() && { return std::get<1>(std::move(value_)); }

private:
  std::variant<T, failure> value_;
};

/// A function that returns nothing but can fail.
template <>
class [[nodiscard]] result<void> {
public:
  result() = default; ///< done
  result(failure why) // NOLINT(google-explicit-constructor)
      : why_(std::move(why)) {}

  [[nodiscard]] explicit operator bool() const noexcept { return !why_; }
  /// Only when it failed.
  [[nodiscard]] const failure& error() const& { return *why_; }
  [[nodiscard]] failure&& error() && { return std::move(*why_); }

private:
  std::optional<failure> why_;
};

} // namespace playcount
