// core/utf8.hpp: what is not UTF-8 is shown as `\xFF`, never dropped, and
// the result is always something Boost.JSON writes and reads back.

#include "core/utf8.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace playcount {
namespace {

TEST(utf8, valid_text_passes_unchanged) {
  for (const std::string& s :
       {std::string(""), std::string("Umbrella"), std::string("caf\xC3\xA9"),
        std::string("\xE2\x82\xAC 5"), std::string("\xF0\x9F\x8E\xB5"),
        std::string("a\\xFF"), std::string("\xEF\xBF\xBF"),
        std::string("\xF4\x8F\xBF\xBF"), std::string(1, '\0')}) {
    EXPECT_TRUE(is_valid_utf8(s)) << s;
    EXPECT_EQ(printable_utf8(s), s);
  }
}

TEST(utf8, each_invalid_byte_becomes_four_characters) {
  struct row {
    std::string in, out;
  };
  const row rows[] = {
      {"\xff\xfe", "\\xFF\\xFE"},
      {"song\xff.csv", "song\\xFF.csv"},
      {"\xC3", "\\xC3"},                            // cut short at the end
      {"\xC3(", "\\xC3("},                          // cut short by ASCII
      {"\xE2\x82", "\\xE2\\x82"},                   // two of three
      {"\xC0\xAF", "\\xC0\\xAF"},                   // overlong '/'
      {"\xE0\x80\xAF", "\\xE0\\x80\\xAF"},          // overlong, three bytes
      {"\xED\xA0\x80", "\\xED\\xA0\\x80"},          // a surrogate
      {"\xF4\x90\x80\x80", "\\xF4\\x90\\x80\\x80"}, // above U+10FFFF
      {"\xF8\x88\x80\x80\x80", "\\xF8\\x88\\x80\\x80\\x80"},
      {"\x80"
       "caf\xC3\xA9",
       "\\x80caf\xC3\xA9"}, // a stray continuation
  };
  for (const auto& [in, out] : rows) {
    EXPECT_FALSE(is_valid_utf8(in)) << in;
    EXPECT_EQ(printable_utf8(in), out);
    EXPECT_TRUE(is_valid_utf8(printable_utf8(in)));
    // Twice is once: valid text is left alone.
    EXPECT_EQ(printable_utf8(printable_utf8(in)), out);
  }
}

TEST(utf8, every_single_byte_gives_json_that_reads_back) {
  for (int b = 0; b < 256; ++b) {
    const std::string raw = "x" + std::string(1, static_cast<char>(b)) + "y";
    const std::string text = printable_utf8(raw);
    boost::json::object o;
    o["name"] = text;
    boost::json::error_code ec;
    const auto back = boost::json::parse(boost::json::serialize(o), ec);
    ASSERT_FALSE(ec) << b << ": " << ec.message();
    EXPECT_EQ(back.at("name").as_string(), text) << b;
    if (b >= 0x80) {
      EXPECT_EQ(text.size(), 6u) << b; // "x\xNNy"
    }
  }
}

} // namespace
} // namespace playcount
