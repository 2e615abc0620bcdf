#include "support.hpp"

#include "core/fields.hpp"
#include "core/result_writer.hpp"

#include <csv.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>
#include <sys/mman.h>
#include <unistd.h>

namespace playcount::test {

// -- guarded_bytes ------------------------------------------------------------

guarded_bytes::guarded_bytes(std::string_view bytes, side guard)
    : size_(bytes.size()) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t data_pages = (bytes.size() + page - 1) / page;
  map_size_ = (data_pages + 1) * page;
  void* p = mmap(nullptr, map_size_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    ADD_FAILURE() << "mmap failed";
    map_size_ = 0;
    return;
  }
  map_ = static_cast<char*>(p);
  char* start;
  if (guard == side::after) {
    char* fence = map_ + data_pages * page;
    if (mprotect(fence, page, PROT_NONE) != 0)
      ADD_FAILURE() << "mprotect failed";
    start = fence - bytes.size();
  } else {
    if (mprotect(map_, page, PROT_NONE) != 0)
      ADD_FAILURE() << "mprotect failed";
    start = map_ + page;
  }
  if (!bytes.empty())
    std::memcpy(start, bytes.data(), bytes.size());
  data_ = start;
}

guarded_bytes::~guarded_bytes() {
  if (map_ != nullptr)
    munmap(map_, map_size_);
}

// -- the pipeline -------------------------------------------------------------

run_result run_pipeline(std::string_view file, const run_options& o) {
  run_result out;
  auto parsed = read_layout(file);
  if (const auto* e = std::get_if<input_error>(&parsed)) {
    out.error = e->to_string();
    return out;
  }
  const csv_layout layout = std::get<csv_layout>(parsed);
  const uint64_t range_size =
      o.range_size != 0 ? o.range_size : std::max<uint64_t>(file.size(), 1);
  const auto chunks =
      nominal_chunks(layout.data_begin, file.size(), range_size);
  std::vector<chunk_scan> scans;
  scans.reserve(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    const byte_range& c = chunks[i];
    if (o.windows && chunks.size() <= 256) { // a window costs three syscalls
      // A scan looks at the byte before its chunk too.
      const uint64_t from = c.begin > 0 ? c.begin - 1 : 0;
      const guarded_bytes window(file.substr(from, c.end - from),
                                 i % 2 ? guarded_bytes::side::before
                                       : guarded_bytes::side::after);
      scans.push_back(scan_chunk(file_window{window.view(), from}, c));
    } else {
      scans.push_back(scan_chunk(file, c));
    }
  }
  out.ranges = plan_ranges(chunks, scans);

  // Which worker reads which range, and in what order: workers pull ranges,
  // so a worker may read a later range before an earlier one.
  const unsigned workers = std::max(1u, o.workers);
  std::mt19937 rng(o.seed);
  std::vector<std::vector<uint32_t>> queue(workers);
  for (uint32_t r = 0; r < out.ranges.size(); ++r) {
    const unsigned w =
        o.assign == assignment::round_robin ? r % workers : rng() % workers;
    queue[w].push_back(r);
  }
  if (o.assign == assignment::random)
    for (auto& q : queue)
      std::shuffle(q.begin(), q.end(), rng);

  std::vector<partial_aggregate> partials(workers);
  std::vector<std::optional<range_report>> reports(out.ranges.size());
  for (unsigned w = 0; w < workers; ++w)
    for (uint32_t r : queue[w]) {
      const byte_range range = out.ranges[r];
      if (o.windows && out.ranges.size() <= 256) {
        const guarded_bytes window(file.substr(range.begin, range.size()),
                                   r % 2 ? guarded_bytes::side::before
                                         : guarded_bytes::side::after);
        reports[r] = read_range(file_window{window.view(), range.begin}, range,
                                layout, o.policy, partials[w], r);
      } else {
        reports[r] = read_range(file, range, layout, o.policy, partials[w], r);
      }
    }
  // Reading stops at an error: ranges after it may not have been read.
  bool seen_error = false;
  for (size_t r = 0; r < reports.size(); ++r) {
    if (seen_error && r % 2 == 1)
      reports[r].reset();
    seen_error = seen_error || reports[r]->error.has_value();
  }
  out.outcome = combine_reports(layout, reports);

  partial_aggregate& total = partials[0];
  for (unsigned w = 1; w < workers; ++w)
    if (!total.merge(partials[w]))
      out.merge_overflowed = true;

  if (out.outcome.needs_sequential_read || out.merge_overflowed) {
    out.needed_sequential_read = true;
    auto seq = read_sequentially(file, layout, o.policy);
    out.outcome = seq.outcome;
    if (!out.outcome.error)
      out.output = format_result(seq.totals);
  } else if (!out.outcome.error) {
    out.output = format_result(total);
  }
  if (out.outcome.error)
    out.error = out.outcome.error->to_string();
  return out;
}

