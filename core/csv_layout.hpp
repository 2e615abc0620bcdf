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

/// The header (and a BOM and empty lines before it) must end within the
/// first bytes of a file: a longer "header" is not one of plays, and reading
/// it would take memory of its size (libcsv copies each field), and a pipe
/// would be spooled whole while its first line went on.
inline constexpr uint64_t max_header_bytes = uint64_t{1} << 20;

/// What read_layout says of the first bytes of a file still arriving whose
/// header has not landed whole.
struct header_incomplete {};

/// Reads the header: skips a UTF-8 BOM and empty lines, then needs the columns
/// `Song`, `Date` and `Number of Plays` (spaces trimmed, any order, others
/// allowed). Fails on an empty file, a missing or duplicated column, no line
/// end in the first max_header_bytes. `whole`: false when `file` is what has
/// arrived of one still being written; a header not yet ended there is then
/// header_incomplete.
[[nodiscard]] std::variant<csv_layout, input_error, header_incomplete>
read_layout(std::string_view file, bool whole = true);

} // namespace playcount
