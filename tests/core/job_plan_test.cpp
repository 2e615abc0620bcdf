// core/job_plan: planning a file on disk, chunks scanned on several threads,
// must give the plan of the same bytes in memory, scanned in order.

#include "core/job_plan.hpp"

#include "support.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <random>
#include <thread>
#include <unistd.h>
#include <utility>

namespace playcount {
namespace {

TEST(plan_job, gives_the_plan_of_the_bytes_in_memory_on_any_number_of_threads) {
  test::temp_dir dir;
  std::mt19937 rng(11);
  for (int round = 0; round < 6; ++round) {
    const std::string file = test::random_doc(rng).assemble();
    const std::string path = dir.write("in.csv", file);
    const auto layout = std::get<csv_layout>(read_layout(file));
    for (uint64_t range_size : {3ull, 64ull, 1000ull, 1ull << 30}) {
      const auto expected =
          test::plan_in_memory(file, layout.data_begin, range_size);
      for (unsigned threads : {1u, 2u, 5u}) {
        phase_meter scanned;
        const auto planned = plan_job(path, range_size, threads, &scanned);
        ASSERT_TRUE(planned) << planned.error().text();
        const job_plan& plan = *planned;
        // The scan's progress: every data byte, of the data bytes.
        EXPECT_EQ(scanned.total, file.size() - layout.data_begin);
        EXPECT_EQ(scanned.done, scanned.total);
        EXPECT_EQ(plan.file_size, file.size());
        EXPECT_EQ(plan.layout.data_begin, layout.data_begin);
        EXPECT_EQ(plan.layout.song, layout.song);
        EXPECT_EQ(plan.layout.date, layout.date);
        EXPECT_EQ(plan.layout.count, layout.count);
        EXPECT_TRUE(plan.ranges == expected)
            << "round " << round << ", range size " << range_size << ", "
            << threads << " threads";
      }
    }
  }
}

TEST(plan_job, plans_no_range_for_a_header_alone) {
  test::temp_dir dir;
  const auto plan =
      plan_job(dir.write("h.csv", "Song,Date,Number of Plays\n"), 4096, 2);
  ASSERT_TRUE(plan) << plan.error().text();
  EXPECT_TRUE(plan->ranges.empty());
}

TEST(plan_job, says_what_is_wrong_with_the_header_or_the_file) {
  test::temp_dir dir;
  const auto empty = plan_job(dir.write("empty.csv", ""), 4096, 2);
  ASSERT_FALSE(empty);
  const std::string error = empty.error().text();
  EXPECT_EQ(error.rfind("line 1: empty file", 0), 0u) << error;
  const auto cols =
      plan_job(dir.write("cols.csv", "Song,Date\na,2020-01-01\n"), 4096, 2);
  ASSERT_FALSE(cols);
  EXPECT_EQ(cols.error().text().rfind(
                "line 1: missing column \"Number of Plays\"", 0),
            0u)
      << cols.error().text();
  const std::string missing = dir.file("nowhere.csv");
  const auto nowhere = plan_job(missing, 4096, 2);
  ASSERT_FALSE(nowhere);
  EXPECT_EQ(nowhere.error().path, missing);
  EXPECT_EQ(nowhere.error().code, ENOENT);
  EXPECT_EQ(nowhere.error().text(),
            "cannot open " + missing + ": No such file or directory");
}

// Writes `file` to `path` in pieces of random sizes, telling `input` after
// each, as a spool does; the reader runs meanwhile. `counts`: the producer
// also says how many quotes it wrote (a decoder's spool, an upload).
void write_growing(const std::string& path, std::string_view file,
                   growing_file& input, std::mt19937 rng, bool counts) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  std::uniform_int_distribution<size_t> piece(1, 700);
  uint64_t quotes = 0;
  for (size_t at = 0; at < file.size();) {
    const size_t n = std::min(piece(rng), file.size() - at);
    ASSERT_EQ(::write(fd, file.data() + at, n), static_cast<ssize_t>(n));
    quotes += static_cast<uint64_t>(
        std::count(file.begin() + static_cast<ptrdiff_t>(at),
                   file.begin() + static_cast<ptrdiff_t>(at + n), '"'));
    at += n;
    if (counts)
      input.grow(at, quotes);
    else
      input.grow(at);
    if (piece(rng) < 30)
      std::this_thread::yield();
  }
  ::close(fd);
  input.complete();
}

TEST(plan_growing, gives_the_ranges_of_plan_job_while_the_file_is_written) {
  test::temp_dir dir;
  std::mt19937 rng(23);
  for (int round = 0; round < 8; ++round) {
    const std::string file = test::random_doc(rng).assemble();
    const auto layout = std::get<csv_layout>(read_layout(file));
    for (uint64_t range_size : {3ull, 64ull, 1000ull, 1ull << 30})
      for (const bool counts : {false, true}) {
        SCOPED_TRACE(counts ? "the producer counts quotes" : "it does not");
        const auto expected =
            test::plan_in_memory(file, layout.data_begin, range_size);
        const std::string path = dir.file("growing.csv");
        // Marks as close as the pieces, so that chunks have them.
        growing_file input(1);
        std::thread writer(write_growing, path, std::string_view(file),
                           std::ref(input), std::mt19937(rng()), counts);
        // The planner opens the file: it exists before the job starts.
        while (::access(path.c_str(), F_OK) != 0)
          std::this_thread::yield();
        std::vector<byte_range> got;
        int steps = 0;
        bool whole = false;
        const auto planned =
            plan_growing(path, input, range_size, [&](job_plan step) {
              ++steps;
              EXPECT_FALSE(whole) << "a step after the last";
              EXPECT_EQ(step.layout.data_begin, layout.data_begin);
              EXPECT_LE(step.file_size, file.size());
              for (const auto& r : step.ranges) {
                // Only bytes that have landed are handed out.
                EXPECT_LE(r.end, step.file_size);
                got.push_back(r);
              }
              whole = !step.more;
            });
        writer.join();
        ASSERT_TRUE(planned) << planned.error().text();
        EXPECT_TRUE(whole);
        EXPECT_TRUE(got == expected)
            << "round " << round << ", range size " << range_size << ": "
            << got.size() << " ranges, expected " << expected.size();
        if (range_size == 64 && file.size() > 2000) {
          EXPECT_GT(steps, 2) << "ranges came only at the end";
        }
      }
  }
}

TEST(plan_growing, fails_as_the_producer_says_and_stops_when_abandoned) {
  test::temp_dir dir;
  const std::string path =
      dir.write("cut.csv", "Song,Date,Number of Plays\na,2020-01-01,1\n");
  growing_file cut;
  cut.grow(10); // the header has not landed yet
  std::thread producer([&] { cut.fail(failure::words("upload incomplete")); });
  const auto planned = plan_growing(path, cut, 64, [](job_plan) {});
  producer.join();
  ASSERT_FALSE(planned);
  EXPECT_EQ(planned.error().text(), "upload incomplete");

  growing_file left;
  left.grow(40);
  int steps = 0;
  std::thread reader_gone([&] { left.abandon(); });
  const auto quiet =
      plan_growing(path, left, 64, [&](const job_plan&) { ++steps; });
  reader_gone.join();
  EXPECT_TRUE(quiet);
  EXPECT_EQ(steps, 0);
}

TEST(plan_growing, reads_a_header_only_once_its_line_has_landed) {
  test::temp_dir dir;
  // A header cut anywhere before its LF is not read as a shorter header,
  // also after a BOM and empty lines, which end records of their own.
  const std::string file = "\xEF\xBB\xBF\n\r\nSong,Date,Number of Plays\n"
                           "x,2020-01-01,2\n";
  const std::string path = dir.write("h.csv", file);
  const uint64_t data_begin = file.find('x');
  for (uint64_t cut = 1; cut <= data_begin; ++cut) {
    SCOPED_TRACE("cut after " + std::to_string(cut) + " bytes");
    growing_file input;
    input.grow(cut);
    std::vector<job_plan> steps;
    std::atomic<bool> returned{false};
    std::thread rest([&] {
      // Once the planner waits for more (it has read what is there).
      while (!returned &&
             !input.wait_for_reader(0, std::chrono::milliseconds(0)))
        std::this_thread::yield();
      input.grow(file.size());
      input.complete();
    });
    const auto planned = plan_growing(path, input, 1 << 20,
                                      [&](job_plan s) { steps.push_back(s); });
    returned = true;
    rest.join();
    ASSERT_TRUE(planned) << planned.error().text();
    ASSERT_FALSE(steps.empty());
    EXPECT_EQ(steps.back().layout.data_begin, data_begin);
    EXPECT_EQ(steps.back().layout.first_data_line, 4u);
    EXPECT_FALSE(steps.back().more);
  }
}

// A first line without an end is not waited for (nor spooled) past
// max_header_bytes: the job fails as soon as they are there.
TEST(plan_growing, fails_once_max_header_bytes_hold_no_header) {
  test::temp_dir dir;
  const std::string path =
      dir.write("long.csv", std::string(max_header_bytes + 10, 'x'));
  growing_file input;
  input.grow(max_header_bytes + 10); // never whole
  const auto planned = plan_growing(path, input, 1 << 20, [](job_plan) {});
  ASSERT_FALSE(planned);
  EXPECT_EQ(planned.error().text().rfind(
                "line 1: no header line ends in the first 1 MiB", 0),
            0u)
      << planned.error().text();
}

// The pace a spool keeps (core/spool.hpp): it waits while it is far ahead
// of the reader, and never while the reader has read all it planned and
// waits for bytes to plan more (a record longer than the lead must not
// stall the job).
TEST(growing_file, a_producer_waits_while_far_ahead_unless_the_reader_starves) {
  using std::chrono::milliseconds;
  growing_file input;
  constexpr uint64_t ahead = 100;
  input.grow(90);
  EXPECT_TRUE(input.wait_for_reader(ahead, milliseconds(0)));
  input.grow(1000); // none of it read
  EXPECT_FALSE(input.wait_for_reader(ahead, milliseconds(10)));
  input.done_below(500);
  EXPECT_FALSE(input.wait_for_reader(ahead, milliseconds(10)));
  // A reader that reads on while the producer waits wakes it.
  std::thread reader([&] { input.done_below(950); });
  EXPECT_TRUE(input.wait_for_reader(ahead, std::chrono::seconds(60)));
  reader.join();
  input.grow(2000);
  // A planner that waits for bytes while ranges it planned (to 1500) are
  // unread: the producer still waits, the workers will read on.
  std::thread planner([&] {
    const growing_file::state seen =
        input.wait_beyond(2000, 1500, std::chrono::seconds(60));
    EXPECT_GT(seen.size, 2000u);
  });
  EXPECT_FALSE(input.wait_for_reader(ahead, milliseconds(50)));
  // Once they are read, the producer goes on and the planner gets bytes.
  input.done_below(1500);
  EXPECT_TRUE(input.wait_for_reader(ahead, std::chrono::seconds(60)));
  input.grow(2100);
  planner.join();
  EXPECT_FALSE(input.wait_for_reader(ahead, milliseconds(0)));
  // A reader that gave up never holds the producer.
  input.abandon();
  EXPECT_TRUE(input.wait_for_reader(ahead, milliseconds(0)));
  // What is read and freed is what each side said.
  EXPECT_EQ(input.now().done, 1500u);
  EXPECT_FALSE(input.now().frees);
  input.frees_what_is_read();
  input.freeing(800);
  EXPECT_TRUE(input.now().frees);
  EXPECT_EQ(input.now().freed, 800u);
}

// What a producer that counts quotes says, kept sparse for the planner,
// which asks in increasing order.
TEST(growing_file, keeps_quote_marks_apart_and_forgets_those_passed) {
  growing_file input(100);
  EXPECT_FALSE(input.quote_mark_before(1000));
  input.grow(50, 3);
  input.grow(120, 5); // under 100 bytes after the last mark
  input.grow(150, 6);
  input.grow(400, 9);
  input.grow(10000); // a producer that did not count: no mark
  EXPECT_FALSE(input.quote_mark_before(49));
  const auto at = [&](uint64_t offset) {
    const auto m = input.quote_mark_before(offset);
    return m ? std::pair{m->offset, m->quotes}
             : std::pair{uint64_t{0}, uint64_t{0}};
  };
  EXPECT_EQ(at(149), std::pair(uint64_t{50}, uint64_t{3}));
  EXPECT_EQ(at(150), std::pair(uint64_t{150}, uint64_t{6}));
  EXPECT_EQ(at(10000), std::pair(uint64_t{400}, uint64_t{9}));
  EXPECT_EQ(input.now().size, 10000u);
}

// A reader waiting for bytes past N is woken once they land, also when the
// pieces before them did not wake it (grow wakes only a reader whose bytes
// are there).
TEST(growing_file, a_reader_waiting_past_a_size_wakes_when_the_file_passes_it) {
  growing_file input;
  input.grow(1);
  const auto start = std::chrono::steady_clock::now();
  std::thread reader([&] {
    const growing_file::state seen =
        input.wait_beyond(100, 0, std::chrono::seconds(60));
    EXPECT_GT(seen.size, 100u);
  });
  // The reader waits (it says so: the producer may go on).
  while (!input.wait_for_reader(0, std::chrono::milliseconds(0)))
    std::this_thread::yield();
  for (uint64_t size = 10; size <= 100; size += 10)
    input.grow(size);
  input.grow(101);
  reader.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30))
      << "woken by its time limit, not by the bytes";
}

} // namespace
} // namespace playcount
