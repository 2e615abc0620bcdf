// actors/messages: what crosses between nodes. A work item must arrive with
// its range and tag (its bytes come on the feed: tests/cluster), a partial
// aggregate with the same totals.

#include "actors/messages.hpp"

#include "core/mapped_file.hpp"
#include "tests/support/temp_dir.hpp"

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <gtest/gtest.h>

namespace playcount {
namespace {

class messages_test : public ::testing::Test {
protected:
  messages_test() : system_(configured(cfg_)) {}

  static caf::actor_system_config& configured(caf::actor_system_config& cfg) {
    configure_actor_system(cfg);
    return cfg;
  }

  template <class T>
  std::vector<char> bytes_of(T& x) {
    std::vector<char> buf;
    caf::binary_serializer sink{system_, buf};
    EXPECT_FALSE(sink(x));
    return buf;
  }

  template <class T>
  T read_back(const std::vector<char>& buf) {
    T out;
    caf::binary_deserializer source{system_, buf};
    EXPECT_FALSE(source(out));
    return out;
  }

  caf::actor_system_config cfg_;
  caf::actor_system system_;
  test::temp_dir dir_;
};

TEST_F(messages_test, a_work_item_for_another_node_keeps_its_range_and_tag) {
  work_item item;
  item.job = "j";
  item.index = 7;
  item.range = {10, 20};
  item.layout.columns = 4;
  item.layout.count = 3;
  item.tag = 0x1234567890ull;
  const auto got = read_back<work_item>(bytes_of(item));
  EXPECT_EQ(got.job, "j");
  EXPECT_EQ(got.index, 7u);
  EXPECT_TRUE(got.range == (byte_range{10, 20}));
  EXPECT_EQ(got.layout.columns, 4u);
  EXPECT_EQ(got.layout.count, 3u);
  EXPECT_EQ(got.tag, 0x1234567890ull);
}

TEST_F(messages_test, a_registration_reply_carries_the_feed_port_and_secret) {
  registration_reply reply{true, {}, {}, "node-3", 4711,
                           std::string("\0\x01secret\xff", 9)};
  const auto got = read_back<registration_reply>(bytes_of(reply));
  EXPECT_TRUE(got.accepted);
  EXPECT_EQ(got.node_id, "node-3");
  EXPECT_EQ(got.feed_port, 4711);
  EXPECT_EQ(got.feed_secret, reply.feed_secret);
}

TEST_F(messages_test, a_partial_crosses_as_bytes_and_arrives_with_its_totals) {
  const std::string file = "Song,Date,Number of Plays\n"
                           "b,2020-01-02,3\na,2020-01-01,4\nb,2020-01-02,5\n";
  auto layout = std::get<csv_layout>(read_layout(file));
  partial_blob blob{"j", std::make_shared<partial_aggregate>(), true};
  const auto report =
    read_range(file, {layout.data_begin, file.size()}, layout,
               bad_row_policy::fail, *blob.totals, 0);
  ASSERT_FALSE(report.error);
  const auto got = read_back<partial_blob>(bytes_of(blob));
  ASSERT_TRUE(got.ok);
  ASSERT_TRUE(got.totals);
  EXPECT_EQ(got.totals->groups(), 2u);
  EXPECT_EQ(got.totals->encode(), blob.totals->encode());
  // Sent in pieces before it, the blob carries no bytes of its own (its
  // serialized form stays small whatever the partial's size).
  blob.pieces = 3;
  const auto bytes = bytes_of(blob);
  EXPECT_LT(bytes.size(), 64u);
  const auto bare = read_back<partial_blob>(bytes);
  EXPECT_TRUE(bare.ok);
  EXPECT_EQ(bare.pieces, 3u);
  ASSERT_TRUE(bare.totals);
  EXPECT_EQ(bare.totals->groups(), 0u);
}

} // namespace
} // namespace playcount
