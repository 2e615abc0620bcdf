#include "core/range_reader.hpp"

#include "core/block_scanner.hpp"
#include "core/fields.hpp"
#include "core/hash.hpp"
#include "core/record_parser.hpp"
#include "core/simd.hpp"

#include <cstring>

namespace playcount {

namespace {

// Which of the three columns a field is; `other` for the rest.
enum role : uint8_t { other = 0, song = 1, date = 2, count = 3 };

class range_reader {
public:
  // Positions inside are relative to the window; offsets handed out are
  // absolute (offset_ added). The layout has at least the three named
  // columns (read_layout), so a record with columns - 1 commas is not empty.
  range_reader(file_window window, byte_range range, const csv_layout& layout,
               bad_row_policy policy, partial_aggregate& into, uint32_t tag)
      : base_(window.bytes.data())
      , offset_(window.offset)
      , range_{range.begin - window.offset, range.end - window.offset}
      , columns_(layout.columns)
      , policy_(policy)
      , into_(into)
      , tag_(tag)
      , column_{0, layout.song, layout.date, layout.count}
      , field_begins_(layout.columns + 1, 0)
      , begins_(field_begins_.data())
      , line_cursor_(range_.begin) {}

  range_report run();

private:
  // Each returns false when reading must stop.
  __attribute__((always_inline)) bool end_record(uint64_t end, uint64_t quotes,
                                                 uint64_t misplaced,
                                                 uint32_t commas);
  bool end_odd_record(uint64_t end, bool quoted, uint32_t commas);
  bool end_doubled_record(bool& go_on);
  uint8_t field_shape(uint32_t c) const;
  bool split_slowly(uint64_t begin, uint64_t end);
  // `mapped`: the fields lie in the mapped file (not in unquoted_), so the
  // bytes after them may be read up to the range's end.
  __attribute__((always_inline)) bool apply(std::string_view song_text,
                                            std::string_view date_text,
                                            std::string_view count_text,
                                            bool mapped);
  bool reject(std::string what);
  bool stop_at(uint64_t record, std::string what, bool overflow);
  bool flush();
  uint64_t local_line(uint64_t offset);

  uint64_t record_start() const { return begins_[0]; }

  // Notes where the fields after the commas in `bits` (of the block at `b`)
  // begin, from field `next` on.
  void note_commas(uint32_t next, uint64_t bits, uint64_t b) {
    for (; bits != 0; bits &= bits - 1)
      begins_[next++] = b + static_cast<uint64_t>(__builtin_ctzll(bits)) + 1;
  }

  // The bytes of column `r` of a well-formed record being ended.
  std::string_view field(role r) const {
    const uint32_t c = column_[r];
    return {base_ + begins_[c], begins_[c + 1] - 1 - begins_[c]};
  }

  // field(r) without its quotes, for a record whose quoting is simple (see
  // end_record): a field that starts with a quote is then wholly quoted.
  std::string_view value(role r) const {
    const uint32_t c = column_[r];
    const uint64_t size = begins_[c + 1] - 1 - begins_[c];
    const uint64_t quoted = size != 0 && base_[begins_[c]] == '"';
    return {base_ + begins_[c] + quoted, size - 2 * quoted};
  }

  // The bits of the block at `b` whose bytes are next to a field's edge:
  // just after an unquoted comma or LF (`edges`, the block's) or the range's
  // start, or just before one or the range's end. `quoted_before`,
  // `quoted_after`: in_quotes before and after the block, which say whether
  // a comma or LF in the bytes around the block is quoted.
  uint64_t beside_edges(uint64_t b, uint64_t edges, uint64_t quoted_before,
                        uint64_t quoted_after) const {
    const auto is_edge = [](char c) { return c == ',' || c == '\n'; };
    const bool edge_before =
        b == range_.begin || (quoted_before == 0 && is_edge(base_[b - 1]));
    const bool edge_after =
        b + 64 >= range_.end || (quoted_after == 0 && is_edge(base_[b + 64]));
    uint64_t beside = edges << 1 | edges >> 1 | uint64_t{edge_before} |
                      uint64_t{edge_after} << 63;
    if (range_.end - b < 64) // the last byte of the range, in a short block
      beside |= uint64_t{1} << (range_.end - b - 1);
    return beside;
  }

