// core/block_scanner: every mask of every block, and the quote parity carried
// between blocks, against a plain walk over the bytes one at a time.

#include "core/block_scanner.hpp"

#include "core/split.hpp"
#include "support.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace playcount {
namespace {

/// What the scanner must say about [begin, end) of `bytes`, walked byte by
/// byte: a byte is inside quotes when the quotes from `begin` up to and
/// including it are odd in number (so an opening quote is inside, a closing
/// one is not).
std::vector<scanned_block> reference(std::string_view bytes, uint64_t begin,
                                     uint64_t end) {
  std::vector<scanned_block> out;
  bool odd = false;
  for (uint64_t at = begin; at < end; at += 64) {
    scanned_block k{};
    k.at = at;
    k.size = std::min<uint64_t>(64, end - at);
    k.quoted_before = odd ? ~uint64_t{0} : 0;
    for (uint64_t i = 0; i < 64; ++i) {
      const uint64_t bit = uint64_t{1} << i;
      if (i < k.size) {
        const char c = bytes[at + i];
        if (c == '"') {
          k.quote |= bit;
          odd = !odd;
        }
        if (c == ',')
          k.comma |= bit;
        if (c == '\n')
          k.newline |= bit;
      }
      // Past the range's end the parity stays what it was there.
      if (odd)
        k.inside |= bit;
    }
    k.quoted_after = odd ? ~uint64_t{0} : 0;
    out.push_back(k);
  }
  return out;
}

std::vector<scanned_block> scan(std::string_view bytes, uint64_t begin,
                                uint64_t end) {
  std::vector<scanned_block> out;
  block_scanner scanner(bytes.data(), begin, end);
  EXPECT_TRUE(scanner.each([&](const scanned_block& k) {
    out.push_back(k);
    return true;
  }));
  EXPECT_EQ(scanner.in_quotes(), out.empty() ? 0 : out.back().quoted_after);
  return out;
}

void compare(const std::vector<scanned_block>& got,
             const std::vector<scanned_block>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("block " + std::to_string(i));
    EXPECT_EQ(got[i].at, want[i].at);
    EXPECT_EQ(got[i].size, want[i].size);
    EXPECT_EQ(got[i].quote, want[i].quote);
    EXPECT_EQ(got[i].comma, want[i].comma);
    EXPECT_EQ(got[i].newline, want[i].newline);
    EXPECT_EQ(got[i].inside, want[i].inside);
    EXPECT_EQ(got[i].quoted_before, want[i].quoted_before);
    EXPECT_EQ(got[i].quoted_after, want[i].quoted_after);
  }
}

/// Scans [begin, end) of `text` in place, then a copy of just those bytes
/// next to an inaccessible page on the side given (a read outside the range
/// crashes), and compares both with the byte walk.
void check(std::string_view text, uint64_t begin, uint64_t end,
           test::guarded_bytes::side side = test::guarded_bytes::side::after) {
  SCOPED_TRACE("range " + std::to_string(begin) + ".." + std::to_string(end));
  compare(scan(text, begin, end), reference(text, begin, end));
  const test::guarded_bytes guarded(text.substr(begin, end - begin), side);
  const std::string_view bytes = guarded.view();
  compare(scan(bytes, 0, bytes.size()), reference(bytes, 0, bytes.size()));
}

void check(std::string_view text) {
  check(text, 0, text.size(), test::guarded_bytes::side::after);
  check(text, 0, text.size(), test::guarded_bytes::side::before);
}

TEST(block_scanner, gives_no_block_for_an_empty_range) {
  const std::string text = "a,b\n";
  block_scanner scanner(text.data(), 2, 2);
  EXPECT_TRUE(scanner.each([](const scanned_block&) {
    ADD_FAILURE() << "a block of an empty range";
    return true;
  }));
  EXPECT_EQ(scanner.in_quotes(), 0u);
}

TEST(block_scanner, stops_where_told_and_goes_on_from_there) {
  std::string text(300, 'a');
  text[100] = '"'; // block 1 ends inside quotes
  const auto all = scan(text, 0, text.size());
  block_scanner scanner(text.data(), 0, text.size());
  std::vector<scanned_block> got;
  EXPECT_FALSE(scanner.each([&](const scanned_block& k) {
    got.push_back(k);
    return k.at < 64;
  }));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(scanner.in_quotes(), ~uint64_t{0});
  EXPECT_TRUE(scanner.each([&](const scanned_block& k) {
    got.push_back(k);
    return true;
  }));
  compare(got, all);
}

TEST(block_scanner, reads_an_input_shorter_than_a_block_without_overreading) {
  for (std::string_view text :
       {"a", "\"", "\n", "a,\"b\nc\",d\n", "\"\"\"", "x,y\r\n\"open"}) {
    SCOPED_TRACE(text);
    check(text);
  }
  const std::string text = "\"a,b\n";
  const auto got = scan(text, 0, text.size());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].size, 5u);
  EXPECT_EQ(got[0].quote, 0b1u);
  EXPECT_EQ(got[0].comma, 0b100u);
  EXPECT_EQ(got[0].newline, 0b10000u);
  // Still open at the end: every bit from the quote on, padding included.
  EXPECT_EQ(got[0].inside, ~uint64_t{0});
  EXPECT_EQ(got[0].quoted_after, ~uint64_t{0});
}

