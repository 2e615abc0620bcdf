// core/units.hpp: sizes and durations read and printed as people write them.

#include "core/units.hpp"

#include <gtest/gtest.h>

namespace playcount {
namespace {

using std::chrono::milliseconds;

TEST(parse_size, reads_bytes_and_binary_units_in_every_spelling) {
  EXPECT_EQ(parse_size("123"), 123u);
  EXPECT_EQ(parse_size("123B"), 123u);
  EXPECT_EQ(parse_size("64K"), 64u << 10);
  EXPECT_EQ(parse_size("64k"), 64u << 10);
  EXPECT_EQ(parse_size("64KiB"), 64u << 10);
  EXPECT_EQ(parse_size("64 KiB"), 64u << 10);
  EXPECT_EQ(parse_size("4G"), uint64_t{4} << 30);
  EXPECT_EQ(parse_size("4GiB"), uint64_t{4} << 30);
  EXPECT_EQ(parse_size("4 GiB"), uint64_t{4} << 30);
  EXPECT_EQ(parse_size("4Gi"), uint64_t{4} << 30);
  EXPECT_EQ(parse_size("2T"), uint64_t{2} << 40);
  EXPECT_EQ(parse_size("1.5M"), uint64_t{3} << 19);
  EXPECT_EQ(parse_size("1.5 MiB"), uint64_t{3} << 19);
}

TEST(parse_size, refuses_what_is_not_a_size) {
  for (const char* bad :
       {"", "K", "-1", "4X", "4 G B", "4GB", "1.5", "1.", "4  GiB", " 4G",
        "99999999999999999999", "17179869184G"})
    EXPECT_EQ(parse_size(bad), std::nullopt) << bad;
}

TEST(format_bytes, prints_the_largest_exact_unit) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1000), "1000 B");
  EXPECT_EQ(format_bytes(64 << 10), "64 KiB");
  EXPECT_EQ(format_bytes(4 << 20), "4 MiB");
  EXPECT_EQ(format_bytes(uint64_t{4} << 30), "4 GiB");
  EXPECT_EQ(format_bytes(uint64_t{1} << 40), "1 TiB");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(1234567), "1.2 MiB");
}

TEST(format_bytes, prints_what_parse_size_reads_back) {
  for (const uint64_t bytes :
       {uint64_t{0}, uint64_t{1}, uint64_t{1023}, uint64_t{1024},
        uint64_t{65536}, uint64_t{3} << 19, uint64_t{4} << 30,
        uint64_t{5} << 40, uint64_t{1} << 62}) {
    const auto back = parse_size(format_bytes(bytes));
    EXPECT_EQ(back, bytes) << format_bytes(bytes);
  }
}

TEST(parse_duration, reads_every_unit_with_or_without_a_space) {
  EXPECT_EQ(parse_duration("90"), milliseconds(90000));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
  EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(parse_duration("45s"), milliseconds(45000));
  EXPECT_EQ(parse_duration("30 s"), milliseconds(30000));
  EXPECT_EQ(parse_duration("30m"), milliseconds(1800000));
  EXPECT_EQ(parse_duration("30min"), milliseconds(1800000));
  EXPECT_EQ(parse_duration("12h"), milliseconds(43200000));
  EXPECT_EQ(parse_duration("1 d"), milliseconds(86400000));
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
  for (const char* bad : {"", "s", "1x", "-1s", "1 ds", "99999999999999999d"})
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
}

TEST(format_duration, prints_the_largest_exact_unit_and_reads_back) {
  EXPECT_EQ(format_duration(milliseconds(86400000)), "1 d");
  EXPECT_EQ(format_duration(milliseconds(43200000)), "12 h");
  EXPECT_EQ(format_duration(milliseconds(1800000)), "30 min");
  EXPECT_EQ(format_duration(milliseconds(90000)), "90 s");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500 ms");
  EXPECT_EQ(format_duration(milliseconds(0)), "0 s");
  for (const int64_t ms : {int64_t{1}, int64_t{1000}, int64_t{90000},
                           int64_t{604800000}, int64_t{1234567}})
    EXPECT_EQ(parse_duration(format_duration(milliseconds(ms))),
              milliseconds(ms));
}

} // namespace
} // namespace playcount
