#pragma once

// job_record, the registry's view of one job, and the one list of its fields
// (`job_record_fields`) from which the three places that spell them out are
// derived:
//   - its `inspect` (below), how it crosses between actors;
//   - job.json (actors/job_store.cpp: record_to_json, parse_record);
//   - the API's job object (http/api.cpp: job_object, GET /jobs/<id>/).
// A field added to the struct goes into the list, with its key in job.json,
// its key in the API (or none) and how each shows it; the round-trip tests
// (tests/actors/messages_test.cpp) fail for a field missing from the list.

#include "core/bad_row_policy.hpp"

#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/none.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace playcount {

/// A job's life, with the words Python-RQ uses. queued and started jobs
/// survive a restart (they run again); the others are kept until their time
/// to live runs out.
enum class job_state : uint8_t { queued, started, finished, failed, canceled };

[[nodiscard]] const char* to_string(job_state state) noexcept;
/// False when `text` names no state.
[[nodiscard]] bool from_string(std::string_view text,
                               job_state& state) noexcept;

/// How far one phase of a running job is: `done` of `total` in the phase's
/// unit; `total` is 0 while it is not known. Both only grow.
struct phase_progress {
  uint64_t done = 0;
  uint64_t total = 0;

  friend bool operator==(const phase_progress& a,
                         const phase_progress& b) noexcept {
    return a.done == b.done && a.total == b.total;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, phase_progress& x) {
  return f(caf::meta::type_name("phase_progress"), x.done, x.total);
}

/// The phases of a running job, each with its own done/total
/// (docs/http-api.md, `progress`). Units: bytes of the input for uploading,
/// scanning and reading; partials collected for merging; parts of the result
/// for writing; bytes written to disk for spilling (no total). Phases
/// overlap: an upload is scanned and read while it arrives.
struct job_progress {
  phase_progress uploading;
  phase_progress scanning;
  phase_progress reading;
  phase_progress merging;
  phase_progress writing;
  phase_progress spilling;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_progress& x) {
  return f(caf::meta::type_name("job_progress"), x.uploading, x.scanning,
           x.reading, x.merging, x.writing, x.spilling);
}

/// Everything the registry knows of one job: what it keeps on disk and what
/// `GET /jobs/<id>/` shows. Times are milliseconds since the Unix epoch, 0
/// for "not yet".
struct job_record {
  std::string id;
  job_state state = job_state::queued;
  std::string file_name; ///< the uploaded file's name, when the client gave one
  bad_row_policy on_bad_rows = bad_row_policy::fail;
  uint64_t bytes_total = 0; ///< the size of the uploaded CSV file
  uint64_t bytes_done = 0;
  uint64_t rows = 0;
  uint64_t groups = 0;
  uint64_t bad_rows = 0;
  std::vector<std::string> first_bad; ///< `line N: ...` of skipped records
  std::string phase;     ///< while started: uploading, scanning, reading, ...
  job_progress progress; ///< while started (or uploading)
  std::string error;     ///< failed: `line N: ...` or the reason
  int64_t created_at = 0;
  /// When the upload that made the job began (its request came in): the
  /// time a user waits includes the upload.
  int64_t upload_started_at = 0;
  int64_t started_at = 0;
  int64_t finished_at = 0; ///< finished, failed or canceled
  /// Seconds of each phase of a finished job (as job_result has them).
  double scan_seconds = 0;
  double read_seconds = 0;
  double merge_seconds = 0;
  double write_seconds = 0;
  /// Times the job was started and did not end because the server stopped
  /// (counted on disk when it starts, taken back on a clean stop): at
  /// `--max-attempts` the next start fails it instead of running it again.
  uint32_t attempts = 0;
  /// The server's peak resident memory (MiB) last seen while the job ran,
  /// for the reason given when the job is failed after crashes.
  uint64_t peak_rss_mb = 0;
  /// Bytes of partials the job wrote to disk under its memory limit.
  uint64_t spilled_bytes = 0;
  /// How the record came to be, when not the usual way (e.g. rebuilt from
  /// the files after its job.json was found damaged).
  std::string note;
};

/// How a field shows in job.json and in the API, beyond its type (a string
/// is a JSON string, a job_state its name, a number a number, ...).
namespace record_flag {

/// job.json: not written; it matters only while the server runs.
inline constexpr uint16_t not_stored = 1u << 0;
/// job.json: came after the first release, so a record may lack it (it
/// reads as the default then); the others must be there.
inline constexpr uint16_t added_later = 1u << 1;
/// job.json: left out when empty (or 0), so that records without it are
/// written as before.
inline constexpr uint16_t omit_empty = 1u << 2;
/// API: null when empty.
inline constexpr uint16_t api_null_if_empty = 1u << 3;
/// API: a time as ISO 8601 UTC, null for "not yet" (0).
inline constexpr uint16_t api_time = 1u << 4;
/// API: a member of `phaseMs` in whole milliseconds, shown for finished
/// jobs only (null otherwise); `api_rank` is phaseMs's place.
inline constexpr uint16_t api_phase_ms = 1u << 6;
/// API: shown for jobs that run or upload, null otherwise.
inline constexpr uint16_t api_while_running = 1u << 7;

} // namespace record_flag

/// One field of job_record.
template <class T>
struct record_field {
  using value_type = T;
  /// Its key in job.json (and its name in inspect's order).
  std::string_view key;
  T job_record::*member;
  /// Its key in the API's job object; empty: the API does not show it.
  std::string_view api_key = {};
  /// Its place among the API object's keys (the API's order is not
  /// job.json's, and both stay as clients and old records know them).
  uint8_t api_rank = 0;
  uint16_t flags = 0;

