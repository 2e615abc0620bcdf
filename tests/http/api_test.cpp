// The HTTP API without sockets: the route table, every reply's status and
// body, request framing (heads, Content-Length, chunks) and uploads to disk.

#include "actors/job_store.hpp"
#include "http/api.hpp"
#include "http/routes.hpp"
#include "http/upload.hpp"
#include "http/wire.hpp"
#include "tests/support/compressed.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/page_cache.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cerrno>
#include <fcntl.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

namespace playcount::http {
namespace {

using test::temp_dir;

// -- routes -------------------------------------------------------------------

TEST(routes, every_path_of_the_contract_finds_its_endpoint) {
  const std::string id = "0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f";
  struct row {
    std::string method, path;
    route_match::kind_type kind;
    endpoint target;
    std::string id, allow;
  };
  const std::vector<row> rows = {
      {"POST", "/jobs/count/", route_match::found, endpoint::upload, "", ""},
      {"POST", "/jobs/count", route_match::found, endpoint::upload, "", ""},
      {"GET", "/jobs/count/", route_match::bad_method, endpoint::upload, "",
       "POST, PUT"},
      {"PUT", "/jobs/count/", route_match::found, endpoint::upload, "", ""},
      // curl -T plays.csv .../jobs/count/ (and with -X POST)
      {"PUT", "/jobs/count/plays.csv", route_match::found, endpoint::upload,
       "plays.csv", ""},
      {"POST", "/jobs/count/a%20b.csv", route_match::found, endpoint::upload,
       "a%20b.csv", ""},
      {"GET", "/jobs/count/x", route_match::bad_method, endpoint::upload, "x",
       "POST, PUT"},
      {"GET", "/jobs/" + id + "/result/", route_match::found,
       endpoint::job_result, id, ""},
      {"GET", "/jobs/" + id + "/result", route_match::found,
       endpoint::job_result, id, ""},
      {"GET", "//jobs//" + id + "//result//", route_match::found,
       endpoint::job_result, id, ""},
      {"DELETE", "/jobs/" + id + "/result/", route_match::bad_method,
       endpoint::job_result, id, "GET"},
      {"GET", "/jobs/" + id + "/", route_match::found, endpoint::job, id, ""},
      {"DELETE", "/jobs/" + id, route_match::found, endpoint::job, id, ""},
      {"PUT", "/jobs/" + id + "/", route_match::bad_method, endpoint::job, id,
       "GET, DELETE"},
      {"GET", "/jobs/abc/", route_match::found, endpoint::job, "abc", ""},
      {"GET", "/jobs/", route_match::found, endpoint::jobs, "", ""},
      {"GET", "/jobs", route_match::found, endpoint::jobs, "", ""},
      {"GET", "/admin/stats", route_match::found, endpoint::stats, "", ""},
      {"GET", "/admin/stats/", route_match::found, endpoint::stats, "", ""},
      {"GET", "/healthz", route_match::found, endpoint::health, "", ""},
      {"HEAD", "/healthz", route_match::found, endpoint::health, "", ""},
      {"HEAD", "/jobs/" + id + "/result/", route_match::found,
       endpoint::job_result, id, ""},
      {"HEAD", "/jobs/" + id + "/", route_match::found, endpoint::job, id, ""},
      {"GET", "/metrics", route_match::found, endpoint::metrics, "", ""},
      {"GET", "/", route_match::found, endpoint::page, "index.html", ""},
      {"GET", "", route_match::found, endpoint::page, "index.html", ""},
      {"POST", "/", route_match::bad_method, endpoint::page, "index.html",
       "GET"},
      {"GET", "/admin", route_match::found, endpoint::page, "admin.html", ""},
      {"GET", "/admin/", route_match::found, endpoint::page, "admin.html", ""},
      {"GET", "/web/app.js", route_match::found, endpoint::page, "app.js", ""},
      {"GET", "/readyz", route_match::found, endpoint::ready, "", ""},
      {"HEAD", "/readyz/", route_match::found, endpoint::ready, "", ""},
      {"POST", "/readyz", route_match::bad_method, endpoint::ready, "", "GET"},
      {"GET", "/version", route_match::found, endpoint::version, "", ""},
      {"GET", "/openapi.json", route_match::found, endpoint::page,
       "openapi.json", ""},
      {"GET", "/jobs/" + id + "/summary", route_match::found,
       endpoint::job_summary, id, ""},
      {"GET", "/jobs/" + id + "/songs/", route_match::found,
       endpoint::job_songs, id, ""},
      {"GET", "/jobs/" + id + "/songs/AC%2FDC", route_match::found,
       endpoint::job_song, id, ""},
      {"DELETE", "/jobs/" + id + "/songs/x", route_match::bad_method,
       endpoint::job_song, id, "GET"},
      {"GET", "/jobs/" + id + "/view", route_match::found, endpoint::job_view,
       id, ""},
  };
  for (const auto& x : rows) {
    const route_match m = match_route(x.method, x.path);
    EXPECT_EQ(m.kind, x.kind) << x.method << " " << x.path;
    EXPECT_EQ(m.target, x.target) << x.method << " " << x.path;
    EXPECT_EQ(m.id, x.id) << x.method << " " << x.path;
    EXPECT_EQ(m.allow, x.allow) << x.method << " " << x.path;
  }
}

TEST(routes, anything_else_is_no_route) {
  for (const char* path :
       {"/job/", "/jobs/a/b/", "/jobs/a/result/extra/", "/admin/stats/x",
        "/healthz/x", "/JOBS/", "/jobs/count/x/y", "/web/", "/web/a/b.js",
        "/metrics/x", "/index.html", "/jobs/a/songs/AC/DC", "/jobs/a/summary/x",
        "/jobs/a/view/x"})
    EXPECT_EQ(match_route("GET", path).kind, route_match::no_route) << path;
}

TEST(routes, a_song_route_keeps_its_name_segment_as_given) {
  const auto m = match_route("GET", "/jobs/x/songs/AC%2FDC%20a+b");
  EXPECT_EQ(m.name, "AC%2FDC%20a+b");
  EXPECT_EQ(m.pattern, "/jobs/{id}/songs/{name}");
  EXPECT_EQ(std::get<std::string>(decode_song_name(m.name)), "AC/DC a+b");
  for (const char* bad : {"%", "a%2", "%zz", "%G0"})
    EXPECT_TRUE(std::holds_alternative<api_error>(decode_song_name(bad)))
        << bad;
}

TEST(song_query, prefix_and_limit_or_a_400_naming_what_is_wrong) {
  const auto q = std::get<song_query>(
      parse_song_query({{"prefix", "Umb%2B+x"}, {"limit", "1000"}}));
  EXPECT_EQ(q.prefix, "Umb+ x");
  EXPECT_EQ(q.limit, 1000u);
  const auto none = std::get<song_query>(parse_song_query({}));
  EXPECT_EQ(none.prefix, "");
  EXPECT_EQ(none.limit, 20u);
  const auto message = [](const query_params& p) {
    const auto r = parse_song_query(p);
    const auto* e = std::get_if<api_error>(&r);
    EXPECT_TRUE(e != nullptr);
    return e ? e->message : std::string();
  };
  for (const char* limit : {"0", "1001", "", "x", "-1", "10000000000"})
    EXPECT_NE(message({{"limit", limit}})
                  .find("limit is a number from 1 to "
                        "1000"),
              std::string::npos)
        << limit;
  EXPECT_EQ(message({{"q", "x"}}),
            "unknown parameter \"q\"; the parameters are prefix, limit");
  EXPECT_EQ(message({{"prefix", "%zz"}}), "prefix has a malformed %-escape");
  EXPECT_NE(message({{"prefix", std::string(4097, 'a')}}).find("4096"),
            std::string::npos);
}

// -- GET /jobs/'s parameters
// ---------------------------------------------------

// The 400's message for `params`, or "" when they are taken.
std::string refusal_of(const query_params& params) {
  const auto q = parse_job_query(params);
  if (const auto* e = std::get_if<api_error>(&q)) {
    EXPECT_EQ(status_of(e->code), http_status::bad_request);
    return e->message;
  }
  return "";
}

TEST(job_query, the_parameters_become_the_registrys_query) {
  const std::string id = "0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f";
  const auto q = parse_job_query({{"state", "failed,canceled"},
                                  {"q", "my+plays%2Ecsv"},
                                  {"limit", "50"},
                                  {"before", "1714564800123." + id}});
  ASSERT_TRUE(std::holds_alternative<job_query>(q));
  const auto& x = std::get<job_query>(q);
  EXPECT_EQ(x.limit, 50u);
  EXPECT_EQ(x.states, (1u << static_cast<unsigned>(job_state::failed)) |
                          (1u << static_cast<unsigned>(job_state::canceled)));
  EXPECT_EQ(x.text, "my plays.csv");
  EXPECT_EQ(x.before_created, 1714564800123);
  EXPECT_EQ(x.before_id, id);
  // None, or empty ones: every job from the newest, 100 of them.
  for (const query_params& none :
       {query_params{},
        query_params{{"state", ""}, {"q", ""}, {"before", ""}}}) {
    const auto all = std::get<job_query>(parse_job_query(none));
    EXPECT_EQ(all.limit, 100u);
    EXPECT_EQ(all.states, 0u);
    EXPECT_TRUE(all.text.empty());
    EXPECT_EQ(all.before_created, 0);
  }
}

TEST(job_query, unknown_parameters_and_bad_values_are_named_in_a_400) {
  EXPECT_EQ(refusal_of({{"offset", "10"}}),
            "unknown parameter \"offset\"; the parameters are state, q, "
            "limit, before");
  EXPECT_EQ(refusal_of({{"page", "2"}, {"limit", "5"}, {"offset", "1"}}),
            "unknown parameters \"offset\", \"page\"; the parameters are "
            "state, q, limit, before");
  EXPECT_EQ(refusal_of({{"limit", "0"}}),
            "limit is a number from 1 to 1000, not \"0\"");
  for (const char* bad : {"", "1001", "-1", "1e3", "99999", "x"})
    EXPECT_NE(refusal_of({{"limit", bad}}), "") << bad;
  EXPECT_EQ(refusal_of({{"limit", "1000"}}), "");
  EXPECT_EQ(refusal_of({{"state", "failed,done"}}),
            "state is queued, started, finished, failed or canceled (or "
            "several, comma-separated), not \"done\"");
  EXPECT_NE(refusal_of({{"state", "failed,"}}), "");
  EXPECT_NE(refusal_of({{"q", std::string(256, 'a')}}), "");
  EXPECT_EQ(refusal_of({{"q", std::string(255, 'a')}}), "");
  EXPECT_EQ(refusal_of({{"q", "50%"}}), "q has a malformed %-escape");
  for (const char* bad :
       {"x", "123", "123.", ".0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f",
        "12a.0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f",
        "0.0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f", "123.not-a-job-id"})
    EXPECT_NE(refusal_of({{"before", bad}}).find("before is the \"next\""),
              std::string::npos)
        << bad;
  // What a client sent is quoted, cut short.
  const std::string long_name(500, 'n');
  EXPECT_LT(refusal_of({{long_name, "1"}}).size(), 200u);
  query_params many;
  for (int i = 0; i < 1000; ++i)
    many.emplace_back("p" + std::to_string(i), "");
  const std::string some = refusal_of(many);
  EXPECT_LT(some.size(), 200u);
  EXPECT_NE(some.find(" and 992 more;"), std::string::npos) << some;
}

TEST(job_query, the_list_says_its_total_and_the_cursor_of_the_next_page) {
  job_list list;
  job_record a;
  a.id = "0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f";
  a.created_at = 1714564800123;
  list.jobs = {a};
  list.total = 7;
  list.more = true;
  const auto body = boost::json::parse(jobs_reply(list).body).as_object();
  EXPECT_EQ(body.at("count").to_number<int>(), 1);
  EXPECT_EQ(body.at("total").to_number<int>(), 7);
  EXPECT_EQ(body.at("next").as_string(), job_cursor(a));
  // The cursor is what `before` takes back.
  const auto q = std::get<job_query>(
      parse_job_query({{"before", std::string(body.at("next").as_string())}}));
  EXPECT_EQ(q.before_created, a.created_at);
  EXPECT_EQ(q.before_id, a.id);
  list.more = false;
  EXPECT_TRUE(boost::json::parse(jobs_reply(list).body).at("next").is_null());
}

TEST(replies, readyz_is_200_only_when_ready_and_not_draining) {
  EXPECT_EQ(ready_reply(true, false).status, http_status::ok);
  EXPECT_EQ(ready_reply(true, false).body, "ready");
  for (const auto& [ready, draining, words] :
       {std::tuple{false, false, "starting"},
        std::tuple{true, true, "shutting down"},
        std::tuple{false, true, "shutting down"}}) {
    const reply r = ready_reply(ready, draining);
    EXPECT_EQ(r.status, http_status::service_unavailable);
    EXPECT_NE(r.body.find(words), std::string::npos) << r.body;
    ASSERT_FALSE(r.headers.empty());
    EXPECT_EQ(r.headers[0].first, "Retry-After");
  }
}

TEST(replies, version_says_the_version_of_the_build) {
  const reply r = version_reply();
  EXPECT_EQ(r.content_type, "application/json");
  const auto body = boost::json::parse(r.body).as_object();
  EXPECT_EQ(body.at("version").as_string(), PLAYCOUNT_VERSION);
  EXPECT_EQ(body.at("libraries").at("caf").as_string(), "0.17.6");
  EXPECT_FALSE(body.at("compiler").as_string().empty());
}

// -- replies ------------------------------------------------------------------

job_record record(job_state state) {
  job_record r;
  r.id = "0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f";
  r.state = state;
  r.bytes_total = 200;
  r.bytes_done = 50;
  return r;
}

TEST(replies, the_result_endpoint_answers_each_state_as_the_contract_says) {
  struct row {
    job_lookup lookup;
    int status;
    std::string content_type;
    std::string body;
  };
  job_record failed = record(job_state::failed);
  failed.error = "line 4: Date is not a real calendar date: \"2021-02-30\"";
  const std::vector<row> rows = {
      {{true, record(job_state::queued)}, 202, "text/plain", "Job: queued"},
      {{true, record(job_state::started)},
       202,
       "text/plain",
       "Job: started (25% read)"},
      {{true, failed},
       422,
       "text/plain",
       "Job: failed: line 4: Date is not a real calendar date: \"2021-02-30\""},
      {{true, record(job_state::canceled)}, 410, "text/plain", "Job: canceled"},
      {job_lookup{}, 404, "text/plain", "Job not found."},
  };
  for (const auto& x : rows) {
    const reply r = result_reply(x.lookup, "/data/result.csv");
    EXPECT_EQ(code(r.status), x.status) << x.body;
    EXPECT_EQ(r.content_type, x.content_type) << x.body;
    EXPECT_EQ(r.body, x.body);
    EXPECT_TRUE(r.file.empty());
  }
  const reply done =
      result_reply({true, record(job_state::finished)}, "/data/result.csv");
  EXPECT_EQ(done.status, http_status::ok);
  EXPECT_EQ(done.content_type, "text/csv");
  EXPECT_EQ(done.file, "/data/result.csv");
  ASSERT_EQ(done.headers.size(), 2u);
  EXPECT_EQ(done.headers[1].first, "Vary");
  EXPECT_EQ(done.headers[1].second, "Accept-Encoding");
  EXPECT_EQ(done.headers[0].first, "Content-Disposition");
  EXPECT_EQ(
      done.headers[0].second,
      "attachment; filename=\"0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f.csv\"");
}

TEST(replies, every_error_has_its_status_and_a_json_message) {
  struct row {
    api_error error;
    int status;
    std::string body;
  };
  const std::vector<row> rows = {
      {{api_errc::file_required},
       400,
       R"({"jobId":null,"message":"file is required."})"},
      {{api_errc::bad_multipart, "x"}, 400, R"({"jobId":null,"message":"x"})"},
      {{api_errc::bad_request, "x"}, 400, R"({"message":"x"})"},
      {{api_errc::job_not_found}, 404, R"({"message":"Job not found."})"},
      {{api_errc::no_route, "x"}, 404, R"({"message":"x"})"},
      {{api_errc::method_not_allowed, "x", 0, "GET"},
       405,
       R"({"message":"x"})"},
      {{api_errc::length_required, "x"},
       411,
       R"({"jobId":null,"message":"x"})"},
      {{api_errc::too_large, "x"}, 413, R"({"jobId":null,"message":"x"})"},
      {{api_errc::bad_encoding, "x"}, 400, R"({"jobId":null,"message":"x"})"},
      {{api_errc::unsupported_encoding, "x"},
       415,
       R"({"jobId":null,"message":"x"})"},
      {{api_errc::header_too_large, "x"}, 431, R"({"message":"x"})"},
      {{api_errc::not_implemented, "x"}, 501, R"({"message":"x"})"},
      {{api_errc::queue_full, "x", 5}, 503, R"({"jobId":null,"message":"x"})"},
      {{api_errc::unavailable, "x"}, 503, R"({"message":"x"})"},
      {{api_errc::storage, "x"}, 500, R"({"jobId":null,"message":"x"})"},
      {{api_errc::internal, "x"}, 500, R"({"message":"x"})"},
  };
  for (const auto& x : rows) {
    const reply r = to_reply(x.error);
    EXPECT_EQ(code(r.status), x.status) << x.body;
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.body, x.body);
    EXPECT_STRNE(reason_phrase(r.status), "Unknown") << r.status;
  }
  const reply busy = to_reply({api_errc::queue_full, "x", 5});
  ASSERT_EQ(busy.headers.size(), 1u);
  EXPECT_EQ(busy.headers[0],
            std::make_pair(std::string("Retry-After"), std::string("5")));
  const reply wrong =
      to_reply({api_errc::method_not_allowed, "x", 0, "GET, DELETE"});
  ASSERT_EQ(wrong.headers.size(), 1u);
  EXPECT_EQ(wrong.headers[0].second, "GET, DELETE");
}

// The one mapping (status_of), against the tables of docs/http-api.md and
// the statuses the code comments of api_errc promise. Every enumerator is
// visited, so a new error or state without a row here fails.
TEST(statuses, every_error_and_every_job_state_has_its_documented_status) {
  const std::vector<std::pair<api_errc, int>> errors = {
      {api_errc::file_required, 400},
      {api_errc::bad_request, 400},
      {api_errc::bad_multipart, 400},
      {api_errc::job_not_found, 404},
      {api_errc::no_route, 404},
      {api_errc::unauthorized, 401},
      {api_errc::method_not_allowed, 405},
      {api_errc::length_required, 411},
      {api_errc::too_large, 413},
      {api_errc::bad_encoding, 400},
      {api_errc::unsupported_encoding, 415},
      {api_errc::header_too_large, 431},
      {api_errc::not_implemented, 501},
      {api_errc::http_version, 505},
      {api_errc::queue_full, 503},
      {api_errc::unavailable, 503},
      {api_errc::storage, 500},
      {api_errc::internal, 500},
  };
  ASSERT_EQ(errors.size(), static_cast<size_t>(api_errc::internal) + 1);
  for (size_t i = 0; i < errors.size(); ++i) {
    const auto [errc, status] = errors[i];
    ASSERT_EQ(static_cast<size_t>(errc), i) << "one row per api_errc, in order";
    EXPECT_EQ(code(status_of(errc)), status) << i;
    EXPECT_EQ(to_reply({errc, "x"}).status, status_of(errc)) << i;
    EXPECT_STRNE(reason_phrase(status_of(errc)), "Unknown") << i;
  }
  const std::vector<std::pair<job_state, int>> states = {
      {job_state::queued, 202},   {job_state::started, 202},
      {job_state::finished, 200}, {job_state::failed, 422},
      {job_state::canceled, 410},
  };
  ASSERT_EQ(states.size(), static_cast<size_t>(job_state::canceled) + 1);
  for (size_t i = 0; i < states.size(); ++i) {
    const auto [state, status] = states[i];
    ASSERT_EQ(static_cast<size_t>(state), i) << "one row per job_state";
    EXPECT_EQ(code(status_of(state)), status) << to_string(state);
    EXPECT_EQ(result_reply({true, record(state)}, "/r.csv").status,
              status_of(state))
        << to_string(state);
  }
}

TEST(statuses, a_status_line_has_the_number_and_its_reason) {
  EXPECT_EQ(status_line(http_status::accepted), "HTTP/1.1 202 Accepted\r\n");
  EXPECT_EQ(status_line(http_status::unprocessable_entity),
            "HTTP/1.1 422 Unprocessable Entity\r\n");
  EXPECT_EQ(status_line(http_status::header_fields_too_large),
            "HTTP/1.1 431 Request Header Fields Too Large\r\n");
}

TEST(replies, a_job_is_json_with_the_keys_of_the_contract) {
  job_record r = record(job_state::finished);
  r.rows = 10;
  r.groups = 4;
  r.created_at = 1714564800123; // 2024-05-01T12:00:00.123Z
  r.started_at = 1714564801000;
  r.finished_at = 1714564802005;
  r.read_seconds = 0.8756;
  r.write_seconds = 0.1;
  EXPECT_EQ(
      job_json(r),
      R"({"jobId":"0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f","state":"finished",)"
      R"("bytesTotal":200,"bytesDone":50,"rows":10,"groups":4,"error":null,)"
      R"("createdAt":"2024-05-01T12:00:00.123Z","startedAt":"2024-05-01T12:00:01.000Z",)"
      R"("finishedAt":"2024-05-01T12:00:02.005Z","phase":null,"fileName":null,)"
      R"("onBadRows":"fail","badRows":0,"firstBadRows":[],"spilledBytes":0,)"
      R"("phaseMs":{"scan":0,"read":876,"merge":0,"write":100},)"
      R"("progress":null,"uploadStartedAt":null})");
  const reply missing = job_reply(job_lookup{});
  EXPECT_EQ(missing.status, http_status::not_found);
  EXPECT_EQ(accepted_reply("x").body,
            R"({"jobId":"x","message":"file is being processed..."})");
  EXPECT_EQ(accepted_reply("x").status, http_status::accepted);
  EXPECT_EQ(health_reply().body, "ok");
}

// -- request framing ----------------------------------------------------------

TEST(wire, a_request_head_parses_into_method_path_query_and_headers) {
  request_head h;
  ASSERT_TRUE(parse_request_head(
      "POST /jobs/count/?on_bad_rows=skip&x=1 HTTP/1.1\r\nHost: a\r\n"
      "content-type:  text/csv \r\nContent-Length: 12",
      h));
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.path, "/jobs/count/");
  EXPECT_EQ(h.query, "on_bad_rows=skip&x=1");
  EXPECT_EQ(h.version, "HTTP/1.1");
  ASSERT_NE(h.header("Content-Type"), nullptr);
  EXPECT_EQ(*h.header("CONTENT-TYPE"), "text/csv");
  EXPECT_EQ(h.header("Expect"), nullptr);
  EXPECT_EQ(query_param(h.query, "on_bad_rows"), "skip");
  EXPECT_EQ(query_param(h.query, "x"), "1");
  EXPECT_EQ(query_param(h.query, "y"), std::nullopt);
  for (const char* bad :
       {"", "GET", "GET /", "GET / FTP/1.0", "G(T / HTTP/1.1", "GET x HTTP/1.1",
        "GET / HTTP/1.1\r\nno colon", "GET / HTTP/1.1\r\n: empty name"})
    EXPECT_FALSE(parse_request_head(bad, h)) << bad;
}

