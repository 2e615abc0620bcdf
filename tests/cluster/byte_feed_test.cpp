// cluster/byte_feed: range bytes from the server's file to a worker's feed,
// on real loopback sockets (no CAF: the feed is plain TCP). Bytes arrive
// exactly and in order, larger than the socket buffers too; a feed that is
// out of step, a wrong secret, and a node that is forgotten all end clearly.

#include "cluster/byte_feed.hpp"

#include "tests/support/eventually.hpp"
#include "tests/support/loopback.hpp"
#include "tests/support/slowdown.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <random>

namespace playcount {
namespace {

using namespace std::chrono_literals;

class byte_feed_test : public ::testing::Test {
protected:
  void SetUp() override {
    auto listening = byte_feed::open("127.0.0.1", 0);
    ASSERT_TRUE(listening) << listening.error().text();
    server_ = std::move(*listening);
    ASSERT_NE(server_->port(), 0);
    // Not page aligned, and more than the socket buffers hold.
    content_.resize((24 << 20) + 4321);
    std::mt19937 rng(5);
    for (char& c : content_)
      c = static_cast<char>(rng());
    file_ = std::make_shared<file_handle>();
    const auto opened = file_->open(dir_.write("in.csv", content_));
    ASSERT_TRUE(opened) << opened.error().text();
  }

  std::unique_ptr<range_source> connect(const std::string& secret) {
    error_.clear();
    auto feed = open_feed("127.0.0.1", server_->port(), secret);
    if (!feed) {
      error_ = feed.error().text();
      return nullptr;
    }
    return std::move(*feed);
  }

  std::string received(range_source& feed, uint64_t tag, uint64_t size) {
    error_.clear();
    const auto bytes = feed.receive(tag, size);
    if (!bytes) {
      error_ = bytes.error().text();
      return "(failed: " + error_ + ")";
    }
    return std::string(*bytes);
  }

  test::temp_dir dir_;
  std::shared_ptr<byte_feed> server_;
  std::string content_;
  std::shared_ptr<file_handle> file_;
  std::string error_;
};

TEST_F(byte_feed_test, ranges_arrive_exactly_in_the_order_they_were_sent) {
  const std::string secret = server_->admit("node-1");
  auto feed = connect(secret);
  ASSERT_TRUE(feed) << error_;
  EXPECT_EQ(server_->node_of(feed->id()), "node-1");
  EXPECT_EQ(server_->node_of(feed->id() + 1), "");

  const std::vector<byte_range> ranges = {
      {1, 1000}, {4097, 3 << 20}, {500, 500}, {3 << 20, content_.size()}};
  for (size_t i = 0; i < ranges.size(); ++i)
    ASSERT_TRUE(server_->send(feed->id(), 10 + i, file_, ranges[i]));
  for (size_t i = 0; i < ranges.size(); ++i) {
    const byte_range r = ranges[i];
    const std::string got = received(*feed, 10 + i, r.size());
    EXPECT_EQ(got.size(), r.size()) << i << ": " << got.substr(0, 100);
    EXPECT_TRUE(got == content_.substr(r.begin, r.size())) << i;
  }
}

TEST_F(byte_feed_test, bytes_under_another_tag_are_an_error_not_a_range) {
  auto feed = connect(server_->admit("node-1"));
  ASSERT_TRUE(feed) << error_;
  ASSERT_TRUE(server_->send(feed->id(), 5, file_, {0, 100}));
  EXPECT_EQ(received(*feed, 6, 100),
            "(failed: the feed is out of step: bytes tagged 5 where 6 were "
            "expected)");
}

TEST_F(byte_feed_test, only_a_secret_the_server_gave_opens_a_feed) {
  const std::string secret = server_->admit("node-1");
  std::string wrong = secret;
  wrong[31] = static_cast<char>(wrong[31] ^ 1);
  EXPECT_FALSE(connect(wrong));
  EXPECT_NE(error_.find("refused the byte feed"), std::string::npos) << error_;
  EXPECT_FALSE(connect(""));
  EXPECT_EQ(error_, "no feed secret from the server");
  // Another node's secret opens a feed of that node, not of node-1.
  auto other = connect(server_->admit("node-2"));
  ASSERT_TRUE(other) << error_;
  EXPECT_EQ(server_->node_of(other->id()), "node-2");
}

// A hello dripped a byte at a time holds its greeting slot (of 64) for the
// 5 s a hello may take in all, not 5 s per byte; garbage ends it at once.
TEST_F(byte_feed_test,
       a_dripping_or_garbage_hello_is_cut_within_the_greeting_time) {
  const auto connect_raw = [&] {
    const int fd = test::connect_loopback(server_->port());
    EXPECT_GE(fd, 0);
    return fd;
  };
  // True when the server closes `fd` before `limit`, dripping a byte each
  // 500 ms meanwhile when `drip`.
  const auto closed_within = [](int fd, std::chrono::milliseconds limit,
                                bool drip) {
    // Drips (the stimulus) until closed; `limit` only ends a server that
    // never closes.
    const auto until = std::chrono::steady_clock::now() + test::scaled(limit);
    while (std::chrono::steady_clock::now() < until) {
      if (drip)
        (void)::send(fd, "P", 1, MSG_NOSIGNAL);
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 500) > 0) {
        char sink[64];
        if (::recv(fd, sink, sizeof sink, 0) <= 0)
          return true;
      }
    }
    return false;
  };
  const int dripping = connect_raw();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_within(dripping, 9s, /*drip=*/true));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 4s);
  ::close(dripping);
  const int garbage = connect_raw();
  const std::string junk(4096, 'x');
  (void)::send(garbage, junk.data(), junk.size(), MSG_NOSIGNAL);
  EXPECT_TRUE(closed_within(garbage, 2s, /*drip=*/false));
  ::close(garbage);
  // The feed port still opens feeds.
  EXPECT_TRUE(connect(server_->admit("node-1"))) << error_;
}

TEST_F(byte_feed_test, a_taken_port_is_a_failure_with_its_errno) {
  const auto again = byte_feed::open("127.0.0.1", server_->port());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EADDRINUSE);
  EXPECT_EQ(again.error().text(),
            "cannot listen on 127.0.0.1:" + std::to_string(server_->port()) +
                ": Address already in use");
}

TEST_F(byte_feed_test, a_forgotten_node_loses_its_feeds_and_its_secret) {
  const std::string secret = server_->admit("node-1");
  auto feed = connect(secret);
  ASSERT_TRUE(feed) << error_;
  auto kept = connect(server_->admit("node-2"));
  ASSERT_TRUE(kept) << error_;
  server_->forget("node-1");
  EXPECT_EQ(server_->node_of(feed->id()), "");
  EXPECT_FALSE(server_->send(feed->id(), 1, file_, {0, 10}));
  EXPECT_EQ(received(*feed, 1, 10), "(failed: the server closed the feed)");
  EXPECT_FALSE(connect(secret));
  // The other node's feed goes on.
  ASSERT_TRUE(server_->send(kept->id(), 1, file_, {0, 10}));
  EXPECT_EQ(received(*kept, 1, 10), content_.substr(0, 10));
}

TEST_F(byte_feed_test, a_closed_server_closes_every_feed) {
  auto feed = connect(server_->admit("node-1"));
  ASSERT_TRUE(feed) << error_;
  server_.reset();
  EXPECT_EQ(received(*feed, 1, 10), "(failed: the server closed the feed)");
}

} // namespace
} // namespace playcount
