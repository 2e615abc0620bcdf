#pragma once

// Reading a result CSV back (docs/CONTRACT.md §1 output rules): its rows
// one by one, fields unquoted by the input's own splitter. For the summary
// of an older job and for one song's rows (issue 15).

#include "core/fields.hpp"
#include "core/record_parser.hpp"
#include "core/result_writer.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace playcount {

// Parses a result CSV's rows: per record, the song (unquoted), the day and
// the total, and where the record starts and ends.
class result_reader {
public:
  explicit result_reader(std::string_view bytes)
      : bytes_(bytes) {}

  /// `first_line`: the line number of `bytes`' first line (for messages).
  result_reader(std::string_view bytes, uint64_t first_line)
      : bytes_(bytes)
      , line_(first_line) {}

  /// Skips the header; false when it is not the result's.
  bool header() {
    if (bytes_.substr(0, result_header.size()) != result_header)
      return false;
    at_ = result_header.size();
    line_ = 2;
    return true;
  }

  /// The next row, or false at the end; `why` says what is wrong (empty: the
  /// end).
  bool next(std::string_view& song, day_number& day, int64_t& total,
            std::string& why) {
    if (at_ >= bytes_.size())
      return false;
    // The record's end: a LF outside quotes.
    size_t end = at_;
    bool quoted = false;
    for (;;) {
      end = bytes_.find_first_of(quoted ? "\"" : "\"\n", end);
      if (end == std::string_view::npos) {
        why = "line " + std::to_string(line_) + ": no line end";
        return false;
      }
      if (bytes_[end] == '\n')
        break;
      quoted = !quoted;
      ++end;
    }
    const std::string_view record = bytes_.substr(at_, end - at_);
    start_ = at_;
    at_ = end + 1;
    const uint64_t line = line_;
    line_ += 1 + static_cast<uint64_t>(
                     std::count(record.begin(), record.end(), '\n'));
    const auto bad = [&](const char* what) {
      why = "line " + std::to_string(line) + ": " + what;
      return false;
    };
    if (split_record(record, fields_, scratch_).problem !=
            record_problem::none ||
        fields_.size() != 3)
      return bad("not a result row (song, date, total)");
    song = fields_[0];
    const parsed_date d = parse_date(fields_[1]);
    if (d.status != date_status::ok || fields_[1].size() != 10)
      return bad("not a date");
    day = d.day;
    const std::string_view n = fields_[2];
    const auto [ptr, ec] =
        std::from_chars(n.data(), n.data() + n.size(), total);
    if (ec != std::errc() || ptr != n.data() + n.size() || n.empty())
      return bad("not a total");
    return true;
  }

  [[nodiscard]] uint64_t start() const noexcept { return start_; }
  [[nodiscard]] uint64_t at() const noexcept { return at_; }

private:
  std::string_view bytes_;
  size_t at_ = 0, start_ = 0;
  uint64_t line_ = 1;
  std::vector<std::string_view> fields_;
  std::string scratch_;
};

} // namespace playcount
