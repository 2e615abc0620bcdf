#include "core/range_reader.hpp"

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
    , line_cursor_(range_.begin) {
  }

  range_report run();

private:
  // Each returns false when reading must stop.
  __attribute__((always_inline)) bool end_record(uint64_t end, uint64_t quotes,
                                                 uint32_t commas);
  bool end_odd_record(uint64_t end, bool quoted, uint32_t commas);
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

  // How many fields of a record being ended (all noted) are wholly quoted:
  // two bytes or more, a quote first and last.
  uint64_t wholly_quoted_fields() const {
    uint64_t n = 0;
    for (uint32_t c = 0; c < columns_; ++c) {
      const char* f = base_ + begins_[c];
      const uint64_t size = begins_[c + 1] - 1 - begins_[c];
      n += size >= 2 && f[0] == '"' && f[size - 1] == '"';
    }
    return n;
  }

  // field(r) without its quotes, for a record whose quoting is simple (see
  // end_record): a field that starts with a quote is then wholly quoted.
  std::string_view value(role r) const {
    const std::string_view f = field(r);
    return !f.empty() && f[0] == '"' ? f.substr(1, f.size() - 2) : f;
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

  uint64_t line_cursor_;     // local_line counted LFs up to here
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

// Records are ended at their LFs, block by block. Bits inside quotes are
// dropped from the comma and LF masks; the quote bits left over are counted
// per record (end_record tells simple quoting from the rest by the count). A
// record's commas may come from several blocks: those of blocks before its LF
// are noted as their block is done, the rest when its LF is reached.
range_report range_reader::run() {
  begins_[0] = range_.begin;
  uint32_t commas = 0;        // unquoted commas of the open record so far
  uint64_t in_quotes = 0;     // all ones when the last block ended in quotes
  uint64_t record_quotes = 0; // quotes in the open record so far
  alignas(64) char tail[64];
  for (uint64_t b = range_.begin; b < range_.end; b += 64) {
    const char* block = base_ + b;
    if (range_.end - b < 64) { // never read past the range's last byte
      std::memset(tail, 0, sizeof tail);
      std::memcpy(tail, block, range_.end - b);
      block = tail;
    }
    const block_masks m = classify_block(block);
    report_.lines += static_cast<uint64_t>(__builtin_popcountll(m.newline));
    uint64_t newlines = m.newline;
    uint64_t separators = m.comma;
    uint64_t quotes = m.quote;
    if ((quotes | in_quotes) != 0) {
      const uint64_t inside = prefix_xor(quotes) ^ in_quotes;
      in_quotes = static_cast<uint64_t>(static_cast<int64_t>(inside) >> 63);
      newlines &= ~inside;
      separators &= ~inside;
    }
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
      separators &= ~before;
      quotes &= ~before;
      commas = 0;
      record_quotes = 0;
      if (!end_record(b + static_cast<uint64_t>(k), q, n))
        return std::move(report_);
    }
    // What is left belongs to the open record.
    const uint32_t n =
      commas + static_cast<uint32_t>(__builtin_popcountll(separators));
    if (n < columns_)
      note_commas(commas + 1, separators, b);
    commas = n;
    record_quotes += static_cast<uint64_t>(__builtin_popcountll(quotes));
  }
  // Only the file's last record may lack a line end. One left in quotes has
  // an odd count of quotes, so it takes the slow path (unclosed_quote).
  if (record_start() < range_.end &&
      !end_record(range_.end, record_quotes, commas))
    return std::move(report_);
  (void)flush();
  return std::move(report_);
}

// The fields of a record with the right number of unquoted commas are all
// noted. Without quotes, they go straight to apply. With `quotes` quotes, the
// quoting is simple when every field either holds no quote or is wholly
// quoted with no quote inside: then the values are the bytes inside the
// quotes, split_record would cut the same fields, and every other field is
// valid too. A wholly quoted field holds two quotes or more and any other
// field holding one holds at least one, so twice the wholly quoted fields
// equals the count exactly when the quoting is simple. Everything else
// (doubled quotes, quoting errors, a wrong number of fields, an empty line)
// takes end_odd_record.
inline bool range_reader::end_record(uint64_t end, uint64_t quotes,
                                     uint32_t commas) {
  bool go_on;
  if (__builtin_expect(commas == columns_ - 1, 1)) {
    const uint64_t content_end = end - (base_[end - 1] == '\r');
    begins_[columns_] = content_end + 1;
    if (__builtin_expect(quotes == 0, 1))
      go_on = apply(field(song), field(date), field(count), true);
    else if (quotes == 2 * wholly_quoted_fields())
      go_on = apply(value(song), value(date), value(count), true);
    else
      go_on = end_odd_record(end, true, commas);
  } else {
    go_on = end_odd_record(end, quotes != 0, commas);
  }
  begins_[0] = end + 1;
  return go_on;
}

bool range_reader::end_odd_record(uint64_t end, bool quoted,
                                  uint32_t commas) {
  const uint64_t begin = record_start();
  const uint64_t content_end = end > begin && base_[end - 1] == '\r' ? end - 1
                                                                      : end;
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
  const uint64_t hash =
    hash_bytes(song_text.data(), song_text.size());
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
  if (policy_ == bad_row_policy::fail)
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
