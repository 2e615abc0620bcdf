#pragma once

#include "core/input_error.hpp"

#include <cstdint>
#include <string_view>
#include <variant>

namespace playcount {

/// Where the data starts and which columns matter, from the header record.
struct csv_layout {
  uint64_t data_begin = 0;      ///< offset of the first record after the header
  uint64_t first_data_line = 2; ///< physical line number at data_begin
  uint32_t columns = 0;
  uint32_t song = 0;
  uint32_t date = 0;
  uint32_t count = 0;
};

/// Reads the header: skips a UTF-8 BOM and empty lines, then needs the columns
/// `Song`, `Date` and `Number of Plays` (spaces trimmed, any order, others
/// allowed). Fails on an empty file, a missing or duplicated column.
[[nodiscard]] std::variant<csv_layout, input_error>
read_layout(std::string_view file);

} // namespace playcount
