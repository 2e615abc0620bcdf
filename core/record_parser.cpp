#include "core/record_parser.hpp"

#include "core/input_error.hpp"

namespace playcount {

split_outcome split_record(std::string_view record,
                           std::vector<std::string_view>& fields,
                           std::string& scratch) {
  fields.clear();
  scratch.clear();
  scratch.reserve(record.size()); // no reallocation: views stay valid
  const size_t n = record.size();
  size_t i = 0;
  for (;;) {
    const size_t index = fields.size();
    if (i < n && record[i] == '"') {
      const size_t out_begin = scratch.size();
      ++i;
      for (;;) {
        if (i >= n)
          return {record_problem::unclosed_quote, index};
        if (record[i] == '"') {
          if (i + 1 < n && record[i + 1] == '"') {
            scratch.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        scratch.push_back(record[i++]);
      }
      fields.emplace_back(scratch.data() + out_begin,
                          scratch.size() - out_begin);
      if (i < n && record[i] != ',')
        return {record_problem::text_after_quote, index};
    } else {
      const size_t begin = i;
      while (i < n && record[i] != ',') {
        if (record[i] == '"')
          return {record_problem::stray_quote, index};
        ++i;
      }
      fields.push_back(record.substr(begin, i - begin));
    }
    if (i >= n)
      return {};
    ++i; // the comma
  }
}

std::string describe(split_outcome outcome, std::string_view record) {
  const std::string field = " (field " + std::to_string(outcome.field + 1) + ")";
  switch (outcome.problem) {
    case record_problem::stray_quote:
      return "a quote inside an unquoted field" + field +
             "; quote the whole field and double the quote: " +
             quote_value(record);
    case record_problem::text_after_quote:
      return "text after a closing quote" + field + ": " + quote_value(record);
    case record_problem::unclosed_quote:
      return "a quoted field never closes" + field;
    case record_problem::none:
      break;
  }
  return "no problem";
}

} // namespace playcount
