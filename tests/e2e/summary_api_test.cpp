// GET /jobs/<id>/summary, /songs, /songs/<name> and /view (issue 15) on the
// real binary: every answer against what the test reads itself from the
// job's result.csv; the status codes; restarts, deletion, and summaries
// missing or damaged on disk (rebuilt from the result, which stays as it
// was).

#include "actors/job_store.hpp"
#include "core/fields.hpp"
#include "tests/support/api_client.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

namespace playcount {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using test::http_response;
using test::json_of;
using test::str;

using summary_api_test = test::served_test;

struct result_row {
  std::string song;
  std::string date;
  int64_t plays = 0;
};

// result.csv read as a CSV (quoted fields with commas, quotes, line ends).
std::vector<result_row> parse_result(const std::string& csv) {
  std::vector<result_row> rows;
  std::vector<std::string> fields(1);
  bool quoted = false;
  bool header = true;
  for (size_t i = 0; i < csv.size(); ++i) {
    const char c = csv[i];
    if (quoted) {
      if (c == '"' && i + 1 < csv.size() && csv[i + 1] == '"')
        fields.back() += csv[++i];
      else if (c == '"')
        quoted = false;
      else
        fields.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c == '\n') {
      if (!header) {
        EXPECT_EQ(fields.size(), 3u) << fields[0];
        if (fields.size() == 3)
          rows.push_back({fields[0], fields[1], std::stoll(fields[2])});
      }
      header = false;
      fields.assign(1, "");
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return rows;
}

std::string encoded(const std::string& name) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~')
      out += ch;
    else
      out.append({'%', hex[c >> 4], hex[c & 15]});
  }
  return out;
}

struct song_totals {
  int64_t plays = 0;
  std::string first, last;
  json::array points;
};

// Every song of the result with its totals and points, in name order.
std::map<std::string, song_totals> songs_of(const std::vector<result_row>& rs) {
  std::map<std::string, song_totals> out;
  for (const auto& r : rs) {
    auto& s = out[r.song];
    s.plays += r.plays;
    if (s.first.empty())
      s.first = r.date;
    s.last = r.date;
    s.points.emplace_back(json::array{json::string(r.date), r.plays});
  }
  return out;
}

std::string upload_and_wait(uint16_t port, const std::string& csv) {
  const std::string id = test::submit(port, csv);
  test::wait_for_state(port, id, "finished");
  return id;
}

const std::string tricky_csv = "Song,Date,Number of Plays\n"
                               "Umbrella,2024-01-03,4\n"
                               "Umb,2024-01-02,1\n"
                               "\"Hey, \"\"Jude\"\"\",2024-01-01,2\n"
                               "AC/DC Thunder,2024-02-01,7\n"
                               "100% Pure,2024-01-05,3\n"
                               "a b  c,2024-01-05,1\n"
                               "Caf\xc3\xa9 \xe2\x98\x95,2024-01-04,6\n"
                               "Umbrella,2024-01-05,2\n"
                               "Umbrella,2024-01-03,1\n"
                               "\"Multi\nline\",2024-03-01,9\n"
                               "Umb+rella,2024-01-01,1\n";

TEST_F(summary_api_test, the_summary_is_the_totals_of_the_result_csv) {
  auto s = start();
  test::csv_shape shape;
  shape.rows = 4000;
  shape.songs = 150;
  shape.days = 60;
  const std::string id = upload_and_wait(s->port(), test::make_csv(shape));
  const auto result = test::http_get(s->port(), "/jobs/" + id + "/result/");
  ASSERT_EQ(result.status, 200);
  const auto rows = parse_result(result.body);
  const auto songs = songs_of(rows);
  int64_t plays = 0;
  std::map<std::string, int64_t> by_date;
  for (const auto& r : rows) {
    plays += r.plays;
    by_date[r.date] += r.plays;
  }
  const auto r = test::http_get(s->port(), "/jobs/" + id + "/summary");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.header("content-type"), "application/json");
  // What is on disk is what is answered.
  EXPECT_EQ(test::read_file(paths_for(data(), id).dir + "/summary.json"),
            r.body);
  const auto o = json_of(r);
  EXPECT_EQ(o.at("plays").to_number<int64_t>(), plays);
  EXPECT_EQ(o.at("songs").to_number<uint64_t>(), songs.size());
  EXPECT_EQ(o.at("groups").to_number<uint64_t>(), rows.size());
  EXPECT_EQ(str(o, "firstDate"), by_date.begin()->first);
  EXPECT_EQ(str(o, "lastDate"), by_date.rbegin()->first);
  EXPECT_FALSE(o.contains("skippedRows"));
  const auto& series = o.at("playsByDate").as_object();
  EXPECT_EQ(str(series, "unit"), "day");
  json::array expected_points;
  for (const auto& [date, n] : by_date)
    expected_points.emplace_back(json::array{json::string(date), n});
  EXPECT_EQ(series.at("points").as_array(), expected_points);
  // Top songs: plays descending, ties by name.
  std::vector<std::pair<std::string, const song_totals*>> ranked;
  for (const auto& [name, t] : songs)
    ranked.emplace_back(name, &t);
  std::stable_sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) {
    return a.second->plays > b.second->plays;
  });
  const auto& top = o.at("topSongs").as_array();
  ASSERT_EQ(top.size(), std::min<size_t>(100, songs.size()));
  for (size_t i = 0; i < top.size(); ++i) {
    const auto& t = top[i].as_object();
    EXPECT_EQ(str(t, "song"), ranked[i].first) << i;
    EXPECT_EQ(t.at("plays").to_number<int64_t>(), ranked[i].second->plays);
    EXPECT_EQ(str(t, "firstDate"), ranked[i].second->first);
    EXPECT_EQ(str(t, "lastDate"), ranked[i].second->last);
  }
}