std::string_view blanks_trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::vector<byte_range> plan_in_memory(std::string_view file,
                                       uint64_t data_begin,
                                       uint64_t range_size) {
  const auto chunks = nominal_chunks(data_begin, file.size(), range_size);
  std::vector<chunk_scan> scans;
  for (const byte_range& c : chunks)
    scans.push_back(scan_chunk(file, c));
  return plan_ranges(chunks, scans);
}

run_result run_sequential(std::string_view file, bad_row_policy policy) {
  run_result out;
  auto parsed = read_layout(file);
  if (const auto* e = std::get_if<input_error>(&parsed)) {
    out.error = e->to_string();
    return out;
  }
  const csv_layout layout = std::get<csv_layout>(parsed);
  out.ranges.push_back({layout.data_begin, file.size()});
  auto seq = read_sequentially(file, layout, policy);
  out.outcome = seq.outcome;
  if (out.outcome.error)
    out.error = out.outcome.error->to_string();
  else
    out.output = format_result(seq.totals);
  return out;
}

std::string text_of(const run_result& r) {
  return r.error ? *r.error : r.output;
}

std::string signature(const run_result& r) {
  std::string s = text_of(r);
  s += "\n-- rows " + std::to_string(r.outcome.rows) + ", bad rows " +
       std::to_string(r.outcome.bad_rows) + ":";
  for (const input_error& e : r.outcome.first_bad)
    s += " [" + e.to_string() + "]";
  return s;
}

std::string result_everywhere(std::string_view bytes, bad_row_policy policy) {
  const guarded_bytes guarded(bytes);
  const std::string_view file = guarded.view();
  const run_result truth = run_sequential(file, policy);
  const std::string expected = signature(truth);
  for (uint64_t range_size : {0, 1, 3, 17, 64})
    for (unsigned workers : {1u, 2u, 5u})
      for (assignment a : {assignment::round_robin, assignment::random}) {
        run_options o;
        o.range_size = range_size;
        o.workers = workers;
        o.policy = policy;
        o.assign = a;
        o.seed = static_cast<uint32_t>(range_size * 31 + workers);
        o.windows = a == assignment::random;
        const run_result r = run_pipeline(file, o);
        EXPECT_EQ(signature(r), expected)
            << "range size " << range_size << ", workers " << workers
            << (a == assignment::random ? ", random assignment, windows" : "");
      }
  return text_of(truth);
}

// -- calendar -----------------------------------------------------------------

bool is_leap_year(int y) {
  if (y % 400 == 0)
    return true;
  if (y % 100 == 0)
    return false;
  return y % 4 == 0;
}

int month_length(int y, int m) {
  switch (m) {
  case 2:
    return is_leap_year(y) ? 29 : 28;
  case 4:
  case 6:
  case 9:
  case 11:
    return 30;
  default:
    return 31;
  }
}

std::string ymd(int y, int m, int d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
  return buf;
}

// -- libcsv reference
// -----------------------------------------------------------

