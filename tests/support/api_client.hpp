#pragma once

// The JSON side of the HTTP API for tests: job submission, state, polling.

#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

namespace playcount::test {

/// The body of `r` as a JSON object (a test failure when it is not one).
inline boost::json::object json_of(const http_response& r) {
  boost::json::error_code ec;
  boost::json::value v = boost::json::parse(r.body, ec);
  if (ec || !v.is_object()) {
    ADD_FAILURE() << "not a JSON object: " << r.raw.substr(0, 600);
    return {};
  }
  return v.as_object();
}

/// The string at `key`, or "" when there is none.
inline std::string str(const boost::json::object& o, const char* key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : "";
}

/// Uploads `csv` and returns the job id (empty on failure).
inline std::string submit(uint16_t port, const std::string& csv) {
  const auto r = upload_file(port, csv);
  EXPECT_EQ(r.status, 202) << r.raw;
  return str(json_of(r), "jobId");
}

/// GET /jobs/<id>/
inline boost::json::object job(uint16_t port, const std::string& id) {
  return json_of(http_get(port, "/jobs/" + id + "/"));
}

/// Waits until the job is in `state`; returns its JSON (a test failure when
/// the time ran out).
inline boost::json::object
wait_for_state(uint16_t port, const std::string& id, const std::string& state,
               std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  boost::json::object o;
  if (eventually(
          [&] {
            o = job(port, id);
            return str(o, "state") == state;
          },
          timeout))
    return o;
  ADD_FAILURE() << "job " << id << " never reached " << state << ": "
                << boost::json::serialize(o);
  return o;
}

/// GET /admin/stats
inline boost::json::object admin_stats(uint16_t port) {
  return json_of(http_get(port, "/admin/stats"));
}

} // namespace playcount::test