// Bounded by the input: a song on every date of 9999 years would answer
// 100 MB. Past 10 000 dates its points come by month (then year), summed.
TEST_F(summary_api_test,
       a_song_on_more_than_ten_thousand_dates_comes_by_month) {
  auto s = start();
  std::string csv = "Song,Date,Number of Plays\nShort,2024-01-01,5\n";
  std::map<std::string, int64_t> by_month;
  int64_t plays = 0;
  for (day_number d = 0; d < 10001; ++d) { // from 1970-01-01, one a day
    const std::string date = format_date(d);
    const int64_t n = 1 + d % 7;
    csv += "Long," + date + "," + std::to_string(n) + "\n";
    by_month[date.substr(0, 7) + "-01"] += n;
    plays += n;
  }
  const std::string id = upload_and_wait(s->port(), csv);
  const auto r = test::http_get(s->port(), "/jobs/" + id + "/songs/Long");
  ASSERT_EQ(r.status, 200) << r.raw;
  const auto o = json_of(r);
  EXPECT_EQ(str(o, "unit"), "month");
  EXPECT_EQ(o.at("dates").to_number<uint64_t>(), 10001u);
  EXPECT_EQ(o.at("plays").to_number<int64_t>(), plays);
  json::array expected;
  for (const auto& [month, n] : by_month)
    expected.emplace_back(json::array{json::string(month), n});
  EXPECT_EQ(o.at("points").as_array(), expected);
  // A song on few dates keeps its rows.
  const auto few =
      json_of(test::http_get(s->port(), "/jobs/" + id + "/songs/Short"));
  EXPECT_EQ(str(few, "unit"), "day");
  // One point, built apart: clang reads array{array{...}} as a copy.
  json::array one;
  one.emplace_back(json::array{"2024-01-01", 5});
  EXPECT_EQ(few.at("points").as_array(), one);
}