  const char* base_;
  uint64_t offset_;
  byte_range range_;
  uint32_t columns_;
  bad_row_policy policy_;
  partial_aggregate& into_;
  uint32_t tag_;
  uint32_t column_[4]; // by role: the column index

  // Where each field of the open record begins: [0] is the record's start;
  // [columns_] is one past the end of a well-formed record's content, as if a
  // separator followed it. Only the fields of a record with the right number
  // of commas are all noted.
  std::vector<uint64_t> field_begins_;
  uint64_t* begins_; // field_begins_.data()

  uint64_t line_cursor_; // local_line counted LFs up to here
  uint64_t lines_before_cursor_ = 0;
  date_cache dates_;
  std::vector<std::string_view> fields_; // slow path scratch
  std::string unquoted_;
  range_report report_;

  // Valid rows wait here to be added a batch at a time (see add_rows).
  static constexpr size_t batch_size = partial_aggregate::max_batch;
  pending_row pending_[batch_size];
  std::string slow_names_[batch_size]; // names unquoted by the slow path
  size_t npending_ = 0;
};

// Records are ended at their LFs, block by block (block_scanner). Bits
// inside quotes are dropped from the comma and LF masks. The quotes left
// over are counted per record, and so are the misplaced ones: quotes not
// next to a field's edge (end_record tells simple quoting from the rest by
// the counts). A record's commas may come from several blocks: those of
// blocks before its LF are noted as their block is done, the rest when its
// LF is reached.
range_report range_reader::run() {
  begins_[0] = range_.begin;
  uint32_t commas = 0;           // unquoted commas of the open record so far
  uint64_t record_quotes = 0;    // quotes in the open record so far
  uint64_t record_misplaced = 0; // of those, not next to a field's edge
  block_scanner scanner(base_, range_.begin, range_.end);
  const bool read_all = scanner.each([&](
      const scanned_block& block) __attribute__((always_inline)) {
    const uint64_t b = block.at;
    report_.lines += static_cast<uint64_t>(__builtin_popcountll(block.newline));
    uint64_t newlines = block.newline & ~block.inside;
    uint64_t separators = block.comma & ~block.inside;
    uint64_t quotes = block.quote;
    uint64_t misplaced = 0;
    if (quotes != 0)
      misplaced =
          quotes & ~beside_edges(b, newlines | separators, block.quoted_before,
                                 block.quoted_after);
    while (newlines != 0) {
      const int k = __builtin_ctzll(newlines);
      newlines &= newlines - 1;
      const uint64_t before = (uint64_t{1} << k) - 1; // this record's part
      const uint64_t mine = separators & before;
      const uint32_t n =
          commas + static_cast<uint32_t>(__builtin_popcountll(mine));
      if (n < columns_)
        note_commas(commas + 1, mine, b);
      const uint64_t q =
          record_quotes +
          static_cast<uint64_t>(__builtin_popcountll(quotes & before));
      const uint64_t odd =
          record_misplaced +
          static_cast<uint64_t>(__builtin_popcountll(misplaced & before));
      separators &= ~before;
      quotes &= ~before;
      misplaced &= ~before;
      commas = 0;
      record_quotes = 0;
      record_misplaced = 0;
      if (!end_record(b + static_cast<uint64_t>(k), q, odd, n))
        return false;
    }
    // What is left belongs to the open record.
    const uint32_t n =
        commas + static_cast<uint32_t>(__builtin_popcountll(separators));
    if (n < columns_)
      note_commas(commas + 1, separators, b);
    commas = n;
    record_quotes += static_cast<uint64_t>(__builtin_popcountll(quotes));
    record_misplaced += static_cast<uint64_t>(__builtin_popcountll(misplaced));
    return true;
  });
  if (!read_all) // a record stopped the reading
    return std::move(report_);
  // Only the file's last record may lack a line end. One left in quotes has
  // an odd count of quotes, so it takes the slow path (unclosed_quote).
  if (record_start() < range_.end &&
      !end_record(range_.end, record_quotes, record_misplaced, commas))
    return std::move(report_);
  (void)flush();
  return std::move(report_);
}

// The fields of a record with the right number of unquoted commas are all
// noted. Without quotes, they go straight to apply. With quotes, the quoting
// is simple when every field either holds no quote or is wholly quoted with
// no quote inside: then the values are the bytes inside the quotes,
// split_record would cut the same fields, and every other field is valid
// too. With an even count of quotes, every field holds an even count (the
// unquoted commas lie where the count so far is even), so the quoting is
// simple exactly when each quote is a field's first or last byte: when no
// quote is `misplaced` (run counts those next to no comma or LF) but the
// last field's closing quote before a CR. Everything else (doubled quotes,
// quoting errors, a quote left open, a wrong number of fields, an empty
// line) takes end_odd_record.
inline bool range_reader::end_record(uint64_t end, uint64_t quotes,
                                     uint64_t misplaced, uint32_t commas) {
  bool go_on;
  if (__builtin_expect(commas == columns_ - 1, 1)) {
    const bool cr = base_[end - 1] == '\r';
    const uint64_t content_end = end - cr;
    begins_[columns_] = content_end + 1;
    if (__builtin_expect(quotes == 0, 1))
      go_on = apply(field(song), field(date), field(count), true);
    else if ((quotes & 1) == 0 &&
             misplaced == uint64_t{cr && base_[content_end - 1] == '"'})
      go_on = apply(value(song), value(date), value(count), true);
    else if ((quotes & 1) != 0 || !end_doubled_record(go_on))
      go_on = end_odd_record(end, true, commas);
  } else {
    go_on = end_odd_record(end, quotes != 0, commas);
  }
  begins_[0] = end + 1;
  return go_on;
}

// How field `c` of a record with all its fields noted is quoted.
enum field_quoting : uint8_t {
  unquoted,     // no quote in it
  quoted,       // wholly quoted, no quote inside
  doubled,      // wholly quoted, every quote inside doubled ("")
  not_so_simple // anything else: split_record decides
};

uint8_t range_reader::field_shape(uint32_t c) const {
  const char* p = base_ + begins_[c];
  const char* const end = base_ + begins_[c + 1] - 1;
  if (std::memchr(p, '"', static_cast<size_t>(end - p)) == nullptr)
    return unquoted;
  if (end - p < 2 || *p != '"' || end[-1] != '"')
    return not_so_simple;
  uint8_t shape = quoted;
  for (++p; p < end - 1; ++p)
    if (*p == '"') {
      // A quote not doubled closes early. (Its pair is never the closing
      // quote: the field's quotes are even in number, see end_record.)
      if (p[1] != '"')
        return not_so_simple;
      shape = doubled;
      ++p;
    }
  return shape;
}

// A record whose quoted fields hold doubled quotes and are otherwise simple
// (`"Song 1, ""Live""",2020-01-01,3`): checked field by field and the name
// unquoted here, at a third of split_slowly's cost (5 % of the benchmark's
// records; docs/performance.md). False when the record is not such a one
// (or its date or count holds a doubled quote): split_slowly decides.
bool range_reader::end_doubled_record(bool& go_on) {
  uint8_t shape[4] = {}; // by role
  for (uint32_t c = 0; c < columns_; ++c) {
    const uint8_t f = field_shape(c);
    if (f == not_so_simple)
      return false;
    for (const role r : {song, date, count})
      if (column_[r] == c)
        shape[r] = f;
  }
  if (shape[date] == doubled || shape[count] == doubled)
    return false;
  std::string_view name = value(song);
  if (shape[song] == doubled) {
    // "" is one quote: the name without its outer quotes, halved runs.
    std::string& unquoted = slow_names_[npending_];
    unquoted.resize(name.size()); // the capacity stays from earlier names
    char* to = unquoted.data();
    for (const char *from = name.data(), *end = from + name.size();
         from < end;) {
      const auto* quote = static_cast<const char*>(
          std::memchr(from, '"', static_cast<size_t>(end - from)));
      const char* upto = quote == nullptr ? end : quote + 1;
      std::memcpy(to, from, static_cast<size_t>(upto - from));
      to += upto - from;
      from = upto + (quote != nullptr); // the second quote of the pair
    }
    unquoted.resize(static_cast<size_t>(to - unquoted.data()));
    name = unquoted;
  }
  go_on = apply(name, value(date), value(count), true);
  return true;
}

bool range_reader::end_odd_record(uint64_t end, bool quoted, uint32_t commas) {
  const uint64_t begin = record_start();
  const uint64_t content_end =
      end > begin && base_[end - 1] == '\r' ? end - 1 : end;
  if (quoted)
    return split_slowly(begin, content_end);
  if (content_end == begin) // empty lines are skipped
    return true;
  return reject("expected " + std::to_string(columns_) + " fields, found " +
                std::to_string(commas + 1));
}

bool range_reader::split_slowly(uint64_t begin, uint64_t end) {
  const std::string_view record(base_ + begin, end - begin);
  const split_outcome split = split_record(record, fields_, unquoted_);
  if (split.problem != record_problem::none)
    return reject(describe(split, record));
  if (fields_.size() != columns_)
    return reject("expected " + std::to_string(columns_) + " fields, found " +
                  std::to_string(fields_.size()));
  const uint32_t* at = column_;
  // unquoted_ is reused by the next slow record: the pending row keeps its
  // own copy of the name.
  std::string& name = slow_names_[npending_];
  name.assign(fields_[at[song]]);
  return apply(name, fields_[at[date]], fields_[at[count]], false);
}

inline bool range_reader::apply(std::string_view song_text,
                                std::string_view date_text,
                                std::string_view count_text, bool mapped) {
  const parsed_date d = dates_.parse(date_text);
  if (d.status != date_status::ok)
    return reject(describe(d.status, date_text));
  // Reading 8 bytes from the count's start is safe when they are mapped.
  const parsed_count c =
      mapped && count_text.data() + 8 <= base_ + range_.end
          ? parse_short_count(count_text.data(), count_text.size())
          : parse_count(count_text);
  if (c.status != count_status::ok)
    return reject(describe(c.status, count_text));
  const uint64_t hash = hash_bytes(song_text.data(), song_text.size());
  into_.prefetch(hash);
  pending_[npending_++] = {song_text, hash, d.day, c.value,
                           record_start() + offset_};
  return npending_ < batch_size || flush();
}

bool range_reader::flush() {
  const size_t n = npending_;
  npending_ = 0;
  const size_t added = into_.add_rows(pending_, n, tag_);
  report_.rows += added;
  if (added == n)
    return true;
  const pending_row& r = pending_[added];
  return stop_at(r.offset - offset_,
                 "overflow: the total for " + quote_value(r.name) + " on " +
                     format_date(r.day) + " is larger than 9223372036854775807",
                 true);
}

bool range_reader::reject(std::string what) {
  if (!flush()) // an earlier record overflowed: that error comes first
    return false;
  if (policy_ != bad_row_policy::skip)
    return stop_at(record_start(), std::move(what), false);
  if (report_.first_bad.size() < reported_bad_rows)
    report_.first_bad.push_back({local_line(record_start()), std::move(what)});
  ++report_.bad_rows;
  return true;
}

bool range_reader::stop_at(uint64_t record, std::string what, bool overflow) {
  report_.error = row_problem{local_line(record), std::move(what)};
  report_.overflow = overflow;
  return false;
}

uint64_t range_reader::local_line(uint64_t offset) {
  lines_before_cursor_ +=
      count_byte(base_ + line_cursor_, offset - line_cursor_, '\n');
  line_cursor_ = offset;
  return lines_before_cursor_;
}

} // namespace

range_report read_range(file_window window, byte_range range,
                        const csv_layout& layout, bad_row_policy policy,
                        partial_aggregate& into, uint32_t tag) {
  return range_reader(window, range, layout, policy, into, tag).run();
}

} // namespace playcount
