// actors/messages: what crosses between nodes. A work item must arrive with
// its range and tag (its bytes come on the feed: tests/cluster), a partial
// aggregate with the same totals.

#include "actors/messages.hpp"

#include "core/mapped_file.hpp"
#include "tests/support/job_records.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/pfr.hpp>
#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <gtest/gtest.h>

#include <cerrno>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <typeindex>
#include <utility>
#include <vector>

namespace playcount {
namespace {

class messages_test : public ::testing::Test {
protected:
  messages_test()
      : system_(configured(cfg_)) {}

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

TEST_F(messages_test, a_work_item_for_another_node_keeps_its_range_and_parcel) {
  work_item item;
  item.job = "j";
  item.index = 7;
  item.range = {10, 20};
  item.layout.columns = 4;
  item.layout.count = 3;
  item.parcel = 0x1234567890ull;
  const auto got = read_back<work_item>(bytes_of(item));
  EXPECT_EQ(got.job, "j");
  EXPECT_EQ(got.index, 7u);
  EXPECT_TRUE(got.range == (byte_range{10, 20}));
  EXPECT_EQ(got.layout.columns, 4u);
  EXPECT_EQ(got.layout.count, 3u);
  EXPECT_EQ(got.parcel, 0x1234567890ull);
}

TEST_F(messages_test, a_registration_reply_carries_the_feed_port_and_secret) {
  registration_reply reply{true,     {},   {},
                           "node-3", 4711, std::string("\0\x01secret\xff", 9)};
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
  const auto report = read_range(file, {layout.data_begin, file.size()}, layout,
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

// -- a round trip for every registered message type --------------------------
//
// Each type CAF knows by name (configure_actor_system) goes through
// binary_serializer and comes back through the type-erased value CAF makes
// for that name, as a message from another node does. The sample sets every
// field, nested ones too, to something other than its default (checked
// field by field with Boost.PFR), so a field that inspect leaves out cannot
// come back equal; and a type registered without a case here fails the test.

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
constexpr bool is_leaf =
    std::is_arithmetic_v<T> || std::is_enum_v<T> ||
    std::is_same_v<T, std::string> || std::is_same_v<T, caf::actor> ||
    std::is_same_v<T, work_source_actor> ||
    std::is_same_v<T, std::shared_ptr<partial_aggregate>> ||
    std::is_same_v<T, std::shared_ptr<growing_file>>;

template <class T>
bool same(const T& a, const T& b);

template <class T, size_t... I>
bool same_fields(const T& a, const T& b, std::index_sequence<I...>) {
  return (same(boost::pfr::get<I>(a), boost::pfr::get<I>(b)) && ...);
}

// Equal field by field (a partial by its encoding).
template <class T>
bool same(const T& a, const T& b) {
  if constexpr (std::is_same_v<T, std::shared_ptr<partial_aggregate>>) {
    return a && b ? a->encode() == b->encode() : a == b;
  } else if constexpr (is_leaf<T>) {
    return a == b;
  } else if constexpr (is_vector<T>::value) {
    if (a.size() != b.size())
      return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i]))
        return false;
    return true;
  } else if constexpr (is_optional<T>::value) {
    return a.has_value() == b.has_value() && (!a || same(*a, *b));
  } else {
    static_assert(std::is_aggregate_v<T>, "a message type without a case");
    return same_fields(a, b,
                       std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
  }
}

// Paths (see expect_every_field_set) that may stay at their default.
using exempt_paths = std::set<std::string>;

template <class T>
void expect_every_field_set(const T& x, const std::string& path,
                            const exempt_paths& exempt);

template <class T, size_t... I>
void expect_fields_set(const T& x, const std::string& path,
                       const exempt_paths& exempt, std::index_sequence<I...>) {
  (expect_every_field_set(boost::pfr::get<I>(x), path + "." + std::to_string(I),
                          exempt),
   ...);
}

// Every field of `x` differs from its default (fields by their index:
// `playcount::job_record.2` is its third); vectors and optionals hold
// something.
template <class T>
void expect_every_field_set(const T& x, const std::string& path,
                            const exempt_paths& exempt) {
  if (exempt.count(path) > 0)
    return;
  if constexpr (is_leaf<T>) {
    EXPECT_FALSE(same(x, T{})) << path << " is at its default";
  } else if constexpr (is_vector<T>::value) {
    EXPECT_FALSE(x.empty()) << path << " is empty";
    for (size_t i = 0; i < x.size(); ++i)
      expect_every_field_set(x[i], path + "[" + std::to_string(i) + "]",
                             exempt);
  } else if constexpr (is_optional<T>::value) {
    EXPECT_TRUE(x.has_value()) << path << " is empty";
    if (x)
      expect_every_field_set(*x, path, exempt);
  } else {
    expect_fields_set(x, path, exempt,
                      std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
  }
}

// The samples: every field set.

job_record sample_record() {
  return test::every_field_set(job_state::canceled);
}

csv_layout sample_layout() {
  csv_layout l;
  l.data_begin = 26;
  l.first_data_line = 3;
  l.columns = 4;
  l.song = 1;
  l.date = 2;
  l.count = 3;
  return l;
}

range_report sample_report() {
  range_report r;
  r.lines = 10;
  r.rows = 8;
  r.bad_rows = 1;
  r.first_bad = {{4, "bad date"}};
  r.error = row_problem{9, "count overflow"};
  r.overflow = true;
  return r;
}

coordinator_stats sample_coordinator_stats() {
  coordinator_stats c;
  c.nodes = {{"n1", "host", "10.0.0.1:4000", true, true, 4, 5, 6, 7, 8}};
  c.workers = {{"w1", "n1", 2, 3, true, 4}};
  c.queue = {{"j", "reading", 5, 2, 1, 2}};
  c.jobs_running = 1;
  c.ranges_queued = 2;
  c.ranges_dispatched = 3;
  c.ranges_redispatched = 4;
  c.bytes_read = 5;
  c.rows_read = 6;
  c.spilled_bytes = 7;
  return c;
}

class message_round_trip : public messages_test {
protected:
  using check = std::function<void(message_round_trip&)>;

  // The cases, by the name each type is registered under.
  std::map<std::string, check> cases() {
    std::map<std::string, check> out;
    const auto add = [&](const char* name, auto sample,
                         exempt_paths exempt = {}) {
      out.emplace(name, [name, sample, exempt](message_round_trip& self) {
        self.round_trip(name, sample, exempt);
      });
    };
    add("playcount::job_request",
        job_request{"j", "/in.csv", "/out.csv", 1 << 10, bad_row_policy::skip,
                    true, "/spill", 1 << 20, nullptr, "/summary.json",
                    "/songs.idx"},
        // An input still being written is shared in this process only: it
        // never crosses (it stays null here and there).
        exempt_paths{"playcount::job_request.8"});
    add("playcount::job_result", job_result{"j",
                                            true,
                                            true,
                                            "line 2: x",
                                            1,
                                            2,
                                            3,
                                            {"line 3: y"},
                                            0.5,
                                            1.5,
                                            2.5,
                                            3.5,
                                            4096,
                                            EPIPE});
    add("playcount::job_status", job_status{"j", true, "reading", 100, 50, 7,
                                            test::every_field_set().progress});
    add("playcount::worker_info", worker_info{"node-2", 9});
    add("playcount::work_item", work_item{"j",
                                          "/in.csv",
                                          3,
                                          {10, 20},
                                          sample_layout(),
                                          bad_row_policy::skip,
                                          77,
                                          "/spill",
                                          1 << 16});
    add("playcount::job_plan",
        job_plan{sample_layout(), 4096, {{26, 2000}, {2000, 4096}}, true});
    add("playcount::read_done",
        read_done{"j", 4, sample_report(), "cannot read", 12});
    add(
        "playcount::partial_blob",
        [] {
          const std::string file = "Song,Date,Number of Plays\n"
                                   "b,2020-01-02,3\na,2020-01-01,4\n";
          const auto layout = std::get<csv_layout>(read_layout(file));
          partial_blob blob{"j", std::make_shared<partial_aggregate>(), true, 0,
                            8863319};
          const auto report =
              read_range(file, {layout.data_begin, file.size()}, layout,
                         bad_row_policy::fail, *blob.totals, 0);
          EXPECT_FALSE(report.error);
          return blob;
        }(),
        // A partial comes in the blob itself (pieces 0) or before it, in
        // pieces (then the blob carries none: the test above).
        exempt_paths{"playcount::partial_blob.3"});
    add("playcount::worker_stats", worker_stats{"w1", "n1", 2, 3, true, 4});
    add("playcount::coordinator_stats", sample_coordinator_stats());
    add("playcount::job_record", sample_record());
    add("playcount::job_submission",
        job_submission{"j", "plays.csv", 100, bad_row_policy::skip,
                       1699999999000, nullptr},
        exempt_paths{"playcount::job_submission.5"}); // as job_request's
    add("playcount::submit_reply",
        submit_reply{submit_reply::queue_full, sample_record(), "full", 5});
    add("playcount::job_lookup", job_lookup{true, sample_record()});
    add("playcount::job_deletion", job_deletion{true, true, sample_record()});
    add("playcount::job_query",
        job_query{50, 0x0c, "plays", 1714564800123, "3d982182"});
    add("playcount::job_list",
        job_list{{sample_record(), sample_record()}, 7, true});
    // Every bucket holds something: the walk looks at each count.
    const auto histogram = [] {
      seconds_histogram h = histogram_with({1.0});
      h.observe(0.5);
      h.observe(2);
      return h;
    };
    job_end_stats ends;
    ends.finished = 1;
    ends.failed = 2;
    ends.canceled = 3;
    ends.finished_seconds = histogram();
    ends.failed_seconds = histogram();
    ends.canceled_seconds = histogram();
    ends.queue_wait = histogram();
    add("playcount::registry_stats",
        registry_stats{sample_coordinator_stats(), true, 1, 2, 3, 4, 5, 6, 7, 8,
                       9, 10, ends});
    add("playcount::node_registration", node_registration{"host", 4, 99});
    add("playcount::registration_reply",
        registration_reply{true, "why not", work_source_, "node-3", 4711,
                           std::string("\0\x01secret\xff", 9)});
    add("playcount::node_record",
        node_record{"host", "10.0.0.1:4000", "caf-node", peer_});
    return out;
  }

  template <class T>
  void round_trip(const std::string& name, const T& sample,
                  const exempt_paths& exempt) {
    SCOPED_TRACE(name);
    expect_every_field_set(sample, name, exempt);
    // Registered under that name, as that type.
    auto name_of = cfg_.type_names_by_rtti.find(std::type_index(typeid(T)));
    ASSERT_NE(name_of, cfg_.type_names_by_rtti.end());
    EXPECT_EQ(name_of->second, name);
    std::vector<char> buf;
    caf::binary_serializer sink{system_, buf};
    T copy = sample; // inspect takes its argument mutable
    ASSERT_FALSE(sink(copy));
    // Read back as CAF does for a message from another node: by the name.
    auto make = cfg_.value_factories_by_name.find(name);
    ASSERT_NE(make, cfg_.value_factories_by_name.end());
    caf::type_erased_value_ptr got = make->second();
    caf::binary_deserializer source{system_, buf};
    ASSERT_FALSE(got->load(source));
    EXPECT_EQ(source.remaining(), 0u) << "bytes left over";
    ASSERT_TRUE(*got->type().second == typeid(T));
    EXPECT_TRUE(same(*static_cast<const T*>(got->get()), sample))
        << "changed on the way: " << caf::deep_to_string(sample);
  }

  // An actor handle to carry (a local one: no middleman is loaded).
  caf::scoped_actor self_{system_};
  caf::actor peer_ = caf::actor_cast<caf::actor>(self_);
  work_source_actor work_source_ = caf::actor_cast<work_source_actor>(self_);
};

TEST_F(message_round_trip, every_registered_message_type_comes_back_whole) {
  const auto all = cases();
  std::set<std::string> registered;
  for (const auto& entry : cfg_.value_factories_by_name)
    if (entry.first.rfind("playcount::", 0) == 0)
      registered.insert(entry.first);
  for (const auto& name : registered)
    EXPECT_EQ(all.count(name), 1u) << name << " has no round-trip case here";
  for (const auto& [name, check] : all) {
    EXPECT_EQ(registered.count(name), 1u) << name << " is not registered";
    check(*this);
  }
  EXPECT_EQ(all.size(), 21u); // what configure_actor_system registers today
}

TEST_F(message_round_trip, job_record_fields_lists_every_member_once) {
  // A member missing from the list would not cross (the round trip above),
  // would not be stored and not be shown.
  static_assert(boost::pfr::tuple_size_v<job_record> ==
                std::tuple_size_v<std::decay_t<decltype(job_record_fields)>>);
  std::set<std::string_view> keys;
  std::set<std::string_view> api_keys;
  for_each_record_field([&](const auto& field) {
    EXPECT_TRUE(keys.insert(field.key).second) << field.key;
    if (!field.api_key.empty()) {
      EXPECT_TRUE(api_keys.insert(field.api_key).second) << field.api_key;
    }
  });
}

TEST_F(message_round_trip, a_state_no_server_sends_arrives_as_failed) {
  job_record r = sample_record();
  std::vector<char> buf;
  caf::binary_serializer sink{system_, buf};
  ASSERT_FALSE(sink(r));
  // The state is the first byte after the id (a length, then its bytes).
  caf::binary_deserializer probe{system_, buf};
  std::string id;
  ASSERT_FALSE(probe(id));
  const size_t at = buf.size() - probe.remaining();
  ASSERT_EQ(buf[at], static_cast<char>(job_state::canceled));
  buf[at] = 42;
  job_record back;
  caf::binary_deserializer source{system_, buf};
  ASSERT_FALSE(source(back));
  EXPECT_EQ(back.state, job_state::failed);
  EXPECT_EQ(back.note, r.note);
}

} // namespace
} // namespace playcount
