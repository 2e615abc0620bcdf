#include "core/csv_layout.hpp"

#include "core/record_parser.hpp"
#include "core/split.hpp"
#include "core/units.hpp"

#include <csv.h>
#include <string>
#include <vector>

namespace playcount {

namespace {

struct header_fields {
  std::vector<std::string> names;
  int records = 0;
};

void on_field(void* text, size_t len, void* data) {
  static_cast<header_fields*>(data)->names.emplace_back(
      text ? static_cast<const char*>(text) : "", text ? len : 0);
}

// libcsv also ends records at a lone CR, which this format does not.
void on_record(int, void* data) {
  ++static_cast<header_fields*>(data)->records;
}

// No byte is a space to libcsv: by default it drops spaces and tabs around
// a field, quoted or not, so ` "Date"` passed and `\tSong` became `Song`,
// where a data record with ` "x"` fails (a quote inside an unquoted field,
// RFC 4180) and the contract trims spaces from the names, nothing else.
int no_spaces(unsigned char) {
  return 0;
}

// libcsv in strict mode, the reference for CSV semantics, reads the header.
bool parse_header(std::string_view record, header_fields& out) {
  csv_parser parser;
  if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0)
    return false;
  csv_set_space_func(&parser, no_spaces);
  bool ok = csv_parse(&parser, record.data(), record.size(), on_field,
                      on_record, &out) == record.size();
  ok = ok && csv_fini(&parser, on_field, on_record, &out) == 0;
  csv_free(&parser);
  return ok;
}

std::string trim_spaces(const std::string& s) {
  const auto b = s.find_first_not_of(' ');
  if (b == std::string::npos)
    return {};
  return s.substr(b, s.find_last_not_of(' ') - b + 1);
}

} // namespace

std::variant<csv_layout, input_error, header_incomplete>
read_layout(std::string_view whole_file, bool whole) {
  // Only the first max_header_bytes are read: the header's LF is in them.
  const std::string_view file = whole_file.substr(0, max_header_bytes);
  const bool cut = file.size() < whole_file.size();
  const auto no_line_end = [](uint64_t line) {
    return input_error{line, "no header line ends in the first " +
                                 format_bytes(max_header_bytes) +
                                 ": this is not a CSV file of plays (with the "
                                 "columns Song, Date and Number of Plays)"};
  };
  uint64_t pos = 0;
  uint64_t line = 1;
  if (file.substr(0, 3) == "\xEF\xBB\xBF")
    pos = 3;
  // Empty lines before the header are skipped like any other.
  uint64_t end = 0;
  std::string_view record;
  for (;;) {
    if (pos >= file.size()) {
      if (cut)
        return no_line_end(line);
      if (!whole)
        return header_incomplete{};
      // No header anywhere: the file as a whole is bad.
      return input_error{1, "empty file: no header with the columns Song, "
                            "Date and Number of Plays"};
    }
    end = record_end(file, pos);
    if (end == file.size() && cut)
      return no_line_end(line);
    if (end == file.size() && !whole)
      return header_incomplete{}; // the header's LF may be on its way
    record = strip_cr(file.substr(pos, end - pos));
    if (!record.empty())
      break;
    pos = end + 1;
    ++line;
  }
  const uint64_t header_line = line;
  header_fields header;
  if (!parse_header(record, header))
    return input_error{header_line,
                       "the header is not valid CSV: " + quote_value(record)};
  if (header.records > 1)
    return input_error{header_line,
                       "the header holds a CR that is not part of a CRLF: "
                       "lines must end in LF or CRLF"};
  csv_layout layout;
  layout.columns = static_cast<uint32_t>(header.names.size());
  const char* wanted[3] = {"Song", "Date", "Number of Plays"};
  uint32_t* slots[3] = {&layout.song, &layout.date, &layout.count};
  for (int w = 0; w < 3; ++w) {
    int found = 0;
    for (uint32_t i = 0; i < layout.columns; ++i) {
      if (trim_spaces(header.names[i]) == wanted[w]) {
        *slots[w] = i;
        ++found;
      }
    }
    if (found == 0)
      return input_error{header_line, std::string("missing column \"") +
                                          wanted[w] + "\" in the header " +
                                          quote_value(record)};
    if (found > 1)
      return input_error{header_line, std::string("duplicate column \"") +
                                          wanted[w] + "\" in the header"};
  }
  for (uint64_t i = pos; i < end; ++i)
    line += file[i] == '\n';
  layout.data_begin = end < file.size() ? end + 1 : file.size();
  layout.first_data_line = line + 1;
  return layout;
}

} // namespace playcount