namespace {

int keep_spaces(unsigned char) {
  return 0;
}

struct libcsv_row {
  std::vector<std::string> fields;
  size_t start = 0; ///< offset of the record's first byte
};

struct collector {
  std::vector<libcsv_row> rows;
  std::vector<std::string> fields;
  size_t row_start = 0;
};

void collect_field(void* text, size_t len, void* data) {
  auto* c = static_cast<collector*>(data);
  c->fields.emplace_back(text != nullptr ? static_cast<const char*>(text) : "",
                         text != nullptr ? len : 0);
}

void collect_row(int, void* data) {
  auto* c = static_cast<collector*>(data);
  c->rows.push_back({std::move(c->fields), c->row_start});
  c->fields.clear();
}

/// libcsv fed one byte at a time, so each record's start offset is known.
std::optional<std::vector<libcsv_row>> libcsv_rows(std::string_view bytes,
                                                   size_t base) {
  csv_parser p;
  if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0)
    return std::nullopt;
  csv_set_space_func(&p, keep_spaces);
  collector c;
  bool ok = true;
  for (size_t i = 0; i < bytes.size() && ok; ++i) {
    const bool row_not_begun = p.pstate == 0;
    ok =
        csv_parse(&p, bytes.data() + i, 1, collect_field, collect_row, &c) == 1;
    if (row_not_begun && p.pstate != 0)
      c.row_start = base + i;
  }
  ok = ok && csv_fini(&p, collect_field, collect_row, &c) == 0;
  csv_free(&p);
  if (!ok)
    return std::nullopt;
  return std::move(c.rows);
}

std::string spaces_trimmed(std::string_view s) {
  while (!s.empty() && s.front() == ' ')
    s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ')
    s.remove_suffix(1);
  return std::string(s);
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' ||
      !all_digits(s.substr(0, 4)) || !all_digits(s.substr(5, 2)) ||
      !all_digits(s.substr(8, 2)))
    return false;
  const int y = std::stoi(std::string(s.substr(0, 4)));
  const int m = std::stoi(std::string(s.substr(5, 2)));
  const int d = std::stoi(std::string(s.substr(8, 2)));
  return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= month_length(y, m);
}

std::optional<uint64_t> valid_count(std::string_view s) {
  if (!all_digits(s))
    return std::nullopt;
  while (s.size() > 1 && s.front() == '0')
    s.remove_prefix(1);
  constexpr std::string_view max = "9223372036854775807";
  if (s.size() > max.size() || (s.size() == max.size() && s > max))
    return std::nullopt;
  return std::stoull(std::string(s));
}

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos)
    return std::string(s);
  return quoted(s);
}

} // namespace

std::optional<std::vector<std::vector<std::string>>>
libcsv_records(std::string_view bytes) {
  auto rows = libcsv_rows(bytes, 0);
  if (!rows)
    return std::nullopt;
  std::vector<std::vector<std::string>> out;
  for (auto& r : *rows)
    out.push_back(std::move(r.fields));
  return out;
}

bool has_lone_cr(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size(); ++i)
    if (bytes[i] == '\r' && (i + 1 >= bytes.size() || bytes[i + 1] != '\n'))
      return true;
  return false;
}

