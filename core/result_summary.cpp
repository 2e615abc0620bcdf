#include "core/result_summary.hpp"

#include "core/mapped_file.hpp"
#include "core/result_reader.hpp"
#include "core/result_writer.hpp"
#include "core/song_index.hpp"
#include "core/utf8.hpp"
#include "core/write_all.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace playcount {

namespace {

// Sums that saturate: a song's or a job's plays may pass 2^63-1 even though
// every row's total fits.
int64_t plus(int64_t a, int64_t b) noexcept {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum))
    return b > 0 ? INT64_MAX : INT64_MIN;
  return sum;
}

// The first day of the month or year of `day`.
day_number bucket_start(day_number day, result_summary::unit u) {
  if (u == result_summary::unit::day)
    return day;
  char text[10];
  format_date(day, text);
  if (u == result_summary::unit::year) {
    text[5] = '0';
    text[6] = '1';
  }
  text[8] = '0';
  text[9] = '1';
  return parse_date(std::string_view(text, sizeof text)).day;
}

std::string date_text(day_number day) {
  return format_date(day);
}

} // namespace

bool ranks_before(const song_summary& a, const song_summary& b) {
  if (a.plays != b.plays)
    return a.plays > b.plays;
  return a.song < b.song;
}

void summary_part::widen(day_number day) {
  if (by_day_.empty()) {
    base_ = day;
    by_day_.assign(1024, 0);
    if (static_cast<int64_t>(day) + 1024 > INT32_MAX)
      base_ = INT32_MAX - 1023;
    return;
  }
  const int64_t lo = std::min<int64_t>(base_, day);
  const int64_t hi = std::max<int64_t>(
      base_ + static_cast<int64_t>(by_day_.size()), int64_t{day} + 1);
  // Twice the span, toward the side that grew: a few copies at most.
  int64_t span = std::max<int64_t>(hi - lo, 2 * int64_t(by_day_.size()));
  int64_t new_base = day < base_ ? hi - span : lo;
  new_base = std::max<int64_t>(new_base, INT32_MIN);
  span = std::min<int64_t>(span, int64_t{INT32_MAX} - new_base + 1);
  std::vector<int64_t> wider(static_cast<size_t>(span), 0);
  std::copy(by_day_.begin(), by_day_.end(), wider.begin() + (base_ - new_base));
  by_day_ = std::move(wider);
  base_ = static_cast<day_number>(new_base);
}

void summary_part::end_song(const song_rows_seen& s) {
  if (songs_ == 0 || s.first < first_)
    first_ = s.first;
  if (songs_ == 0 || s.last > last_)
    last_ = s.last;
  ++songs_;
  groups_ += s.dates;
  plays_ = plus(plays_, s.plays);
  if (top_.size() == top_song_count) {
    const song_summary& last = top_.front(); // the one ranked last
    if (s.plays < last.plays || (s.plays == last.plays && s.song >= last.song))
      return; // the usual case: no name copied
  }
  offer_top(song_summary{std::string(s.song), s.plays, s.first, s.last});
}

void summary_part::offer_top(song_summary&& s) {
  if (top_.size() == top_song_count) {
    if (!ranks_before(s, top_.front()))
      return;
    std::pop_heap(top_.begin(), top_.end(), ranks_before);
    top_.back() = std::move(s);
  } else {
    top_.push_back(std::move(s));
  }
  // A heap whose front ranks last.
  std::push_heap(top_.begin(), top_.end(), ranks_before);
}

void summary_part::merge(summary_part&& other) {
  if (other.songs_ == 0)
    return;
  if (!other.by_day_.empty()) {
    // Other's days are first_..last_ (its songs' spans): covered, added.
    for (const day_number day : {other.first_, other.last_})
      if (by_day_.empty() || day < base_ ||
          int64_t{day} >= base_ + int64_t(by_day_.size()))
        widen(day);
    for (int64_t day = other.first_; day <= other.last_; ++day) {
      const int64_t v = other.by_day_[static_cast<size_t>(day - other.base_)];
      if (v != 0) {
        int64_t& into = by_day_[static_cast<size_t>(day - base_)];
        into = plus(into, v);
      }
    }
  }
  for (song_summary& s : other.top_)
    offer_top(std::move(s));
  if (songs_ == 0 || other.first_ < first_)
    first_ = other.first_;
  if (songs_ == 0 || other.last_ > last_)
    last_ = other.last_;
  songs_ += other.songs_;
  groups_ += other.groups_;
  plays_ = plus(plays_, other.plays_);
  other = summary_part{};
}

result_summary summary_part::finish_all(std::vector<summary_part>& parts,
                                        std::optional<uint64_t> skipped) {
  summary_part all;
  for (summary_part& p : parts)
    all.merge(std::move(p));
  return std::move(all).finish(skipped);
}