  [[nodiscard]] constexpr bool has(uint16_t flag) const noexcept {
    return (flags & flag) != 0;
  }
};

/// The fields of job_record, in job.json's order (which is also the order
/// in which inspect puts them on the wire).
inline constexpr auto job_record_fields = [] {
  using namespace record_flag;
  using r = job_record;
  return std::make_tuple(
      record_field<std::string>{"id", &r::id, "jobId", 0},
      record_field<job_state>{"state", &r::state, "state", 1},
      record_field<std::string>{"file_name", &r::file_name, "fileName", 11,
                                api_null_if_empty},
      record_field<bad_row_policy>{"skip_bad_rows", &r::on_bad_rows,
                                   "onBadRows", 12},
      record_field<uint64_t>{"bytes_total", &r::bytes_total, "bytesTotal", 2},
      record_field<uint64_t>{"bytes_done", &r::bytes_done, "bytesDone", 3},
      record_field<uint64_t>{"rows", &r::rows, "rows", 4},
      record_field<uint64_t>{"groups", &r::groups, "groups", 5},
      record_field<uint64_t>{"bad_rows", &r::bad_rows, "badRows", 13},
      record_field<std::vector<std::string>>{"first_bad", &r::first_bad,
                                             "firstBadRows", 14},
      record_field<std::string>{"phase", &r::phase, "phase", 10,
                                not_stored | api_null_if_empty},
      record_field<job_progress>{"progress", &r::progress, "progress", 17,
                                 not_stored | api_while_running},
      record_field<std::string>{"error", &r::error, "error", 6,
                                api_null_if_empty},
      record_field<int64_t>{"created_at", &r::created_at, "createdAt", 7,
                            api_time},
      record_field<int64_t>{"started_at", &r::started_at, "startedAt", 8,
                            api_time},
      record_field<int64_t>{"finished_at", &r::finished_at, "finishedAt", 9,
                            api_time},
      record_field<double>{"scan_seconds", &r::scan_seconds, "scan", 16,
                           added_later | api_phase_ms},
      record_field<double>{"read_seconds", &r::read_seconds, "read", 16,
                           added_later | api_phase_ms},
      record_field<double>{"merge_seconds", &r::merge_seconds, "merge", 16,
                           added_later | api_phase_ms},
      record_field<double>{"write_seconds", &r::write_seconds, "write", 16,
                           added_later | api_phase_ms},
      record_field<uint32_t>{"attempts", &r::attempts, {}, 0, added_later},
      record_field<uint64_t>{
          "peak_rss_mb", &r::peak_rss_mb, {}, 0, added_later},
      record_field<uint64_t>{"spilled_bytes", &r::spilled_bytes, "spilledBytes",
                             15, added_later},
      record_field<std::string>{
          "note", &r::note, {}, 0, added_later | omit_empty},
      record_field<int64_t>{"upload_started_at", &r::upload_started_at,
                            "uploadStartedAt", 18,
                            added_later | omit_empty | api_time});
}();

/// Calls `fun(field)` for each entry of job_record_fields, in order.
template <class F>
constexpr void for_each_record_field(F&& fun) {
  std::apply([&](const auto&... field) { (fun(field), ...); },
             job_record_fields);
}

/// The number of keys in the API's job object (one more than the largest
/// api_rank).
inline constexpr size_t job_api_keys = [] {
  size_t n = 0;
  for_each_record_field([&](const auto& field) {
    if (!field.api_key.empty() && field.api_rank + size_t{1} > n)
      n = field.api_rank + size_t{1};
  });
  return n;
}();

// Every place among the API's keys is taken (the phase times share one).
static_assert([] {
  for (size_t rank = 0; rank < job_api_keys; ++rank) {
    bool taken = false;
    for_each_record_field([&](const auto& field) {
      taken = taken || (!field.api_key.empty() && field.api_rank == rank);
    });
    if (!taken)
      return false;
  }
  return true;
}());

namespace detail {

// What inspect applies to a field: the field itself, except the state,
// which crosses as its number (see inspect).
template <class T>
T& inspected(job_record& x, const record_field<T>& field, uint8_t&) {
  return x.*field.member;
}

inline uint8_t& inspected(job_record&, const record_field<job_state>&,
                          uint8_t& state) {
  return state;
}

} // namespace detail

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_record& x) {
  // CAF 0.17 would read any number into the enum: the state crosses as its
  // number, and one that names no state arrives as failed.
  auto state = static_cast<uint8_t>(x.state);
  auto check_state = caf::meta::load_callback([&]() -> caf::error {
    x.state = state <= static_cast<uint8_t>(job_state::canceled)
                  ? static_cast<job_state>(state)
                  : job_state::failed;
    return caf::none;
  });
  return std::apply(
      [&](const auto&... field) {
        return f(caf::meta::type_name("job_record"),
                 detail::inspected(x, field, state)..., check_state);
      },
      job_record_fields);
}

} // namespace playcount