TEST_F(summary_api_test, prefix_search_and_series_agree_with_the_result_csv) {
  auto s = start();
  const std::string id = upload_and_wait(s->port(), tricky_csv);
  const std::string base = "/jobs/" + id + "/songs";
  const auto result = test::http_get(s->port(), "/jobs/" + id + "/result/");
  const auto songs = songs_of(parse_result(result.body));
  ASSERT_EQ(songs.size(), 9u);
  // Every song's series, by its name percent-encoded.
  for (const auto& [name, t] : songs) {
    const auto r = test::http_get(s->port(), base + "/" + encoded(name));
    ASSERT_EQ(r.status, 200) << name << "\n" << r.raw;
    const auto o = json_of(r);
    EXPECT_EQ(str(o, "song"), name);
    EXPECT_EQ(o.at("plays").to_number<int64_t>(), t.plays) << name;
    EXPECT_EQ(str(o, "firstDate"), t.first) << name;
    EXPECT_EQ(str(o, "lastDate"), t.last) << name;
    EXPECT_EQ(o.at("points").as_array(), t.points) << name;
    EXPECT_EQ(str(o, "unit"), "day") << name;
    EXPECT_EQ(o.at("dates").to_number<uint64_t>(), t.points.size()) << name;
  }
  // A name that is a prefix of others finds itself and them, in byte order.
  const auto list = [&](const std::string& query) {
    const auto r = test::http_get(s->port(), base + query);
    EXPECT_EQ(r.status, 200) << query << "\n" << r.raw;
    return json_of(r);
  };
  const auto names = [](const json::object& o) {
    std::vector<std::string> out;
    for (const auto& v : o.at("songs").as_array())
      out.emplace_back(v.as_object().at("song").as_string());
    return out;
  };
  const auto umb = list("?prefix=Umb");
  EXPECT_EQ(str(umb, "prefix"), "Umb");
  EXPECT_EQ(names(umb),
            (std::vector<std::string>{"Umb", "Umb+rella", "Umbrella"}));
  EXPECT_FALSE(umb.at("more").as_bool());
  const auto& umbrella = umb.at("songs").as_array()[2].as_object();
  EXPECT_EQ(umbrella.at("plays").to_number<int64_t>(), 7);
  EXPECT_EQ(umbrella.at("dates").to_number<int64_t>(), 2);
  EXPECT_EQ(str(umbrella, "firstDate"), "2024-01-03");
  EXPECT_EQ(str(umbrella, "lastDate"), "2024-01-05");
  // '+' in a query is a space (as a form sends it); %2B is a plus.
  EXPECT_EQ(names(list("?prefix=Umb%2B")),
            (std::vector<std::string>{"Umb+rella"}));
  EXPECT_EQ(names(list("?prefix=a+b")), (std::vector<std::string>{"a b  c"}));
  EXPECT_EQ(names(list("?prefix=" + encoded("Caf\xc3\xa9"))),
            (std::vector<std::string>{"Caf\xc3\xa9 \xe2\x98\x95"}));
  EXPECT_EQ(names(list("?prefix=%22Hey")).size(), 0u);
  EXPECT_EQ(names(list("?prefix=Hey%2C")),
            (std::vector<std::string>{"Hey, \"Jude\""}));
  // All, in byte order; limit and more.
  std::vector<std::string> all;
  for (const auto& [name, t] : songs)
    all.push_back(name);
  const auto every = list("");
  EXPECT_EQ(names(every), all);
  EXPECT_FALSE(every.at("more").as_bool());
  const auto two = list("?limit=2&prefix=");
  EXPECT_EQ(names(two), std::vector<std::string>(all.begin(), all.begin() + 2));
  EXPECT_TRUE(two.at("more").as_bool());
  EXPECT_FALSE(list("?prefix=Umb&limit=3").at("more").as_bool());
  EXPECT_TRUE(list("?prefix=Umb&limit=2").at("more").as_bool());
  // No such song: 404 naming it.
  const auto none = test::http_get(s->port(), base + "/Umbrell");
  EXPECT_EQ(none.status, 404) << none.raw;
  EXPECT_EQ(str(json_of(none), "error"),
            "job " + id + " has no song named \"Umbrell\"");
}

