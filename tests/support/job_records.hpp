#pragma once

// A job_record with every field off its default, for the tests that pin
// its byte forms (job.json, the API's JSON) and its round trip through
// CAF. The values are those the pinned fixtures were written from.

#include "actors/job_record.hpp"

#include <cstdint>

namespace playcount::test {

inline job_record every_field_set(job_state state = job_state::finished) {
  job_record r;
  r.id = "0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f";
  r.state = state;
  r.file_name = "pl\"ays\xff.csv";
  r.on_bad_rows = bad_row_policy::skip;
  r.bytes_total = uint64_t{1} << 40;
  r.bytes_done = 12;
  r.rows = 3;
  r.groups = 4;
  r.bad_rows = 5;
  r.first_bad = {"line 3: x", "line 9: \"y\""};
  r.phase = "merging";
  r.error = "line 2: overflow";
  r.created_at = 1700000000000;
  r.started_at = 1700000000001;
  r.finished_at = 1700000002345;
  r.scan_seconds = 0.25;
  r.read_seconds = 1.5;
  r.merge_seconds = 0.0125;
  r.write_seconds = 2;
  r.attempts = 2;
  r.peak_rss_mb = 1234;
  r.spilled_bytes = 99;
  r.note = "recovered";
  r.upload_started_at = 1699999999000;
  r.progress.uploading = {101, 102};
  r.progress.scanning = {103, 104};
  r.progress.reading = {105, 106};
  r.progress.merging = {1, 2};
  r.progress.writing = {3, 4};
  r.progress.spilling = {107, 108};
  return r;
}

} // namespace playcount::test
