// actors/messages: what crosses between nodes. Range bytes leave the server
// straight from a memory map and must arrive as the same bytes; a partial
// aggregate must arrive with the same totals.

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

TEST_F(messages_test, range_bytes_from_a_mapping_arrive_as_the_same_bytes) {
  std::string content(100000, 'x');
  for (size_t i = 0; i < content.size(); ++i)
    content[i] = static_cast<char>('a' + i % 26);
  file_handle file;
  std::string error;
  ASSERT_TRUE(file.open(dir_.write("in.csv", content), error)) << error;
  range_bytes sent;
  sent.offset = 4099; // not page aligned
  sent.mapped =
    std::make_shared<mapped_window>(file.map(4099, 4099 + 70000, error));
  ASSERT_TRUE(error.empty()) << error;

  const std::vector<char> wire = bytes_of(sent);
  // The same wire form as an offset and a std::string: no format of our own.
  uint64_t offset = 4099;
  std::string as_string = content.substr(4099, 70000);
  std::vector<char> plain;
  caf::binary_serializer sink{system_, plain};
  ASSERT_FALSE(sink(offset, as_string));
  EXPECT_TRUE(wire == plain);

  const auto got = read_back<range_bytes>(wire);
  EXPECT_EQ(got.offset, 4099u);
  EXPECT_EQ(got.mapped, nullptr);
  EXPECT_EQ(got.bytes(), content.substr(4099, 70000));
}

TEST_F(messages_test, a_shipped_work_item_keeps_its_range_and_bytes) {
  work_item item;
  item.job = "j";
  item.index = 7;
  item.range = {10, 20};
  item.layout.columns = 4;
  item.layout.count = 3;
  item.shipped = true;
  item.bytes.offset = 10;
  item.bytes.received = "0123456789";
  const auto got = read_back<work_item>(bytes_of(item));
  EXPECT_EQ(got.job, "j");
  EXPECT_EQ(got.index, 7u);
  EXPECT_TRUE(got.range == (byte_range{10, 20}));
  EXPECT_EQ(got.layout.columns, 4u);
  EXPECT_EQ(got.layout.count, 3u);
  EXPECT_TRUE(got.shipped);
  EXPECT_EQ(got.bytes.offset, 10u);
  EXPECT_EQ(got.bytes.bytes(), "0123456789");
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
}

} // namespace
} // namespace playcount
