// job_record on disk: job.json as the server wrote it before the record's
// fields were listed once (messages.hpp, job_record_fields) must still read
// to the same record, and a record must still be written byte for byte as
// then, so that a server of either version reads the other's data directory.

#include "actors/job_store.hpp"
#include "actors/messages.hpp"
#include "tests/support/job_records.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace playcount {
namespace {

// Written by record_to_json as of commit c805ba0 (before issue 12).
constexpr const char* full_record_json =
    R"({"id":"0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f","state":"finished",)"
    R"("file_name":"pl\"ays\\xFF.csv","skip_bad_rows":true,)"
    R"("bytes_total":1099511627776,"bytes_done":12,"rows":3,"groups":4,)"
    R"("bad_rows":5,"first_bad":["line 3: x","line 9: \"y\""],)"
    R"("error":"line 2: overflow","created_at":1700000000000,)"
    R"("started_at":1700000000001,"finished_at":1700000002345,)"
    R"("scan_seconds":2.5E-1,"read_seconds":1.5E0,"merge_seconds":1.25E-2,)"
    R"("write_seconds":2E0,"attempts":2,"peak_rss_mb":1234,)"
    R"("spilled_bytes":99,"note":"recovered"})"
    "\n";

// Written by record_to_json now: the upload's start came with issue 13.
const std::string current_record_json =
    std::string(full_record_json)
        .replace(std::string_view(full_record_json).rfind('}'), 1,
                 R"(,"upload_started_at":1699999999000})");

constexpr const char* default_record_json =
    R"({"id":"","state":"queued","file_name":"","skip_bad_rows":false,)"
    R"("bytes_total":0,"bytes_done":0,"rows":0,"groups":0,"bad_rows":0,)"
    R"("first_bad":[],"error":"","created_at":0,"started_at":0,)"
    R"("finished_at":0,"scan_seconds":0E0,"read_seconds":0E0,)"
    R"("merge_seconds":0E0,"write_seconds":0E0,"attempts":0,"peak_rss_mb":0,)"
    R"("spilled_bytes":0})"
    "\n";

TEST(job_record_json, a_record_is_written_byte_for_byte_as_before) {
  EXPECT_EQ(record_to_json(test::every_field_set()), current_record_json);
  EXPECT_EQ(record_to_json(job_record{}), default_record_json);
}

TEST(job_record_json, a_record_written_before_reads_to_the_same_record) {
  job_record r;
  auto read = parse_record(full_record_json);
  ASSERT_TRUE(read) << read.error().text();
  r = *read;
  job_record expected = test::every_field_set();
  expected.phase.clear();                  // not stored
  expected.file_name = "pl\"ays\\xFF.csv"; // escaped when written
  EXPECT_EQ(r.id, expected.id);
  EXPECT_EQ(r.state, expected.state);
  EXPECT_EQ(r.file_name, expected.file_name);
  EXPECT_EQ(r.on_bad_rows, expected.on_bad_rows);
  EXPECT_EQ(r.bytes_total, expected.bytes_total);
  EXPECT_EQ(r.bytes_done, expected.bytes_done);
  EXPECT_EQ(r.rows, expected.rows);
  EXPECT_EQ(r.groups, expected.groups);
  EXPECT_EQ(r.bad_rows, expected.bad_rows);
  EXPECT_EQ(r.first_bad, expected.first_bad);
  EXPECT_EQ(r.phase, expected.phase);
  EXPECT_EQ(r.error, expected.error);
  EXPECT_EQ(r.created_at, expected.created_at);
  EXPECT_EQ(r.started_at, expected.started_at);
  EXPECT_EQ(r.finished_at, expected.finished_at);
  EXPECT_EQ(r.scan_seconds, expected.scan_seconds);
  EXPECT_EQ(r.read_seconds, expected.read_seconds);
  EXPECT_EQ(r.merge_seconds, expected.merge_seconds);
  EXPECT_EQ(r.write_seconds, expected.write_seconds);
  EXPECT_EQ(r.attempts, expected.attempts);
  EXPECT_EQ(r.peak_rss_mb, expected.peak_rss_mb);
  EXPECT_EQ(r.spilled_bytes, expected.spilled_bytes);
  EXPECT_EQ(r.note, expected.note);
  EXPECT_EQ(r.upload_started_at, 0); // added later
  EXPECT_EQ(record_to_json(r), full_record_json);
  auto now = parse_record(current_record_json);
  ASSERT_TRUE(now) << now.error().text();
  EXPECT_EQ(now->upload_started_at, expected.upload_started_at);
  EXPECT_EQ(record_to_json(*now), current_record_json);
}

TEST(job_record_json, a_record_of_the_first_release_reads_with_defaults) {
  // Before the phase times, attempts, peak memory, spills and notes.
  const std::string first =
      R"({"id":"0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f","state":"failed",)"
      R"("file_name":"a.csv","skip_bad_rows":false,"bytes_total":10,)"
      R"("bytes_done":10,"rows":1,"groups":1,"bad_rows":0,"first_bad":[],)"
      R"("error":"line 2: x","created_at":1,"started_at":2,"finished_at":3})";
  job_record r;
  r.attempts = 7; // overwritten: the record is read whole
  auto read = parse_record(first);
  ASSERT_TRUE(read) << read.error().text();
  r = *read;
  EXPECT_EQ(r.state, job_state::failed);
  EXPECT_EQ(r.error, "line 2: x");
  EXPECT_EQ(r.finished_at, 3);
  EXPECT_EQ(r.scan_seconds, 0);
  EXPECT_EQ(r.attempts, 0u);
  EXPECT_EQ(r.peak_rss_mb, 0u);
  EXPECT_EQ(r.spilled_bytes, 0u);
  EXPECT_EQ(r.note, "");
}

TEST(job_record_json, each_field_of_the_wrong_type_is_named) {
  // The later fields may be missing but not wrong (the phase times, as
  // before, are read when they are numbers and left at 0 otherwise).
  const std::string good = default_record_json;
  for (const char* field :
       {"id", "state", "file_name", "skip_bad_rows", "bytes_total",
        "bytes_done", "rows", "groups", "bad_rows", "first_bad", "error",
        "created_at", "started_at", "finished_at", "attempts", "peak_rss_mb",
        "spilled_bytes"}) {
    const std::string key = std::string("\"") + field + "\":";
    std::string text = good;
    const size_t at = text.find(key);
    ASSERT_NE(at, std::string::npos) << field;
    const size_t value = at + key.size();
    const size_t end = text.find_first_of(",}", value);
    text.replace(value, end - value, "{}");
    const auto parsed = parse_record(text);
    ASSERT_FALSE(parsed) << text;
    const std::string error = parsed.error().text();
    EXPECT_NE(error.find(std::string("\"") + field + "\""), std::string::npos)
        << error;
  }
}

} // namespace
} // namespace playcount