result_summary::unit
bucket_series(std::vector<std::pair<day_number, int64_t>>& days) {
  // The finest unit that needs no more than series_point_limit points.
  result_summary::unit u = result_summary::unit::day;
  for (const auto next :
       {result_summary::unit::month, result_summary::unit::year}) {
    if (days.size() <= series_point_limit)
      break;
    u = next;
    size_t kept = 0;
    for (const auto& [day, plays] : days) {
      const day_number at = bucket_start(day, u);
      if (kept > 0 && days[kept - 1].first == at)
        days[kept - 1].second = plus(days[kept - 1].second, plays);
      else
        days[kept++] = {at, plays};
    }
    days.resize(kept);
  }
  return u;
}

const char* series_unit_name(result_summary::unit u) {
  switch (u) {
  case result_summary::unit::month:
    return "month";
  case result_summary::unit::year:
    return "year";
  case result_summary::unit::day:
    break;
  }
  return "day";
}

result_summary summary_part::finish(std::optional<uint64_t> skipped) && {
  result_summary out;
  out.plays = plays_;
  out.songs = songs_;
  out.groups = groups_;
  out.first = first_;
  out.last = last_;
  out.skipped_rows = skipped;
  std::sort(top_.begin(), top_.end(), ranks_before);
  out.top_songs = std::move(top_);
  for (size_t i = 0; i < by_day_.size(); ++i)
    if (by_day_[i] != 0)
      out.series.emplace_back(static_cast<day_number>(base_ + int64_t(i)),
                              by_day_[i]);
  out.series_unit = bucket_series(out.series);
  return out;
}

std::string summary_json(const result_summary& s) {
  namespace json = boost::json;
  json::object doc;
  doc["plays"] = s.plays;
  doc["songs"] = s.songs;
  doc["groups"] = s.groups;
  if (s.empty()) {
    doc["firstDate"] = nullptr;
    doc["lastDate"] = nullptr;
  } else {
    doc["firstDate"] = date_text(s.first);
    doc["lastDate"] = date_text(s.last);
  }
  if (s.skipped_rows)
    doc["skippedRows"] = *s.skipped_rows;
  json::array points;
  points.reserve(s.series.size());
  for (const auto& [day, plays] : s.series)
    points.push_back(json::array{json::string(date_text(day)), plays});
  doc["playsByDate"] = json::object{{"unit", series_unit_name(s.series_unit)},
                                    {"points", std::move(points)}};
  json::array top;
  for (const song_summary& t : s.top_songs)
    top.push_back(json::object{{"song", printable_utf8(t.song)},
                               {"plays", t.plays},
                               {"firstDate", date_text(t.first)},
                               {"lastDate", date_text(t.last)}});
  doc["topSongs"] = std::move(top);
  return json::serialize(doc) + "\n";
}

namespace {

// A "YYYY-MM-DD" member, or why not.
bool read_date(const boost::json::value* v, day_number& out) {
  if (v == nullptr || !v->is_string())
    return false;
  const parsed_date d = parse_date(v->get_string());
  out = d.day;
  return d.status == date_status::ok;
}

bool read_int(const boost::json::value* v, int64_t& out) {
  if (v == nullptr || !v->is_int64())
    return v != nullptr && v->is_uint64() && v->get_uint64() <= INT64_MAX &&
           (out = static_cast<int64_t>(v->get_uint64()), true);
  out = v->get_int64();
  return true;
}

bool read_count(const boost::json::value* v, uint64_t& out) {
  int64_t n = 0;
  if (v != nullptr && v->is_uint64()) {
    out = v->get_uint64();
    return true;
  }
  if (!read_int(v, n) || n < 0)
    return false;
  out = static_cast<uint64_t>(n);
  return true;
}

} // namespace

result<result_summary> read_summary(const std::string& path) {
  namespace json = boost::json;
  mapped_file file;
  if (auto opened = file.open(path); !opened)
    return std::move(opened).error().within("cannot read the summary");
  const auto damaged = [&](const std::string& what) {
    return failure::because("the summary", path, "damaged: " + what);
  };
  json::error_code ec;
  const json::value doc = json::parse(file.bytes(), ec);
  if (ec)
    return damaged("not JSON (" + ec.message() + ")");
  if (!doc.is_object())
    return damaged("not a JSON object");
  const json::object& o = doc.get_object();
  result_summary s;
  if (!read_int(o.if_contains("plays"), s.plays))
    return damaged("no plays");
  if (!read_count(o.if_contains("songs"), s.songs))
    return damaged("no songs");
  if (!read_count(o.if_contains("groups"), s.groups))
    return damaged("no groups");
  if (!s.empty()) {
    if (!read_date(o.if_contains("firstDate"), s.first) ||
        !read_date(o.if_contains("lastDate"), s.last) || s.first > s.last)
      return damaged("bad firstDate or lastDate");
  }
  if (const json::value* v = o.if_contains("skippedRows")) {
    uint64_t n = 0;
    if (!read_count(v, n))
      return damaged("bad skippedRows");
    s.skipped_rows = n;
  }
  const json::value* series = o.if_contains("playsByDate");
  if (series == nullptr || !series->is_object())
    return damaged("no playsByDate");
  const json::value* u = series->get_object().if_contains("unit");
  const json::value* points = series->get_object().if_contains("points");
  if (u == nullptr || !u->is_string() || points == nullptr ||
      !points->is_array())
    return damaged("bad playsByDate");
  if (u->get_string() == "day")
    s.series_unit = result_summary::unit::day;
  else if (u->get_string() == "month")
    s.series_unit = result_summary::unit::month;
  else if (u->get_string() == "year")
    s.series_unit = result_summary::unit::year;
  else
    return damaged("bad playsByDate unit");
  for (const json::value& p : points->get_array()) {
    day_number day = 0;
    int64_t plays = 0;
    if (!p.is_array() || p.get_array().size() != 2 ||
        !read_date(&p.get_array()[0], day) ||
        !read_int(&p.get_array()[1], plays) ||
        (!s.series.empty() && s.series.back().first >= day))
      return damaged("bad playsByDate point");
    s.series.emplace_back(day, plays);
  }
  const json::value* top = o.if_contains("topSongs");
  if (top == nullptr || !top->is_array() ||
      top->get_array().size() > top_song_count)
    return damaged("bad topSongs");
  for (const json::value& t : top->get_array()) {
    song_summary one;
    const json::object* so = t.if_object();
    const json::value* name = so != nullptr ? so->if_contains("song") : nullptr;
    if (name == nullptr || !name->is_string() ||
        !read_int(so->if_contains("plays"), one.plays) ||
        !read_date(so->if_contains("firstDate"), one.first) ||
        !read_date(so->if_contains("lastDate"), one.last))
      return damaged("bad topSongs entry");
    one.song = std::string(name->get_string());
    s.top_songs.push_back(std::move(one));
  }
  return s;
}

