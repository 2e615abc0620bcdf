#pragma once

// The slow path for records that hold a quote, shared by the range reader.
// Record extent is decided elsewhere by quote parity (see split.hpp); this
// splits one record's bytes into unquoted fields and checks RFC 4180 quoting.

#include <string>
#include <string_view>
#include <vector>

namespace playcount {

enum class record_problem {
  none,
  stray_quote,      ///< a quote inside a field that does not start with one
  text_after_quote, ///< bytes between a closing quote and the next separator
  unclosed_quote,   ///< the file ends inside a quoted field
};

struct split_outcome {
  record_problem problem = record_problem::none;
  size_t field = 0; ///< 0-based index of the offending field
};

/// Splits `record` (a whole record without its line end) at unquoted commas.
/// Quoted fields are unquoted (`""` becomes `"`) into `scratch`, which this
/// call sizes once so the views it hands out stay valid until its next use.
[[nodiscard]] split_outcome split_record(std::string_view record,
                                         std::vector<std::string_view>& fields,
                                         std::string& scratch);

/// The `what` of an input_error for a split problem.
[[nodiscard]] std::string describe(split_outcome outcome,
                                   std::string_view record);

/// Removes one trailing CR, the first half of a CRLF line end.
[[nodiscard]] inline std::string_view strip_cr(std::string_view s) noexcept {
  if (!s.empty() && s.back() == '\r')
    s.remove_suffix(1);
  return s;
}

} // namespace playcount
