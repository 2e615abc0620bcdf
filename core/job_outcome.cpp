#include "core/job_outcome.hpp"

namespace playcount {

job_outcome
combine_reports(const csv_layout& layout,
                const std::vector<std::optional<range_report>>& in_order) {
  job_outcome out;
  uint64_t first_line = layout.first_data_line;
  for (const auto& report : in_order) {
    if (!report) // not read: an earlier range must have failed
      break;
    out.rows += report->rows;
    out.bad_rows += report->bad_rows;
    for (const row_problem& p : report->first_bad)
      if (out.first_bad.size() < reported_bad_rows)
        out.first_bad.push_back({first_line + p.line, p.what});
    if (report->error) {
      out.error =
          input_error{first_line + report->error->line, report->error->what};
      out.needs_sequential_read = report->overflow;
      break;
    }
    first_line += report->lines;
  }
  return out;
}

sequential_result read_sequentially(std::string_view file,
                                    const csv_layout& layout,
                                    bad_row_policy policy) {
  sequential_result out;
  const byte_range all{layout.data_begin, file.size()};
  std::vector<std::optional<range_report>> reports;
  reports.push_back(read_range(file, all, layout, policy, out.totals, 0));
  out.outcome = combine_reports(layout, reports);
  out.outcome.needs_sequential_read = false; // this is that read
  return out;
}

} // namespace playcount