TEST_F(summary_api_test, unknown_unfinished_failed_and_bad_requests) {
  // No workers: the first job starts and never ends, the second waits.
  auto s = start({"--workers", "0", "--max-running-jobs", "1"});
  const auto port = s->port();
  const std::string started = test::submit(port, tricky_csv);
  const std::string queued = test::submit(port, tricky_csv);
  const std::vector<std::string> tails = {"/summary", "/songs?prefix=U",
                                          "/songs/Umbrella"};
  for (const auto& tail : tails) {
    const auto a = test::http_get(port, "/jobs/" + started + tail);
    EXPECT_EQ(a.status, 202) << tail << "\n" << a.raw;
    EXPECT_EQ(a.body.rfind("Job: started", 0), 0u) << a.body;
    const auto b = test::http_get(port, "/jobs/" + queued + tail);
    EXPECT_EQ(b.status, 202) << b.raw;
    EXPECT_EQ(b.body, "Job: queued");
    for (const std::string id :
         {"0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f", "abc", ".."}) {
      const auto r = test::http_get(port, "/jobs/" + id + tail);
      EXPECT_EQ(r.status, 404) << id << tail << "\n" << r.raw;
      EXPECT_EQ(r.body, R"({"message":"Job not found."})");
    }
  }
  // Canceled: 422 (no result will come).
  EXPECT_EQ(test::http_delete(port, "/jobs/" + queued + "/").status, 200);
  const auto c = test::http_get(port, "/jobs/" + queued + "/summary");
  EXPECT_EQ(c.status, 422) << c.raw;
  EXPECT_EQ(c.body, "Job: canceled");
  // Bad parameters and names: 400 saying what (before the job is looked at).
  const std::string songs = "/jobs/" + started + "/songs";
  for (const std::string q :
       {"?limit=0", "?limit=1001", "?limit=abc", "?limit=", "?limit=-1",
        "?prefix=U&x=1", "?Prefix=U", "?prefix=%zz", "?prefix=%4"}) {
    const auto r = test::http_get(port, songs + q);
    EXPECT_EQ(r.status, 400) << q << "\n" << r.raw;
    const std::string message = str(json_of(r), "message");
    EXPECT_TRUE(message.find("limit") != std::string::npos ||
                message.find("parameter") != std::string::npos ||
                message.find("%-escape") != std::string::npos)
        << message;
  }
  EXPECT_NE(str(json_of(test::http_get(port, songs + "?x=1")), "message")
                .find("\"x\""),
            std::string::npos);
  for (const std::string name : {"Umb%zzrella", "Umb%4", "%", "%G0"}) {
    const auto r = test::http_get(port, songs + "/" + name);
    EXPECT_EQ(r.status, 400) << name << "\n" << r.raw;
    EXPECT_NE(str(json_of(r), "message").find("%-escape"), std::string::npos);
  }
  EXPECT_EQ(test::http_get(port, "/jobs/" + started + "/summary?x=1").status,
            400);
  // Only GET (and HEAD).
  const auto post = test::http_exchange(
      port, test::request_text("DELETE", "/jobs/" + started + "/summary"));
  EXPECT_EQ(post.status, 405) << post.raw;
  EXPECT_EQ(post.header("allow"), "GET");
}

TEST_F(summary_api_test, a_failed_job_answers_422) {
  auto s = start();
  const std::string id =
      test::submit(s->port(), "Song,Date,Number of Plays\na,2021-02-30,1\n");
  test::wait_for_state(s->port(), id, "failed");
  for (const std::string tail : {"/summary", "/songs", "/songs/a"}) {
    const auto r = test::http_get(s->port(), "/jobs/" + id + tail);
    EXPECT_EQ(r.status, 422) << r.raw;
    EXPECT_EQ(r.body.rfind("Job: failed: line 2", 0), 0u) << r.body;
  }
  EXPECT_FALSE(test::exists(paths_for(data(), id).summary));
  EXPECT_FALSE(test::exists(paths_for(data(), id).index));
}

TEST_F(summary_api_test, the_view_is_the_page_for_a_job_id_only) {
  auto s = start();
  const auto r = test::http_get(
      s->port(), "/jobs/0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f/view");
  EXPECT_EQ(r.status, 200) << r.raw.substr(0, 300);
  EXPECT_EQ(r.header("content-type").rfind("text/html", 0), 0u);
  EXPECT_EQ(r.body, test::http_get(s->port(), "/").body);
  for (const std::string id :
       {"abc", "..", "0B0C4E3A-1F2B-4C5D-8E6F-7A8B9C0D1E2F"})
    EXPECT_EQ(test::http_get(s->port(), "/jobs/" + id + "/view").status, 404)
        << id;
}