// RFC 9112 §3.2.2 and §3.2.4: a server takes an absolute-form target as the
// path it names, and `*` for OPTIONS.
TEST(wire, absolute_form_targets_become_their_path_and_asterisk_stays) {
  request_head h;
  ASSERT_TRUE(parse_request_head(
      "GET http://127.0.0.1:8000/jobs/?limit=3 HTTP/1.1\r\nHost: a", h));
  EXPECT_TRUE(h.absolute_form);
  EXPECT_EQ(h.target, "/jobs/?limit=3");
  EXPECT_EQ(h.path, "/jobs/");
  EXPECT_EQ(h.query, "limit=3");
  ASSERT_TRUE(parse_request_head("GET HTTPS://example.org HTTP/1.1", h));
  EXPECT_EQ(h.path, "/");
  ASSERT_TRUE(parse_request_head("GET http://h?x=1 HTTP/1.1", h));
  EXPECT_EQ(h.target, "/?x=1");
  ASSERT_TRUE(parse_request_head("OPTIONS * HTTP/1.1", h));
  EXPECT_EQ(h.target, "*");
  EXPECT_FALSE(h.absolute_form);
  for (const char* bad : {"GET http:///jobs/ HTTP/1.1", "GET ftp://h/ HTTP/1.1",
                          "GET ** HTTP/1.1", "GET *x HTTP/1.1"})
    EXPECT_FALSE(parse_request_head(bad, h)) << bad;
}

