// Bearer tokens (http/access.hpp): who may call what, without sockets.

#include "http/access.hpp"

#include "core/constant_time.hpp"

#include <gtest/gtest.h>

namespace playcount::http {
namespace {

TEST(constant_time_equal, is_true_only_for_the_same_bytes) {
  EXPECT_TRUE(constant_time_equal("s3cret", "s3cret"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_FALSE(constant_time_equal("s3cret", "s3creT"));
  EXPECT_FALSE(constant_time_equal("s3cre", "s3cret"));
  EXPECT_FALSE(constant_time_equal("s3crett", "s3cret"));
  EXPECT_FALSE(constant_time_equal("", "s3cret"));
  EXPECT_FALSE(constant_time_equal(std::string_view("s3cret\0", 7), "s3cret"));
}

TEST(bearer_token, takes_the_scheme_in_any_case_and_nothing_else) {
  EXPECT_EQ(bearer_token("Bearer abc").value_or("?"), "abc");
  EXPECT_EQ(bearer_token("bearer  abc ").value_or("?"), "abc");
  EXPECT_EQ(bearer_token("BEARER\tabc").value_or("?"), "abc");
  EXPECT_FALSE(bearer_token("Basic YWxhZGRpbjpvcGVuc2VzYW1l"));
  EXPECT_FALSE(bearer_token("Bearer"));
  EXPECT_FALSE(bearer_token("Bearer   "));
  EXPECT_FALSE(bearer_token("Bearerabc"));
  EXPECT_FALSE(bearer_token("abc"));
}

struct access_row {
  const char* what;
  access_tokens tokens;
  const char* path;
  const char* authorization; // nullptr: no header
  bool allowed;
};

TEST(check_access, follows_the_table_of_readme_security) {
  const access_tokens none{};
  const access_tokens api{"api-tok", ""};
  const access_tokens both{"api-tok", "adm-tok"};
  const access_tokens admin_only{"", "adm-tok"};
  const std::vector<access_row> rows = {
      {"no tokens: open", none, "/jobs/", nullptr, true},
      {"no tokens: admin open", none, "/admin/stats", nullptr, true},
      {"healthz is always open", both, "/healthz", nullptr, true},
      {"healthz without slash", both, "healthz/", nullptr, true},
      {"the web page is open: it holds no data", both, "/", nullptr, true},
      {"the admin page too", both, "/admin", nullptr, true},
      {"and their files", both, "/web/app.js", nullptr, true},
      {"a job's view is a page", both,
       "/jobs/0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f/view", nullptr, true},
      {"its summary is data", api,
       "/jobs/0b0c4e3a-1f2b-4c5d-8e6f-7a8b9c0d1e2f/summary", nullptr, false},
      {"jobs need the API token", api, "/jobs/", nullptr, false},
      {"the upload too", api, "/jobs/count/", nullptr, false},
      {"unknown paths too", api, "/nothing/here", nullptr, false},
      {"the right token", api, "/jobs/", "Bearer api-tok", true},
      {"a wrong token", api, "/jobs/", "Bearer api-tox", false},
      {"a prefix of the token", api, "/jobs/", "Bearer api-to", false},
      {"another scheme", api, "/jobs/", "Basic api-tok", false},
      {"admin takes the API token without an admin token", api, "/admin/stats",
       "Bearer api-tok", true},
      {"admin refuses the API token with an admin token", both, "/admin/stats",
       "Bearer api-tok", false},
      {"admin takes the admin token", both, "/admin/stats", "Bearer adm-tok",
       true},
      {"any /admin/ path is the admin's", both, "//admin/other",
       "Bearer api-tok", false},
      {"the admin token works elsewhere", both, "/jobs/", "Bearer adm-tok",
       true},
      {"an admin token alone leaves the API open", admin_only, "/jobs/",
       nullptr, true},
      {"an admin token alone closes admin", admin_only, "/admin/stats", nullptr,
       false},
      {"/administrator is not /admin", both, "/administrator", "Bearer api-tok",
       true},
  };
  for (const auto& row : rows) {
    const std::string header = row.authorization ? row.authorization : "";
    const auto denied = check_access(row.tokens, row.path,
                                     row.authorization ? &header : nullptr);
    EXPECT_EQ(!denied, row.allowed) << row.what;
    if (denied) {
      const reply r = to_reply(*denied);
      EXPECT_EQ(r.status, http_status::unauthorized) << row.what;
      EXPECT_EQ(r.content_type, "application/json");
      ASSERT_FALSE(r.headers.empty());
      EXPECT_EQ(r.headers[0].first, "WWW-Authenticate");
      EXPECT_EQ(r.headers[0].second.rfind("Bearer", 0), 0u) << row.what;
      // Never the token itself in the answer.
      for (const char* secret : {"api-tok", "adm-tok"}) {
        EXPECT_EQ(r.body.find(secret), std::string::npos) << r.body;
        EXPECT_EQ(r.headers[0].second.find(secret), std::string::npos);
      }
    }
  }
}

} // namespace
} // namespace playcount::http