// The answers of a job, to compare across restarts and rebuilds.
std::string answers(uint16_t port, const std::string& id) {
  std::string out;
  for (const std::string tail :
       {"/summary", "/songs?limit=1000", "/songs/Umbrella",
        "/songs/AC%2FDC%20Thunder", "/songs/Multi%0Aline"}) {
    http_response r;
    // 503 with Retry-After while the summary is (re)built.
    EXPECT_TRUE(test::eventually(
        [&] {
          r = test::http_get(port, "/jobs/" + id + tail);
          if (r.status == 503) {
            EXPECT_EQ(r.header("retry-after"), "1");
            EXPECT_EQ(str(json_of(r), "error"),
                      "the summary of job " + id + " is being built");
          }
          return r.status != 503;
        },
        20s));
    EXPECT_EQ(r.status, 200) << tail << "\n" << r.raw;
    out += tail + " " + r.body + "\n";
  }
  return out;
}

TEST_F(summary_api_test,
       summaries_survive_restarts_are_rebuilt_and_go_with_the_job) {
  std::string id;
  std::string first;
  std::string result_bytes;
  job_paths p;
  {
    auto s = start();
    id = upload_and_wait(s->port(), tricky_csv);
    first = answers(s->port(), id);
  }
  p = paths_for(data(), id);
  result_bytes = test::read_file(p.result);
  ASSERT_TRUE(test::exists(p.summary));
  ASSERT_TRUE(test::exists(p.index));
  const auto restart_with = [&](const std::function<void()>& damage,
                                const std::string& what) {
    damage();
    auto s = start();
    EXPECT_EQ(answers(s->port(), id), first) << what;
    EXPECT_EQ(test::read_file(p.result), result_bytes) << what;
    EXPECT_TRUE(test::exists(p.summary)) << what;
    EXPECT_TRUE(test::exists(p.index)) << what;
  };
  restart_with([] {}, "a restart");
  restart_with([&] { std::filesystem::remove(p.summary); },
               "summary.json removed");
  restart_with([&] { std::filesystem::remove(p.index); }, "songs.idx removed");
  restart_with(
      [&] { std::ofstream(p.summary, std::ios::trunc) << "{\"plays\": 1"; },
      "summary.json damaged");
  restart_with(
      [&] {
        const auto size = std::filesystem::file_size(p.index);
        std::filesystem::resize_file(p.index, size / 2);
      },
      "songs.idx cut short");
  restart_with(
      [&] {
        std::string bytes = test::read_file(p.index);
        for (size_t i = 8; i < bytes.size(); i += 3)
          bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
        std::ofstream(p.index, std::ios::trunc | std::ios::binary) << bytes;
      },
      "songs.idx garbled");
  // A result that does not parse: 500 saying so, and the result stays.
  {
    std::ofstream(p.result, std::ios::trunc) << "not,a\nresult";
    std::filesystem::remove(p.summary);
    auto s = start();
    http_response r;
    EXPECT_TRUE(test::eventually(
        [&] {
          r = test::http_get(s->port(), "/jobs/" + id + "/summary");
          return r.status != 503;
        },
        20s));
    EXPECT_EQ(r.status, 500) << r.raw;
    EXPECT_NE(str(json_of(r), "error").find("cannot be built"),
              std::string::npos)
        << r.body;
    EXPECT_EQ(test::read_file(p.result), "not,a\nresult");
    // Deleted: every file of the job goes.
    EXPECT_EQ(test::http_delete(s->port(), "/jobs/" + id + "/").status, 200);
    EXPECT_FALSE(test::exists(p.dir));
    EXPECT_EQ(test::http_get(s->port(), "/jobs/" + id + "/summary").status,
              404);
  }
}

TEST_F(summary_api_test,
       a_result_recovered_from_a_damaged_record_keeps_its_summary) {
  std::string id;
  std::string summary;
  {
    auto s = start();
    id = upload_and_wait(s->port(), tricky_csv);
    summary = test::http_get(s->port(), "/jobs/" + id + "/summary").body;
  }
  const job_paths p = paths_for(data(), id);
  std::ofstream(p.record, std::ios::trunc) << "{\"id\": 1";
  auto s = start();
  // Kept beside the result (not set aside with job.json): answered at once.
  EXPECT_TRUE(test::exists(p.summary));
  EXPECT_TRUE(test::exists(p.index));
  EXPECT_FALSE(test::exists(data() + "/damaged/" + id + "/summary.json"));
  const auto r = test::http_get(s->port(), "/jobs/" + id + "/summary");
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body, summary);
}

} // namespace
} // namespace playcount