reference_outcome reference_count(std::string_view file) {
  reference_outcome out;
  size_t base = 0;
  if (file.substr(0, 3) == "\xEF\xBB\xBF")
    base = 3;
  const auto rows = libcsv_rows(file.substr(base), base);
  if (!rows) {
    out.libcsv_ok = false;
    return out;
  }
  const auto line_of = [&](size_t offset) {
    return 1 +
           static_cast<uint64_t>(std::count(
               file.begin(), file.begin() + static_cast<long>(offset), '\n'));
  };
  const auto fail = [&](size_t offset, const char* kind) {
    out.error_line = line_of(offset);
    out.error_kind = kind;
    return out;
  };
  if (rows->empty()) {
    out.error_line = 1;
    out.error_kind = "empty";
    return out;
  }
  const auto& header = rows->front();
  int at[3] = {-1, -1, -1};
  const char* names[3] = {"Song", "Date", "Number of Plays"};
  for (size_t i = 0; i < header.fields.size(); ++i)
    for (int w = 0; w < 3; ++w)
      if (spaces_trimmed(header.fields[i]) == names[w]) {
        if (at[w] >= 0)
          return fail(header.start, "duplicate");
        at[w] = static_cast<int>(i);
      }
  for (int w = 0; w < 3; ++w)
    if (at[w] < 0)
      return fail(header.start, "missing");

  struct song_totals {
    std::string name;
    std::map<std::string, uint64_t> days;
  };
  std::vector<song_totals> songs;
  std::map<std::string, size_t> index;
  for (size_t r = 1; r < rows->size(); ++r) {
    const auto& row = (*rows)[r];
    if (row.fields.size() != header.fields.size())
      return fail(row.start, "fields");
    const auto date = blanks_trimmed(row.fields[static_cast<size_t>(at[1])]);
    if (!valid_date(date))
      return fail(row.start, "date");
    const auto count =
        valid_count(blanks_trimmed(row.fields[static_cast<size_t>(at[2])]));
    if (!count)
      return fail(row.start, "count");
    const std::string& song = row.fields[static_cast<size_t>(at[0])];
    auto [it, inserted] = index.try_emplace(song, songs.size());
    if (inserted)
      songs.push_back({song, {}});
    uint64_t& total = songs[it->second].days[std::string(date)];
    if (*count > uint64_t{INT64_MAX} - total)
      return fail(row.start, "overflow");
    total += *count;
    ++out.rows;
  }
  out.output = "Song,Date,Total Number of Plays for Date\n";
  for (const auto& s : songs)
    for (const auto& [date, total] : s.days)
      out.output +=
          csv_field(s.name) + "," + date + "," + std::to_string(total) + "\n";
  return out;
}

// -- random documents ---------------------------------------------------------

std::string quoted(std::string_view field) {
  std::string out = "\"";
  for (char c : field) {
    if (c == '"')
      out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string encode_field(std::mt19937& rng, std::string_view field,
                         int quote_anyway_percent) {
  if (field.find_first_of(",\"\r\n") != std::string_view::npos ||
      static_cast<int>(rng() % 100) < quote_anyway_percent)
    return quoted(field);
  return std::string(field);
}

std::string csv_doc::line::text() const {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0)
      out += ',';
    out += fields[i];
  }
  return out;
}

std::string csv_doc::assemble() const {
  std::string out;
  if (bom)
    out += "\xEF\xBB\xBF";
  for (const auto& e : pre_header)
    out += e;
  out += header;
  out += header_end;
  for (const auto& l : lines) {
    out += l.text();
    out += l.end;
  }
  return out;
}

uint64_t csv_doc::line_number(size_t i) const {
  std::string before;
  for (const auto& e : pre_header)
    before += e;
  before += header;
  before += header_end;
  for (size_t k = 0; k < i; ++k) {
    before += lines[k].text();
    before += lines[k].end;
  }
  return 1 +
         static_cast<uint64_t>(std::count(before.begin(), before.end(), '\n'));
}

std::vector<size_t> csv_doc::record_indexes() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < lines.size(); ++i)
    if (lines[i].is_record())
      out.push_back(i);
  return out;
}