TEST(block_scanner, carries_the_quote_parity_across_blocks) {
  // A quoted field from byte 10 to byte 150: block 1 is wholly inside,
  // with its comma and LF data, and block 2 starts inside quotes.
  std::string text(200, 'x');
  text[10] = '"';
  text[70] = ',';
  text[80] = '\n';
  text[150] = '"';
  text[160] = '\n';
  check(text);
  const auto got = scan(text, 0, text.size());
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].inside, ~uint64_t{0} << 10);
  EXPECT_EQ(got[0].quoted_after, ~uint64_t{0});
  EXPECT_EQ(got[1].quoted_before, ~uint64_t{0});
  EXPECT_EQ(got[1].inside, ~uint64_t{0}); // no quote of its own
  EXPECT_EQ(got[1].comma & ~got[1].inside, 0u);
  EXPECT_EQ(got[1].newline & ~got[1].inside, 0u);
  EXPECT_EQ(got[2].inside, (uint64_t{1} << (150 - 128)) - 1);
  EXPECT_EQ(got[2].quoted_after, 0u);
  EXPECT_EQ(got[2].newline & ~got[2].inside, uint64_t{1} << (160 - 128));
}

TEST(block_scanner, sees_a_quote_at_the_last_and_first_byte_of_a_block) {
  for (uint64_t q : {62, 63, 64, 65, 127, 128}) {
    std::string text(192, 'a');
    text[q] = '"';
    SCOPED_TRACE(q);
    check(text);
    // Opened at q and never closed: inside from q on.
    const auto got = scan(text, 0, text.size());
    EXPECT_EQ(got[q / 64].inside, ~uint64_t{0} << (q % 64));
    EXPECT_EQ(got[q / 64].quoted_after, ~uint64_t{0});
  }
  // A quote pair across a block edge: the LF between is data.
  std::string text(128, 'a');
  text[63] = '"';
  text[64] = '\n';
  text[65] = '"';
  text[66] = '\n';
  check(text);
  const auto got = scan(text, 0, text.size());
  EXPECT_EQ(got[0].inside, uint64_t{1} << 63);
  EXPECT_EQ(got[1].inside, 0b1u); // the LF at 64; the closing quote is out
  EXPECT_EQ(got[1].newline & ~got[1].inside, 0b100u);
}

TEST(block_scanner, keeps_crlf_line_ends_apart_from_quoted_ones) {
  std::string text;
  for (int i = 0; i < 20; ++i)
    text += "\"Song " + std::to_string(i) + "\r\nline 2\",\"2020-01-01\",\"" +
            std::to_string(i) + "\"\r\n";
  check(text);
  // The unquoted LFs are exactly those after a closing quote and a CR.
  std::vector<uint64_t> ends;
  for (const scanned_block& k : scan(text, 0, text.size()))
    for (uint64_t m = k.newline & ~k.inside; m != 0; m &= m - 1)
      ends.push_back(k.at + static_cast<uint64_t>(__builtin_ctzll(m)));
  ASSERT_EQ(ends.size(), 20u);
  for (uint64_t e : ends) {
    EXPECT_EQ(text[e - 1], '\r');
    EXPECT_EQ(text[e - 2], '"');
  }
}

TEST(block_scanner, reads_a_block_that_is_all_quotes) {
  for (size_t n : {63, 64, 65, 128, 129}) {
    SCOPED_TRACE(n);
    const std::string text(n, '"');
    check(text);
    // Every other quote opens: the even ones are inside.
    const auto got = scan(text, 0, text.size());
    EXPECT_EQ(got[0].quote, n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1);
    if (n >= 64) {
      EXPECT_EQ(got[0].inside, 0x5555555555555555u);
      EXPECT_EQ(got[0].quoted_after, 0u);
    }
  }
  // 65 quotes: the first block's 64 pair up; the 65th opens a section
  // that the LF after it cannot end.
  std::string text = std::string(65, '"') + "x\n";
  check(text);
  const auto got = scan(text, 0, text.size());
  EXPECT_EQ(got[0].inside, 0x5555555555555555u);
  EXPECT_EQ(got[1].quoted_before, 0u);
  EXPECT_EQ(got[1].inside, ~uint64_t{0});
  EXPECT_EQ(got[1].newline & ~got[1].inside, 0u);
}

TEST(block_scanner, agrees_with_the_byte_walk_on_random_bytes) {
  std::mt19937_64 rng(12);
  const char alphabet[] = {'"', '"', ',', '\n', '\r', 'a', 'b', '\0'};
  for (int round = 0; round < 400; ++round) {
    std::string text(rng() % 400, 'a');
    for (char& c : text)
      c = alphabet[rng() % sizeof alphabet];
    const uint64_t begin = text.empty() ? 0 : rng() % text.size();
    const uint64_t end = begin + rng() % (text.size() - begin + 1);
    check(text, begin, end,
          round % 2 ? test::guarded_bytes::side::after
                    : test::guarded_bytes::side::before);
    if (HasFailure())
      FAIL() << "round " << round << ": " << testing::PrintToString(text);
  }
}

TEST(record_end, agrees_with_the_byte_walk_on_random_bytes) {
  std::mt19937_64 rng(7);
  const char alphabet[] = {'"', ',', '\n', '\n', 'a'};
  for (int round = 0; round < 400; ++round) {
    std::string text(rng() % 300, 'a');
    for (char& c : text)
      c = alphabet[rng() % sizeof alphabet];
    const uint64_t begin = text.empty() ? 0 : rng() % text.size();
    uint64_t want = text.size();
    bool odd = false;
    for (uint64_t i = begin; i < text.size(); ++i) {
      odd ^= text[i] == '"';
      if (text[i] == '\n' && !odd) {
        want = i;
        break;
      }
    }
    EXPECT_EQ(record_end(text, begin), want)
        << testing::PrintToString(text) << " from " << begin;
  }
}

} // namespace
} // namespace playcount
