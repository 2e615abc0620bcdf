// GET /jobs/<id>/ and GET /jobs/: a job's JSON, derived from job_record's
// one field list (messages.hpp), must stay byte for byte what it was: the
// keys, their order, null for what is empty or not yet, the computed
// onBadRows and phaseMs.

#include "http/api.hpp"
#include "tests/support/job_records.hpp"

#include <gtest/gtest.h>

#include <string>

namespace playcount::http {
namespace {

// job_json as of commit c805ba0 (before issue 12), and since issue 13 the
// keys `progress` and `uploadStartedAt` at the end. job_object writes text
// as the record holds it: the registry escapes what is not UTF-8 before it
// goes into a record, so the byte 0xff here only shows that nothing else
// does.
const std::string head = R"({"jobId":"0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f",)";
const std::string body =
    R"("bytesTotal":1099511627776,"bytesDone":12,"rows":3,"groups":4,)"
    R"("error":"line 2: overflow","createdAt":"2023-11-14T22:13:20.000Z",)"
    R"("startedAt":"2023-11-14T22:13:20.001Z",)"
    R"("finishedAt":"2023-11-14T22:13:22.345Z","phase":"merging",)"
    "\"fileName\":\"pl\\\"ays\xff.csv\","
    R"("onBadRows":"skip","badRows":5,)"
    R"("firstBadRows":["line 3: x","line 9: \"y\""],"spilledBytes":99,)";

TEST(job_json, a_finished_job_reads_as_before) {
  EXPECT_EQ(
      job_json(test::every_field_set(job_state::finished)),
      head + R"("state":"finished",)" + body +
          R"("phaseMs":{"scan":250,"read":1500,"merge":13,"write":2000},)"
          R"("progress":null,"uploadStartedAt":"2023-11-14T22:13:19.000Z"})");
}

TEST(job_json, phase_times_show_for_finished_jobs_only) {
  EXPECT_EQ(job_json(test::every_field_set(job_state::failed)),
            head + R"("state":"failed",)" + body +
                R"("phaseMs":null,"progress":null,)"
                R"("uploadStartedAt":"2023-11-14T22:13:19.000Z"})");
}

TEST(job_json, a_running_job_shows_each_phase_with_its_own_done_and_total) {
  EXPECT_EQ(job_json(test::every_field_set(job_state::started)),
            head + R"("state":"started",)" + body +
                R"("phaseMs":null,"progress":{)"
                R"("uploading":{"done":101,"total":102},)"
                R"("scanning":{"done":103,"total":104},)"
                R"("reading":{"done":105,"total":106},)"
                R"("merging":{"done":1,"total":2},)"
                R"("writing":{"done":3,"total":4},)"
                R"("spilling":{"done":107,"total":108}},)"
                R"("uploadStartedAt":"2023-11-14T22:13:19.000Z"})");
  // A job that neither came by a streamed upload nor spilled: the four
  // phases every job has, those not reached at 0.
  job_record r;
  r.state = job_state::started;
  r.progress.scanning = {10, 10};
  r.progress.reading = {4, 10};
  EXPECT_NE(job_json(r).find(R"("progress":{"scanning":{"done":10,"total":10},)"
                             R"("reading":{"done":4,"total":10},)"
                             R"("merging":{"done":0,"total":0},)"
                             R"("writing":{"done":0,"total":0}},)"),
            std::string::npos)
      << job_json(r);
}

TEST(job_json, what_is_empty_or_not_yet_is_null) {
  EXPECT_EQ(job_json(job_record{}),
            R"({"jobId":"","state":"queued","bytesTotal":0,"bytesDone":0,)"
            R"("rows":0,"groups":0,"error":null,"createdAt":null,)"
            R"("startedAt":null,"finishedAt":null,"phase":null,)"
            R"("fileName":null,"onBadRows":"fail","badRows":0,)"
            R"("firstBadRows":[],"spilledBytes":0,"phaseMs":null,)"
            R"("progress":null,"uploadStartedAt":null})");
}

TEST(job_json, the_job_list_holds_the_same_objects) {
  job_list list;
  list.jobs = {test::every_field_set(job_state::failed), job_record{}};
  list.total = 5;
  const reply r = jobs_reply(list);
  EXPECT_EQ(r.status, http_status::ok);
  EXPECT_EQ(r.body, R"({"count":2,"total":5,"next":null,"jobs":[)" +
                        job_json(test::every_field_set(job_state::failed)) +
                        "," + job_json(job_record{}) + "]}");
}

} // namespace
} // namespace playcount::http
