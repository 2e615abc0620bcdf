// Compressed uploads against the real binary: a .gz form file, a raw zstd
// body, Content-Encoding: gzip|zstd; each gives the plain file's result.
// Corrupt, cut, doubly compressed and inflating uploads are refused with a
// clear message, and leave nothing behind (but the failed record of a job
// that was counted while it arrived).

#include "tests/support/api_client.hpp"
#include "tests/support/compressed.hpp"
#include "tests/support/csv_gen.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_fixture.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace playcount {
namespace {

using test::gzip_member;
using test::json_of;
using test::str;
using test::zstd_frame;

using compressed_upload_test = test::served_test;

test::http_response raw_upload(uint16_t port,
                               const std::vector<std::string>& headers,
                               const std::string& body) {
  return test::http_exchange(
      port, test::request_text("POST", "/jobs/count/", headers, body));
}

std::string sample_csv() {
  test::csv_shape shape;
  shape.rows = 40000;
  shape.songs = 300;
  return test::make_csv(shape);
}

TEST_F(compressed_upload_test,
       every_way_of_sending_compressed_bytes_counts_the_plain_file) {
  const std::string csv = sample_csv();
  const std::string expected = count_alone(csv);
  const std::string half = csv.substr(0, csv.size() / 2);
  auto s = start({"--range-size", "64K"});
  const uint16_t port = s->port();
  const std::string boundary = "------------------------playcount0123456789";
  const std::string form =
      test::multipart_body(boundary, {{"file", csv, "plays.csv"}});
  struct row {
    std::string what;
    test::http_response answer;
    std::string file_name;
  };
  const std::vector<row> rows = {
      {"a .gz form file",
       test::upload_file(port, gzip_member(csv, 1), "plays.csv.gz"),
       "plays.csv.gz"},
      {"a .zst form file",
       test::upload_file(port, zstd_frame(csv), "plays.csv.zst"),
       "plays.csv.zst"},
      {"a form file of two gzip members (pigz, cat a.gz b.gz)",
       test::upload_file(
           port, gzip_member(half, 1) + gzip_member(csv.substr(half.size()), 9),
           "plays.csv.gz"),
       "plays.csv.gz"},
      {"a .zst form file that starts with a skippable frame (pzstd)",
       test::upload_file(
           port, test::skippable_frame(std::string(4, '\0')) + zstd_frame(csv),
           "plays.csv.zst"),
       "plays.csv.zst"},
      {"a raw zstd body that starts with a skippable frame (pzstd)",
       raw_upload(port, {"Content-Type: application/zstd"},
                  test::skippable_frame(std::string(4, '\0')) +
                      zstd_frame(csv)),
       ""},
      {"a raw zstd body",
       raw_upload(port, {"Content-Type: application/zstd"}, zstd_frame(csv)),
       ""},
      {"a raw gzip body sent as text/csv (by its magic bytes)",
       raw_upload(port, {"Content-Type: text/csv"}, gzip_member(csv)), ""},
      {"Content-Encoding: gzip",
       raw_upload(port, {"Content-Type: text/csv", "Content-Encoding: gzip"},
                  gzip_member(csv)),
       ""},
      {"Content-Encoding: x-gzip",
       raw_upload(port, {"Content-Type: text/csv", "Content-Encoding: x-gzip"},
                  gzip_member(csv)),
       ""},
      {"Content-Encoding: zstd on a form",
       raw_upload(port,
                  {"Content-Type: multipart/form-data; boundary=" + boundary,
                   "Content-Encoding: zstd"},
                  zstd_frame(form)),
       "plays.csv"},
      {"Content-Encoding: identity",
       raw_upload(
           port, {"Content-Type: text/csv", "Content-Encoding: identity"}, csv),
       ""},
  };
  for (const auto& x : rows) {
    ASSERT_EQ(x.answer.status, 202) << x.what << "\n"
                                    << x.answer.raw.substr(0, 400);
    const std::string id = str(json_of(x.answer), "jobId");
    const auto done = wait_for(port, id, "finished");
    EXPECT_EQ(done.at("bytesTotal").to_number<uint64_t>(), csv.size())
        << x.what;
    if (!x.file_name.empty()) {
      EXPECT_EQ(str(done, "fileName"), x.file_name) << x.what;
    }
    EXPECT_EQ(test::http_get(port, "/jobs/" + id + "/result/").body, expected)
        << x.what;
  }
}

TEST_F(compressed_upload_test,
       corrupt_cut_and_doubly_compressed_uploads_get_400_and_keep_nothing) {
  const std::string csv = sample_csv();
  const std::string gz = gzip_member(csv);
  std::string flipped = gz;
  flipped[gz.size() / 2] = static_cast<char>(flipped[gz.size() / 2] ^ 0x20);
  std::string bad_crc = gz;
  bad_crc[gz.size() - 6] = static_cast<char>(bad_crc[gz.size() - 6] ^ 0x01);
  const std::string zst = zstd_frame(csv);
  auto s = start();
  const uint16_t port = s->port();
  struct row {
    std::string what;
    test::http_response answer;
    std::string message; ///< the start of the answer's message
  };
  const std::vector<row> rows = {
      {"a .gz form file with a flipped byte",
       test::upload_file(port, flipped, "plays.csv.gz"),
       "the gzip stream is corrupt at byte "},
      {"a .gz form file with a flipped CRC",
       test::upload_file(port, bad_crc, "plays.csv.gz"),
       "the gzip stream is corrupt at byte " + std::to_string(gz.size()) +
           " (of the compressed input): the CRC or the length"},
      {"a .gz form file cut short",
       test::upload_file(port, gz.substr(0, gz.size() / 3), "plays.csv.gz"),
       "the gzip stream ends early after "},
      {"a raw zstd body cut short",
       raw_upload(port, {"Content-Type: application/zstd"},
                  zst.substr(0, zst.size() - 3)),
       "the zstd stream ends early after "},
      {"a .gz body sent with Content-Encoding: gzip once more",
       raw_upload(port, {"Content-Type: text/csv", "Content-Encoding: gzip"},
                  gzip_member(gz)),
       "the upload is compressed twice (gzip inside gzip)"},
      {"Content-Encoding: gzip on bytes that are not gzip",
       raw_upload(port, {"Content-Type: text/csv", "Content-Encoding: gzip"},
                  csv),
       "the gzip stream is corrupt at byte 0"},
  };
  for (const auto& x : rows) {
    EXPECT_EQ(x.answer.status, 400) << x.what << "\n"
                                    << x.answer.raw.substr(0, 400);
    const auto body = json_of(x.answer);
    EXPECT_EQ(str(body, "message").substr(0, x.message.size()), x.message)
        << x.what << ": " << str(body, "message");
    EXPECT_TRUE(body.contains("jobId")) << x.what;
  }
  // Decoded as it arrives, an upload may have become a job before the
  // fault showed: that job failed, and holds nothing but its record.
  EXPECT_TRUE(only_cut_uploads_within(std::chrono::seconds(5)));
  EXPECT_EQ(test::upload_file(port, gz, "plays.csv.gz").status, 202);
}

TEST_F(compressed_upload_test,
       an_unknown_content_encoding_gets_415_before_the_body) {
  auto s = start();
  const auto r =
      raw_upload(s->port(), {"Content-Type: text/csv", "Content-Encoding: br"},
                 "Song,Date,Number of Plays\n");
  EXPECT_EQ(r.status, 415) << r.raw;
  EXPECT_EQ(
      str(json_of(r), "message"),
      "Content-Encoding \"br\" is not supported: send gzip, zstd or identity");
  EXPECT_EQ(job_dirs(), 0U);
}

TEST_F(compressed_upload_test, a_gzip_bomb_is_refused_at_the_decoded_limit) {
  // 64 MiB of zeros in about 64 KiB: with --max-input-size 1M it stops
  // after 1 MiB of output, not after writing 64 MiB.
  const std::string bomb = gzip_member(std::string(64 << 20, '\0'), 9);
  ASSERT_LT(bomb.size(), 100U << 10);
  auto s = start({"--max-input-size", "1M"});
  const auto form = test::upload_file(s->port(), bomb, "plays.csv.gz");
  const auto raw =
      raw_upload(s->port(), {"Content-Type: application/gzip"}, bomb);
  const auto coded = raw_upload(
      s->port(), {"Content-Type: text/csv", "Content-Encoding: zstd"},
      zstd_frame(std::string(64 << 20, '\0'), 1));
  for (const auto* r : {&form, &raw, &coded}) {
    EXPECT_EQ(r->status, 413) << r->raw.substr(0, 400);
    const std::string message = str(json_of(*r), "message");
    EXPECT_NE(message.find("stream inflates past the limit of 1 MiB"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("--max-input-size"), std::string::npos) << message;
  }
  // Decoded as it arrives, an upload may have become a job before the
  // fault showed: that job failed, and holds nothing but its record.
  EXPECT_TRUE(only_cut_uploads_within(std::chrono::seconds(5)));
  // A small compressed upload still fits.
  const std::string csv = "Song,Date,Number of Plays\nA,2020-01-01,2\n";
  EXPECT_EQ(test::upload_file(s->port(), gzip_member(csv), "p.csv.gz").status,
            202);
}

} // namespace
} // namespace playcount