// Issue 10, item 8: a 500 for a storage error says what, never where.
TEST(api, a_storage_error_names_no_server_path) {
  const api_error e =
      storage_error(ENOSPC, "cannot write /srv/secret/data/jobs/x/input.csv");
  const reply r = to_reply(e);
  EXPECT_EQ(r.status, http_status::internal_server_error);
  EXPECT_NE(r.body.find("no space left on device while saving the upload"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(r.body.find("/srv"), std::string::npos) << r.body;
  EXPECT_NE(to_reply(storage_error(EIO, "/x"))
                .body.find("input/output error while saving the upload"),
            std::string::npos);
}

std::string decode(body_decoder d, const std::vector<std::string>& pieces,
                   body_decoder::status& last, std::string& rest_error) {
  std::string out;
  for (const auto& p : pieces) {
    last = d.feed(p, [&](std::string_view s) {
      out.append(s);
      return true;
    });
    if (last != body_decoder::status::more)
      break;
  }
  rest_error = d.error();
  return out;
}

TEST(wire, bodies_decode_whatever_the_pieces_they_arrive_in) {
  const std::string chunked =
      "5;name=value\r\nHello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
  for (size_t step : {1, 2, 3, 7, 100}) {
    std::vector<std::string> pieces;
    for (size_t at = 0; at < chunked.size(); at += step)
      pieces.push_back(chunked.substr(at, step));
    body_decoder::status last{};
    std::string error;
    EXPECT_EQ(decode(body_decoder::chunked(), pieces, last, error),
              "Hello, world")
        << step;
    EXPECT_EQ(last, body_decoder::status::done) << step;
  }
  body_decoder::status last{};
  std::string error;
  EXPECT_EQ(decode(body_decoder::fixed(5), {"ab", "cdefg"}, last, error),
            "abcde");
  EXPECT_EQ(last, body_decoder::status::done);
  EXPECT_EQ(decode(body_decoder::fixed(0), {"x"}, last, error), "");
  EXPECT_EQ(last, body_decoder::status::done);
}

TEST(wire, malformed_chunks_are_errors) {
  for (const std::string& bad :
       {std::string("zz\r\n"), std::string("5\r\nHelloX\r\n"),
        std::string("-1\r\n"), std::string(5000, '1'),
        std::string("ffffffffffffffffff\r\n")}) {
    body_decoder::status last{};
    std::string error;
    decode(body_decoder::chunked(), {bad}, last, error);
    EXPECT_EQ(last, body_decoder::status::error) << bad.substr(0, 20);
    EXPECT_FALSE(error.empty());
  }
}

// -- uploads to disk ----------------------------------------------------------

TEST(upload, a_multipart_file_part_becomes_the_input_byte_for_byte) {
  temp_dir dir;
  const std::string csv = "Song,Date,Number of Plays\r\nA,2020-01-01,1\r\n";
  const std::string body =
      "preamble\r\n--XyZ\r\nContent-Disposition: form-data; "
      "name=\"on_bad_rows\""
      "\r\n\r\nskip\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"plays.csv\"\r\nContent-Type: text/csv\r\n\r\n" +
      csv + "\r\n--XyZ--\r\n";
  received_body in;
  in.path = dir.write("body.tmp", body);
  in.multipart = true;
  in.content_type = "multipart/form-data; boundary=XyZ";
  const auto out = make_job_input(in, dir.file("input.csv"));
  ASSERT_TRUE(std::holds_alternative<job_input>(out))
      << std::get<api_error>(out).message;
  const job_input& job = std::get<job_input>(out);
  EXPECT_EQ(job.file_name, "plays.csv");
  EXPECT_EQ(job.bytes, csv.size());
  EXPECT_EQ(job.on_bad_rows, bad_row_policy::skip);
  EXPECT_EQ(test::read_file(dir.file("input.csv")), csv);
  EXPECT_FALSE(test::exists(in.path));
  EXPECT_FALSE(test::exists(dir.file("input.csv.tmp")));
}

TEST(upload, a_raw_body_is_renamed_into_place) {
  temp_dir dir;
  received_body in;
  in.path = dir.write("input.csv.tmp", "Song,Date,Number of Plays\n");
  in.on_bad_rows = bad_row_policy::skip;
  const auto out = make_job_input(in, dir.file("input.csv"));
  ASSERT_TRUE(std::holds_alternative<job_input>(out));
  EXPECT_EQ(std::get<job_input>(out).bytes, 26u);
  EXPECT_EQ(std::get<job_input>(out).on_bad_rows, bad_row_policy::skip);
  EXPECT_EQ(test::read_file(dir.file("input.csv")),
            "Song,Date,Number of Plays\n");
}

TEST(upload, content_encodings_are_gzip_zstd_or_identity) {
  EXPECT_EQ(parse_content_encoding("gzip"), compression::gzip);
  EXPECT_EQ(parse_content_encoding(" X-GZIP "), compression::gzip);
  EXPECT_EQ(parse_content_encoding("zstd"), compression::zstd);
  EXPECT_EQ(parse_content_encoding("identity"), compression::none);
  EXPECT_EQ(parse_content_encoding(""), compression::none);
  EXPECT_EQ(parse_content_encoding("br"), std::nullopt);
  EXPECT_EQ(parse_content_encoding("deflate"), std::nullopt);
  EXPECT_EQ(parse_content_encoding("gzip, zstd"), std::nullopt);
}

TEST(upload, a_compressed_raw_body_is_decoded_into_place) {
  const std::string csv = "Song,Date,Number of Plays\nA,2020-01-01,1\n";
  for (const auto& [what, bytes, coding] :
       std::vector<std::tuple<std::string, std::string, compression>>{
           {"gzip by magic", test::gzip_member(csv), compression::none},
           {"zstd by magic", test::zstd_frame(csv), compression::none},
           {"Content-Encoding: gzip", test::gzip_member(csv),
            compression::gzip}}) {
    temp_dir dir;
    received_body in;
    in.path = dir.write("input.csv.tmp", bytes);
    in.coding = coding;
    const auto out = make_job_input(in, dir.file("input.csv"));
    ASSERT_TRUE(std::holds_alternative<job_input>(out))
        << what << ": " << std::get<api_error>(out).message;
    EXPECT_EQ(std::get<job_input>(out).bytes, csv.size()) << what;
    EXPECT_EQ(test::read_file(dir.file("input.csv")), csv) << what;
    EXPECT_FALSE(test::exists(in.path)) << what;
    EXPECT_FALSE(test::exists(dir.file("input.csv.decoded.tmp"))) << what;
  }
}

TEST(upload, a_decoding_sink_fed_byte_by_byte_writes_the_plain_bytes) {
  const std::string csv = "Song,Date,Number of Plays\nA,2020-01-01,1\n";
  for (const std::string& coded :
       {test::gzip_member(csv) + test::gzip_member(csv),
        test::zstd_frame(csv) + test::zstd_frame(csv)}) {
    temp_dir dir;
    file_sink sink;
    ASSERT_TRUE(sink.open(dir.file("input.csv"), false));
    decoding_sink decoding(detect_compression(coded), {}, sink);
    for (const char c : coded)
      ASSERT_TRUE(decoding.feed({&c, 1}));
    ASSERT_TRUE(decoding.finish());
    ASSERT_TRUE(sink.finish(false));
    EXPECT_EQ(test::read_file(dir.file("input.csv")), csv + csv);
  }
}

TEST(upload, decodings_as_uploads_arrive_are_one_per_core_at_most) {
  const unsigned most = std::max(1U, std::thread::hardware_concurrency());
  std::vector<std::shared_ptr<void>> turns;
  for (unsigned i = 0; i < most; ++i) {
    turns.push_back(try_streaming_decode());
    ASSERT_NE(turns.back(), nullptr) << i;
  }
  EXPECT_EQ(try_streaming_decode(), nullptr);
  turns.pop_back(); // an upload ends: its turn is free again
  EXPECT_NE(try_streaming_decode(), nullptr);
}

TEST(upload, a_failed_decoding_leaves_no_input_and_no_partial_file) {
  const std::string csv(100000, 'x');
  const std::string gz = test::gzip_member(csv);
  struct row {
    std::string what, bytes;
    api_errc code;
    uint64_t max_input = UINT64_MAX;
  };
  const std::vector<row> rows = {
      {"cut", gz.substr(0, gz.size() - 1), api_errc::bad_encoding},
      {"past the limit", gz, api_errc::too_large, 1000},
      {"twice", test::gzip_member(gz), api_errc::bad_encoding},
  };
  for (const auto& x : rows) {
    temp_dir dir;
    received_body in;
    in.path = dir.write("input.csv.tmp", x.bytes);
    in.max_input = x.max_input;
    const auto out = make_job_input(in, dir.file("input.csv"));
    ASSERT_TRUE(std::holds_alternative<api_error>(out)) << x.what;
    EXPECT_EQ(std::get<api_error>(out).code, x.code) << x.what;
    EXPECT_FALSE(test::exists(dir.file("input.csv"))) << x.what;
    EXPECT_FALSE(test::exists(dir.file("input.csv.decoded.tmp"))) << x.what;
  }
}

TEST(upload, forms_without_a_usable_file_say_why) {
  struct row {
    std::string what, body;
    api_errc code;
  };
  const std::string file_part =
      "--b\r\nContent-Disposition: form-data; "
      "name=\"file\"; filename=\"a.csv\"\r\n\r\nx\r\n";
  const std::vector<row> rows = {
      {"no file part",
       "--b\r\nContent-Disposition: form-data; "
       "name=\"f\"\r\n\r\nx\r\n--b--\r\n",
       api_errc::file_required},
      {"no parts at all", "--b--\r\n", api_errc::file_required},
      {"an empty body", "", api_errc::file_required},
      {"no closing delimiter", file_part, api_errc::bad_multipart},
      {"another boundary",
       "--c\r\nContent-Disposition: form-data; "
       "name=\"file\"\r\n\r\nx\r\n--c--\r\n",
       api_errc::bad_multipart},
      {"two files", file_part + file_part + "--b--\r\n",
       api_errc::bad_multipart},
      {"a bad on_bad_rows",
       "--b\r\nContent-Disposition: form-data; "
       "name=\"on_bad_rows\"\r\n\r\nmaybe\r\n" +
           file_part + "--b--\r\n",
       api_errc::bad_request},
  };
  for (const auto& x : rows) {
    temp_dir dir;
    received_body in;
    in.path = dir.write("body.tmp", x.body);
    in.multipart = true;
    in.content_type = "multipart/form-data; boundary=b";
    const auto out = make_job_input(in, dir.file("input.csv"));
    ASSERT_TRUE(std::holds_alternative<api_error>(out)) << x.what;
    EXPECT_EQ(std::get<api_error>(out).code, x.code) << x.what;
    EXPECT_FALSE(test::exists(dir.file("input.csv"))) << x.what;
  }
}

TEST(upload, a_file_sink_writes_every_byte_in_order) {
  temp_dir dir;
  file_sink sink;
  const auto opened = sink.open(dir.file("out"), true);
  ASSERT_TRUE(opened) << opened.error().text();
  std::string expected;
  for (int i = 0; i < 3000; ++i) {
    const std::string piece(static_cast<size_t>(i % 4097),
                            static_cast<char>('a' + i % 26));
    expected += piece;
    ASSERT_TRUE(sink.write(piece));
  }
  EXPECT_EQ(sink.size(), expected.size());
  const auto finished = sink.finish(true);
  ASSERT_TRUE(finished) << finished.error().text();
  EXPECT_EQ(test::read_file(dir.file("out")), expected);
  file_sink again;
  const auto reopened = again.open(dir.file("out"), true);
  ASSERT_FALSE(reopened); // never overwrites
  EXPECT_EQ(reopened.error().code, EEXIST);
}

TEST(upload, a_file_sink_drops_from_the_cache_what_its_reader_is_done_with) {
  temp_dir dir;
  file_sink sink;
  ASSERT_TRUE(sink.open(dir.file("in"), true));
  std::string piece(1 << 20, 'x');
  std::string expected;
  for (int i = 0; i < 64; ++i) {
    piece[0] = static_cast<char>('a' + i % 26);
    expected += piece;
    ASSERT_TRUE(sink.write(piece));
  }
  const int fd = ::open(dir.file("in").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const size_t pages = expected.size() / 4096;
  const auto resident = [&] {
    return test::resident_pages(fd, expected.size());
  };
  ASSERT_GT(resident(), pages / 2) << "just written: in the cache";
  // The reader is done with the first half: once on disk, it leaves the
  // cache (on the sinks' chore thread); the rest stays.
  sink.release_read(expected.size() / 2);
  const bool dropped =
      test::eventually([&] { return resident() <= pages / 2 + pages / 16; });
  if (!dropped && resident() >= pages) {
    ::close(fd);
    GTEST_SKIP() << "the page cache of " << dir.path()
                 << " keeps dropped pages";
  }
  EXPECT_TRUE(dropped) << resident() << " of " << pages << " pages cached";
  EXPECT_GE(resident(), pages / 2 - pages / 16) << "the second half stays";
  ASSERT_TRUE(sink.finish(true));
  EXPECT_TRUE(test::read_file(dir.file("in")) == expected);
  ::close(fd);
}

} // namespace
} // namespace playcount::http