namespace {

std::vector<std::string> fixed_songs() {
  return {
      "Umbrella",
      "umbrella",
      "Umbrella ",
      " Umbrella",
      "Hey, Jude",
      "Say \"Hi\"",
      "Line1\nLine2",
      "Win\r\nLines",
      "cr\ronly",
      "\"",
      ",",
      "",
      "\xC3\x9Cn\xC3\xAF\x63\xC3\xB6\x64\xC3\xA9 \xE2\x99\xAB",
      "tab\there",
      "a\"\"b",
      "x,\"y\"\nz",
      std::string("nul\0byte", 8),
      "\n",
      "\r\n",
      "\"\"",
      "trailing\r",
      "two\n\nblank lines\n",
      "ends with quote\"",
      std::string(150, 'x') + "\n" + std::string(150, ',') + "\"",
  };
}

std::string random_text(std::mt19937& rng, bool allow_cr, size_t max_len) {
  static const std::string alphabet = "abcdefXYZ ,\"\n\t0123456789-";
  const size_t n = rng() % (max_len + 1);
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    const unsigned pick = rng() % (alphabet.size() + 2);
    if (pick < alphabet.size())
      s += alphabet[pick];
    else if (pick == alphabet.size())
      s += "\xC3\xA9";
    else
      s += allow_cr ? '\r' : 'r';
  }
  return s;
}

std::string pad_blanks(std::mt19937& rng, std::string s) {
  static const char* pads[] = {" ", "\t", "  ", " \t", "\t "};
  if (rng() % 2)
    s = pads[rng() % 5] + s;
  if (rng() % 2)
    s += pads[rng() % 5];
  return s;
}

} // namespace

csv_doc random_doc(std::mt19937& rng, const doc_shape& shape) {
  const auto pct = [&](int p) { return static_cast<int>(rng() % 100) < p; };
  csv_doc doc;
  const uint32_t extra = shape.tricky_header ? rng() % 3 : 0;
  doc.columns = 3 + extra;
  std::vector<uint32_t> role(doc.columns);
  std::iota(role.begin(), role.end(), 0u);
  if (shape.tricky_header)
    std::shuffle(role.begin(), role.end(), rng);
  static const char* extra_names[] = {"Listener, Id", "Notes",
                                      "Multi\nLine \"Note\""};
  std::vector<std::string> header_fields;
  for (uint32_t i = 0; i < doc.columns; ++i) {
    std::string name;
    switch (role[i]) {
    case 0:
      doc.song = i;
      name = "Song";
      break;
    case 1:
      doc.date = i;
      name = "Date";
      break;
    case 2:
      doc.count = i;
      name = "Number of Plays";
      break;
    default:
      name = extra_names[(role[i] - 3 + rng() % 2) % 3];
      break;
    }
    if (shape.tricky_header && role[i] < 3 && pct(20))
      name = " " + name + "  ";
    header_fields.push_back(shape.tricky_header ? encode_field(rng, name)
                                                : name);
  }
  for (size_t i = 0; i < header_fields.size(); ++i)
    doc.header += (i ? "," : "") + header_fields[i];

  const int style = static_cast<int>(rng() % 3); // LF, CRLF, mixed
  const auto line_end = [&] {
    if (style == 0)
      return std::string("\n");
    if (style == 1)
      return std::string("\r\n");
    return std::string(pct(50) ? "\n" : "\r\n");
  };
  doc.header_end = line_end();
  if (shape.tricky_header) {
    doc.bom = pct(50);
    if (pct(30))
      for (unsigned k = 1 + rng() % 2; k > 0; --k)
        doc.pre_header.push_back(line_end());
  }

  std::vector<std::string> songs;
  for (const auto& s : fixed_songs())
    if (shape.allow_cr_in_values || s.find('\r') == std::string::npos)
      if (pct(60))
        songs.push_back(s);
  for (unsigned k = 3 + rng() % 12; k > 0; --k)
    songs.push_back(random_text(rng, shape.allow_cr_in_values, 20));

  std::vector<std::string> dates;
  const int base_year = 1990 + static_cast<int>(rng() % 40);
  for (unsigned k = 5 + rng() % 40; k > 0; --k) {
    const int y = base_year + static_cast<int>(rng() % 3);
    const int m = 1 + static_cast<int>(rng() % 12);
    dates.push_back(
        ymd(y, m, 1 + static_cast<int>(rng() % month_length(y, m))));
  }
  for (const char* special :
       {"2000-02-29", "2024-02-29", "0001-01-01", "9999-12-31"})
    if (pct(30))
      dates.push_back(special);

  for (size_t r = 0; r < shape.records; ++r) {
    if (shape.allow_empty_lines && pct(4))
      doc.lines.push_back({{}, line_end()});
    csv_doc::line l;
    l.fields.resize(doc.columns);
    // Songs by a skewed pick: some songs are frequent, some rare.
    const size_t si =
        std::min<size_t>(rng() % songs.size(), rng() % songs.size());
    l.fields[doc.song] = encode_field(rng, songs[si]);
    std::string date = dates[rng() % dates.size()];
    if (pct(15))
      date = pad_blanks(rng, date);
    l.fields[doc.date] = encode_field(rng, date, 10);
    std::string count;
    const int kind = static_cast<int>(rng() % 100);
    if (kind < 5)
      count = "0";
    else if (kind < 75)
      count = std::to_string(1 + rng() % 500);
    else if (kind < 85)
      count = std::string(1 + rng() % 3, '0') + std::to_string(rng() % 1000);
    else
      count = std::to_string(uint64_t{1000000000} * (1 + rng() % 1000));
    if (pct(10))
      count = pad_blanks(rng, count);
    l.fields[doc.count] = encode_field(rng, count, 10);
    for (uint32_t i = 0; i < doc.columns; ++i)
      if (i != doc.song && i != doc.date && i != doc.count)
        l.fields[i] =
            encode_field(rng, random_text(rng, shape.allow_cr_in_values, 12));
    l.end = line_end();
    doc.lines.push_back(std::move(l));
  }
  if (shape.allow_empty_lines && pct(20))
    doc.lines.push_back({{}, line_end()});
  if (pct(30)) { // no line end after the last record
    while (!doc.lines.empty() && !doc.lines.back().is_record())
      doc.lines.pop_back();
    if (!doc.lines.empty())
      doc.lines.back().end.clear();
  }
  return doc;
}