result<void> write_file_atomically(const std::string& path,
                                   std::string_view text, bool durable) {
  return write_output(path, durable,
                      [&](const text_sink& sink) { return sink(text); });
}

result<result_summary> summarize_result_file(
    const std::string& result_csv, const std::string& summary_path,
    const std::string& index_path, std::optional<uint64_t> skipped_rows) {
  mapped_file file;
  if (auto opened = file.open(result_csv); !opened)
    return std::move(opened).error().within("cannot summarize the result");
  const std::string_view bytes = file.bytes();
  const auto bad = [&](const std::string& why) {
    return failure::because("cannot summarize", result_csv, why);
  };
  result_reader rows(bytes);
  if (!rows.header())
    return bad("it does not start with the result's header");
  summary_part part;
  // One record per song: its name in `names`, by offset.
  struct song {
    uint64_t name_at;
    uint32_t name_len;
    song_record rec;
  };
  std::vector<song> songs;
  std::string names;
  std::string current; // the song whose rows are being read (unquoted)
  bool open = false;
  song_record rec;
  const auto close = [&](uint64_t end) {
    rec.length = end - rec.offset;
    part.end_song(song_rows_seen{current, rec.plays, rec.first, rec.last,
                                 rec.dates, rec.offset, rec.length});
    songs.push_back(
        song{names.size(), static_cast<uint32_t>(current.size()), rec});
    names += current;
  };
  std::string_view name;
  day_number day = 0;
  int64_t total = 0;
  std::string why;
  while (rows.next(name, day, total, why)) {
    if (!open || name != current) {
      if (open)
        close(rows.start());
      current.assign(name);
      open = true;
      rec = song_record{0, day, day, rows.start(), 0, 0};
    } else if (day <= rec.last) {
      return bad("line of " + printable_utf8(current) +
                 ": dates not ascending");
    }
    part.add_day(day, total);
    rec.plays = plus(rec.plays, total);
    rec.last = day;
    ++rec.dates;
  }
  if (!why.empty())
    return bad(why);
  if (open)
    close(rows.at());
  const auto name_of = [&](uint32_t i) {
    return std::string_view(names.data() + songs[i].name_at, songs[i].name_len);
  };
  std::vector<name_key> keys(songs.size());
  for (uint32_t i = 0; i < keys.size(); ++i)
    keys[i] = name_key::of(name_of(i), i);
  std::sort(keys.begin(), keys.end(),
            [&](const name_key& a, const name_key& b) {
              return name_before(a, b, name_of);
            });
  std::vector<uint32_t> order(keys.size());
  for (size_t i = 0; i < keys.size(); ++i)
    order[i] = keys[i].index;
  keys = std::vector<name_key>();
  for (size_t i = 1; i < order.size(); ++i)
    if (name_of(order[i - 1]) == name_of(order[i]))
      return bad("the rows of " + printable_utf8(name_of(order[i])) +
                 " are not together");
  result_summary made = std::move(part).finish(skipped_rows);
  if (!index_path.empty()) {
    size_t k = 0;
    auto written =
        write_song_index(index_path, songs.size(), names.size(), bytes.size(),
                         false, [&](std::string_view& n, song_record& r) {
                           if (k == order.size())
                             return false;
                           n = name_of(order[k]);
                           r = songs[order[k]].rec;
                           ++k;
                           return true;
                         });
    if (!written)
      return std::move(written).error();
  }
  if (!summary_path.empty())
    if (auto written =
            write_file_atomically(summary_path, summary_json(made), false);
        !written)
      return std::move(written).error();
  return made;
}

} // namespace playcount
