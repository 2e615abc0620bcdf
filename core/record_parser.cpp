#include "core/record_parser.hpp"

#include "core/input_error.hpp"

namespace playcount {

split_outcome split_record(std::string_view record,
                           std::vector<std::string_view>& fields,
                           std::string& scratch) {
  fields.clear();
  // Unquoting never lengthens a field: sized once, the views stay valid.
  scratch.resize(record.size());
  const char* const in = record.data();
  char* const unquoted = scratch.data();
  char* out = unquoted;
  const size_t n = record.size();
  size_t i = 0;
  for (;;) {
    const size_t index = fields.size();
    if (i < n && in[i] == '"') {
      char* const field_begin = out;
      ++i;
      for (;;) {
        while (i < n && in[i] != '"')
          *out++ = in[i++];
        if (i >= n)
          return {record_problem::unclosed_quote, index};
        if (i + 1 < n && in[i + 1] == '"') { // "" is one literal quote
          *out++ = '"';
          i += 2;
          continue;
        }
        ++i;
        break;
      }
      fields.emplace_back(field_begin, static_cast<size_t>(out - field_begin));
      if (i < n && in[i] != ',')
        return {record_problem::text_after_quote, index};
    } else {
      const size_t begin = i;
      while (i < n && in[i] != ',') {
        if (in[i] == '"')
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
  const std::string field =
      " (field " + std::to_string(outcome.field + 1) + ")";
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