std::string make_bad(csv_doc& doc, size_t i, bad_kind kind) {
  auto& f = doc.lines.at(i).fields;
  const std::string columns = std::to_string(doc.columns);
  switch (kind) {
  case bad_kind::count_not_whole: {
    static const char* values[] = {"1.5", "12x", "+5", "1e3", "abc", "0x10"};
    const std::string v = values[i % 6];
    f[doc.count] = v;
    return "Number of Plays is not a whole number: \"" + v + "\"";
  }
  case bad_kind::count_negative:
    f[doc.count] = "-7";
    return "Number of Plays is negative: \"-7\"";
  case bad_kind::count_too_large:
    f[doc.count] = "9223372036854775808";
    return "9223372036854775807: \"9223372036854775808\"";
  case bad_kind::date_impossible:
    f[doc.date] = "2023-02-29";
    return "Date is not a real calendar date: \"2023-02-29\"";
  case bad_kind::date_bad_form:
    f[doc.date] = "2021/01/01";
    return "Date is not in YYYY-MM-DD form: \"2021/01/01\"";
  case bad_kind::too_few_fields:
    f.pop_back();
    return "expected " + columns + " fields, found " +
           std::to_string(doc.columns - 1);
  case bad_kind::too_many_fields:
    f.push_back("x");
    return "expected " + columns + " fields, found " +
           std::to_string(doc.columns + 1);
  case bad_kind::stray_quote:
    f[doc.song] = "ab\"cd";
    return "quote inside an unquoted field (field " +
           std::to_string(doc.song + 1) + ")";
  case bad_kind::text_after_quote:
    f[doc.song] = "\"ab\"cd";
    return "text after a closing quote (field " + std::to_string(doc.song + 1) +
           ")";
  case bad_kind::unclosed_quote:
    f[doc.song] = "\"abc";
    return ""; // what the open quote swallows decides the message
  }
  return "";
}

} // namespace playcount::test
