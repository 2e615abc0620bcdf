// `playcount count IN.csv -o OUT.csv`: one job through the same actors the
// server uses, in this process.

#include "actors/coordinator.hpp"
#include "actors/messages.hpp"
#include "actors/worker.hpp"
#include "app/commands.hpp"
#include "app/nicer_threads.hpp"
#include "app/options.hpp"
#include "app/progress.hpp"
#include "core/compression.hpp"
#include "core/result_summary.hpp"
#include "core/result_writer.hpp"
#include "core/spill.hpp"
#include "core/spool.hpp"
#include "core/units.hpp"
#include "core/utf8.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <thread>
#include <unistd.h>

namespace playcount {

namespace {

constexpr const char* count_help =
    R"(usage: playcount count IN.csv -o OUT.csv [options]

Totals the plays per song and date of IN.csv (columns Song, Date,
Number of Plays) into OUT.csv (Song,Date,Total Number of Plays for Date).
IN.csv may be `-` (standard input) or a pipe, and gzip or zstd compressed:
it is counted as it arrives.
On bad input nothing is written, the reason goes to stderr as
`line N: ...`, and the exit status is 1.

options:
  -o, --output FILE        where to write the result (required)
  --workers N              reader/aggregator actors (default: one per core)
  --range-size BYTES       bytes per range, at least 64 KiB; K/M/G suffixes
                           allowed (default 4 MiB)
  --on-bad-rows fail|skip  fail on the first bad record (default), or skip
                           bad records and report how many and where
  --memory-limit BYTES     memory for the job's totals, K/M/G allowed (default:
                           half of the cgroup's memory.max, else of physical
                           memory); beyond it, totals spill to disk and the
                           result is the same
  --temp-dir DIR           where totals spill, and where standard input or
                           a pipe is spooled (default: $TMPDIR, else /tmp)
  --max-input-size BYTES   most bytes spooled from standard input, a pipe
                           or a compressed file, once decoded (default: no
                           limit where the spool frees what is counted, else
                           the free space of the temp dir)
  --summary                after the result, print its totals, date span and
                           top 10 songs (to stderr when -o is -)
  --summary-json FILE      write the result's summary as JSON to FILE (`-`:
                           standard output), as the server's summary.json
  --quiet                  no progress bar on a terminal
  --verbose                say how long each phase took
  -h, --help               this text
  -V, --version            the version of playcount
)";

// The same file by device and inode, through any links; `-` is standard
// input as IN, standard output as OUT (`count - < f -o f` would read f whole
// into the spool and then replace it).
bool same_file(const std::string& input, const std::string& output) {
  struct stat in {};
  struct stat out {};
  if ((input == "-" ? ::fstat(STDIN_FILENO, &in)
                    : ::stat(input.c_str(), &in)) != 0)
    return false;
  const int got = output == "-" ? ::fstat(STDOUT_FILENO, &out)
                                : ::stat(output.c_str(), &out);
  return got == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino &&
         S_ISREG(in.st_mode);
}

// Free bytes for an unprivileged writer in the file system of `dir`; no
// limit when that cannot be told.
uint64_t free_space(const std::string& dir) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0)
    return UINT64_MAX;
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
}

// What a job counts: the input file itself when it can be mapped as it is,
// else a spool that copies it (standard input, a pipe) and decodes it (a
// gzip or zstd file).
struct counted_input {
  std::string path;  // what the job reads
  std::string shown; // what messages call it
  std::unique_ptr<spool> spooled;
};

// Whether the job can map `fd` (the file named `name`) as it is: a regular
// file, not standard input, not compressed.
bool mapped_as_is(int fd, const std::string& name) {
  struct stat st {};
  if (name == "-" || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    return false;
  char head[4];
  const ssize_t n = ::pread(fd, head, sizeof head, 0);
  return n < 0 ||
         detect_compression(std::string_view(head, static_cast<size_t>(n))) ==
             compression::none;
}

// Whether `name` will be spooled (and maybe decoded) rather than mapped.
// Only a regular file is opened to see: opening a FIFO would take the
// place of its reader.
bool spooled_input(const std::string& name) {
  struct stat st {};
  if (name == "-" || (::stat(name.c_str(), &st) == 0 && !S_ISREG(st.st_mode)))
    return true;
  const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false; // open_input says why
  const bool spooled = !mapped_as_is(fd, name);
  ::close(fd);
  return spooled;
}

// How far a spool may run ahead of what the workers have read: room for
// each worker's range and the next ones planned, and at least 64 MiB so
// that a burst from the producer is taken in whole.
uint64_t spool_ahead_for(uint64_t workers, uint64_t range_size) {
  return std::max<uint64_t>(uint64_t{64} << 20, 2 * (workers + 2) * range_size);
}

result<counted_input> open_input(const std::string& name,
                                 const std::string& spool_dir, uint64_t limit,
                                 uint64_t ahead, uint64_t kept_limit) {
  counted_input out;
  out.shown = name == "-" ? "standard input" : name;
  const int fd = name == "-" ? ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0)
                             : ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return failure::of_errno("cannot open", out.shown, errno);
  if (mapped_as_is(fd, name)) {
    ::close(fd);
    out.path = name;
    return out;
  }
  auto made = spool::start(fd, out.shown, spool_dir, limit, ahead, kept_limit);
  if (!made)
    return std::move(made).error();
  out.spooled = std::move(*made);
  out.path = out.spooled->path();
  return out;
}

unsigned terminal_columns(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
    return ws.ws_col;
  return 80;
}

// `name` made for one line of a terminal: control bytes as spaces, invalid
// UTF-8 as \xFF, cut to `width` characters (the cut marked with "...").
std::string terminal_name(std::string_view name, size_t width, size_t& shown) {
  std::string text = printable_utf8(name);
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = ' ';
  std::string out;
  shown = 0;
  size_t chars = 0;
  for (size_t i = 0; i < text.size();
       i +=
       std::max<size_t>(1, utf8_sequence(std::string_view(text).substr(i))))
    ++chars;
  const size_t keep = chars <= width ? chars : (width > 3 ? width - 3 : 0);
  for (size_t i = 0; i < text.size() && shown < keep;) {
    const size_t n =
        std::max<size_t>(1, utf8_sequence(std::string_view(text).substr(i)));
    out.append(text, i, n);
    i += n;
    ++shown;
  }
  if (keep < chars) {
    out += "...";
    shown += 3;
  }
  return out;
}

std::string with_commas(int64_t n) {
  std::string digits =
      std::to_string(n < 0 ? -(n + 1) + uint64_t{1} : uint64_t(n));
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

// --summary: the totals, the date span and the top 10 songs, aligned.
void print_summary(std::FILE* to, const result_summary& s, unsigned columns) {
  std::fprintf(to, "%s plays, %s song%s, %s song-date%s\n",
               with_commas(s.plays).c_str(),
               with_commas(static_cast<int64_t>(s.songs)).c_str(),
               s.songs == 1 ? "" : "s",
               with_commas(static_cast<int64_t>(s.groups)).c_str(),
               s.groups == 1 ? "" : "s");
  if (s.skipped_rows)
    std::fprintf(to, "%s bad records skipped\n",
                 with_commas(static_cast<int64_t>(*s.skipped_rows)).c_str());
  if (s.empty()) {
    std::fprintf(to, "no dates: the result is empty\n");
    return;
  }
  const long long days = static_cast<long long>(s.last) - s.first + 1;
  std::fprintf(to, "dates %s to %s (%lld day%s)\n",
               format_date(s.first).c_str(), format_date(s.last).c_str(), days,
               days == 1 ? "" : "s");
  const size_t top = std::min<size_t>(10, s.top_songs.size());
  std::fprintf(to, "top %zu song%s by plays:\n", top, top == 1 ? "" : "s");
  size_t plays_width = 0;
  for (size_t i = 0; i < top; ++i)
    plays_width =
        std::max(plays_width, with_commas(s.top_songs[i].plays).size());
  // "NN. " name, two spaces, plays right-aligned, two spaces, the span.
  const size_t fixed = 4 + 2 + plays_width + 2 + 22;
  const size_t room = columns > fixed + 10 ? columns - fixed : 10;
  size_t name_width = 0;
  for (size_t i = 0; i < top; ++i) {
    size_t shown = 0;
    (void)terminal_name(s.top_songs[i].song, room, shown);
    name_width = std::max(name_width, shown);
  }
  for (size_t i = 0; i < top; ++i) {
    const song_summary& t = s.top_songs[i];
    size_t shown = 0;
    const std::string name = terminal_name(t.song, room, shown);
    std::fprintf(to, "%2zu. %s%*s  %*s  %s..%s\n", i + 1, name.c_str(),
                 static_cast<int>(name_width - shown), "",
                 static_cast<int>(plays_width), with_commas(t.plays).c_str(),
                 format_date(t.first).c_str(), format_date(t.last).c_str());
  }
}

// After the result: --summary printed, --summary-json written.
int show_summary(const std::string& path, bool print,
                 const std::string& json_path, bool result_on_stdout) {
  auto read = read_summary(path);
  if (!read) {
    std::fprintf(stderr, "playcount count: %s\n", read.error().text().c_str());
    return 1;
  }
  if (!json_path.empty()) {
    const std::string text = summary_json(*read);
    if (auto written =
            write_output(json_path, false,
                         [&](const text_sink& sink) { return sink(text); });
        !written) {
      std::fprintf(stderr,
                   "playcount count: the summary could not be written: %s\n",
                   written.error().text().c_str());
      return 1;
    }
  }
  if (print) {
    std::FILE* to = result_on_stdout ? stderr : stdout;
    print_summary(to, *read,
                  isatty(fileno(to)) != 0 ? terminal_columns(fileno(to)) - 1
                                          : 100);
    std::fflush(to);
  }
  return 0;
}

// SIGINT, SIGTERM and SIGHUP are taken by a thread of their own (blocked
// in every other, which inherit the mask): it removes what the run made
// (the spool and spills in `dir`, a result not yet renamed into place),
// then lets the signal end the process as it would have (status 128+N).
class stop_signals {
public:
  stop_signals() {
    for (const int sig : {SIGINT, SIGTERM, SIGHUP})
      ::sigaddset(&set_, sig);
    ::pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;
  ~stop_signals() = default;

  /// Starts the thread, once `dir` (the run's own directory) is made.
  void watch(const std::string& dir) {
    std::thread([set = set_, dir] {
      int sig = 0;
      if (::sigwait(&set, &sig) != 0)
        return;
      remove_partial_results_for_good();
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
      std::signal(sig, SIG_DFL);
      sigset_t one{};
      ::sigaddset(&one, sig);
      ::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
      ::raise(sig);
    }).detach();
  }

private:
  sigset_t set_{};
};

} // namespace

int count_command(int argc, char** argv) {
  options opts(argc, argv, 2, {"quiet", "verbose", "summary"});
  if (opts.wants_help()) {
    std::fputs(count_help, stdout);
    return 0;
  }
  if (opts.wants_version())
    return print_version();
  opts.reject_unknown({"o", "output", "workers", "range-size", "on-bad-rows",
                       "quiet", "verbose", "memory-limit", "temp-dir",
                       test_range_size_option, "max-input-size", "summary",
                       "summary-json", test_song_index_option,
                       test_spool_ahead_option, test_free_space_option});
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const uint64_t workers = opts.get_number("workers", cores);
  std::string range_size_error;
  const uint64_t range_size =
      range_size_option(opts, default_range_size, range_size_error);
  const std::string policy_word = opts.get("on-bad-rows", "fail");
  const auto policy = parse_bad_row_policy(policy_word);
  const uint64_t memory_limit =
      opts.get_number("memory-limit", default_memory_limit(), true);
  const std::string temp_dir = opts.get("temp-dir", default_temp_dir());
  // Unbounded by default where the spool frees what is counted (a pipe
  // takes about its lead in the temp dir, whatever its size); else the
  // whole input stays there, and its free space bounds it (spool::start).
  const uint64_t max_input =
      opts.get_number("max-input-size", UINT64_MAX, true);
  const uint64_t kept_limit =
      opts.has("max-input-size")
          ? UINT64_MAX
          : opts.get_number(test_free_space_option, free_space(temp_dir), true);
  const std::string output = opts.get("output", opts.get("o", ""));
  const std::string summary_json_path = opts.get("summary-json", "");
  std::string usage_error = opts.error();
  if (usage_error.empty() && opts.has("summary-json") &&
      summary_json_path.empty())
    usage_error = "give the file of --summary-json (or - for standard output)";
  else if (usage_error.empty() && !summary_json_path.empty() &&
           summary_json_path == output)
    usage_error = "--summary-json and -o cannot be the same file";
  if (usage_error.empty() && opts.positional().size() != 1)
    usage_error = "give exactly one input file";
  else if (usage_error.empty() && output.empty())
    usage_error = "give the output file with -o OUT.csv";
  else if (usage_error.empty() && (workers < 1 || workers > 1024))
    usage_error = "--workers must be from 1 to 1024";
  else if (usage_error.empty() && memory_limit < min_memory_limit)
    usage_error =
        "--memory-limit must be at least " + format_bytes(min_memory_limit);
  else if (usage_error.empty() && !range_size_error.empty())
    usage_error = range_size_error;
  else if (usage_error.empty() && !policy)
    usage_error = "--on-bad-rows is fail or skip, not \"" + policy_word + "\"";
  if (!usage_error.empty()) {
    std::fprintf(stderr, "playcount count: %s\n(see playcount count --help)\n",
                 usage_error.c_str());
    return 2;
  }
  const std::string& input = opts.positional()[0];
  const char* closed =
      input == "-" && standard_descriptor_was_closed(STDIN_FILENO)
          ? "cannot read standard input: it was closed"
      : output == "-" && standard_descriptor_was_closed(STDOUT_FILENO)
          ? "cannot write the result to standard output: it was closed"
          : nullptr;
  if (closed != nullptr) {
    std::fprintf(stderr, "playcount count: %s\n", closed);
    return 1;
  }
  if (same_file(input, output)) {
    std::fprintf(stderr,
                 "playcount count: the output %s is the input file %s; "
                 "give another -o\n",
                 output.c_str(), input.c_str());
    return 2;
  }
  // The summary is written as the result is: it would replace the input.
  if (!summary_json_path.empty() && same_file(input, summary_json_path)) {
    std::fprintf(stderr,
                 "playcount count: the --summary-json file %s is the input "
                 "file %s; give another\n",
                 summary_json_path.c_str(), input.c_str());
    return 2;
  }
  // Said now rather than after a long count (the write says its own too).
  auto target = check_output(output);
  if (!target) {
    std::fprintf(stderr, "playcount count: %s\n",
                 target.error().text().c_str());
    return 1;
  }
  if (!summary_json_path.empty())
    if (auto json_target = check_output(summary_json_path); !json_target) {
      std::fprintf(stderr, "playcount count: %s\n",
                   json_target.error().text().c_str());
      return 1;
    }
  const bool summarize = opts.has("summary") || !summary_json_path.empty();
  // Before any thread starts: they all inherit the blocked signals.
  stop_signals stops;
  // A reader of -o - that goes away (`| head`) makes the write fail with
  // EPIPE: the run cleans up, then dies of SIGPIPE quietly, as GNU tools do
  // (the user stopped reading; that is no error to report). Declared
  // before what it cleans up, so that it goes last.
  // Started with SIGPIPE ignored, it says the write failed, as they do.
  struct sigpipe_at_the_end {
    bool raise = false;
    bool ignored = false; // by whoever started us
    ~sigpipe_at_the_end() {
      if (!raise)
        return;
      std::signal(SIGPIPE, SIG_DFL);
      ::raise(SIGPIPE);
    }
  } broken_pipe;
  broken_pipe.ignored = std::signal(SIGPIPE, SIG_IGN) == SIG_IGN;

  // A directory of our own for what spills, made now so that a temp dir
  // that is not there or not writable is said at once; removed after the
  // actor system (a worker may still be spilling when a job fails).
  struct spill_directory {
    std::string dir;
    ~spill_directory() { remove_spills(dir); }
  } spill;
  unsigned swept = 0;
  auto made = make_spill_dir(temp_dir, swept);
  if (!made) {
    std::fprintf(stderr, "playcount count: %s\n", made.error().text().c_str());
    return 1;
  }
  spill.dir = std::move(*made);
  stops.watch(spill.dir);
  if (swept > 0 && !opts.has("quiet"))
    std::fprintf(stderr, "removed the spills of %u stopped runs in %s\n", swept,
                 temp_dir.c_str());

  caf::actor_system_config cfg;
  configure_actor_system(cfg);
  if (spooled_input(input))
    cfg.add_thread_hook<nicer_threads>(5); // the decoder or pipe first
  caf::actor_system system{cfg};
  // After the actor system, so that it goes first: its copy stops, and so
  // does a planner that waits for it.
  auto opened =
      open_input(input, spill.dir, max_input,
                 opts.get_number(test_spool_ahead_option,
                                 spool_ahead_for(workers, range_size), true),
                 kept_limit);
  if (!opened) {
    std::fprintf(stderr, "playcount count: %s\n",
                 opened.error().text().c_str());
    return 1;
  }
  const counted_input& in = *opened;
  auto coordinator = spawn_coordinator(system);
  for (uint64_t i = 0; i < workers; ++i)
    spawn_worker(system, coordinator, std::string{local_node_id});

  job_request request;
  request.id = "cli";
  request.input_path = in.path;
  request.growing = in.spooled ? in.spooled->file() : nullptr;
  request.output_path = output;
  request.range_size = range_size;
  request.on_bad_rows = *policy;
  request.memory_limit = memory_limit;
  request.spill_dir = spill.dir;
  // The summary is written beside the spills, then shown or copied; gone
  // before the spill directory is removed.
  struct summary_file {
    std::string path;
    ~summary_file() {
      if (!path.empty())
        ::unlink(path.c_str());
    }
  } summary;
  if (summarize) {
    summary.path = spill.dir + "/summary.json";
    request.summary_path = summary.path;
  }
  // Hidden: songs.idx as a server job writes it (to measure its cost).
  request.index_path = opts.get(test_song_index_option, "");

  const bool progress = !opts.has("quiet") && isatty(STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  // The bar shows the phase under way with its own done/total; its rate
  // counts from when that phase began.
  std::string shown_phase;
  auto phase_start = start;
  caf::scoped_actor self{system};
  self->send(coordinator, request);
  job_result result;
  bool done = false;
  while (!done) {
    self->receive(
        [&](job_result& r) {
          result = std::move(r);
          done = true;
        },
        [&](caf::error& e) {
          result.error = to_string(e);
          done = true;
        },
        caf::after(std::chrono::milliseconds(250)) >>
            [&] {
              if (!progress)
                return;
              self->request(coordinator, caf::infinite, status_atom::value,
                            request.id)
                  .receive(
                      [&](const job_status& s) {
                        if (!s.known)
                          return;
                        const auto now = std::chrono::steady_clock::now();
                        if (s.phase != shown_phase) {
                          shown_phase = s.phase;
                          phase_start = now;
                        }
                        const phase_view v = view_of(s.phase, s.progress);
                        if (v.total == 0)
                          return;
                        const double secs =
                            std::chrono::duration<double>(now - phase_start)
                                .count();
                        // The last column stays free: writing it wraps some
                        // terminals.
                        const std::string line = progress_line(
                            s.phase, v.done, v.total, secs,
                            terminal_columns(STDERR_FILENO) - 1, v.unit);
                        std::fprintf(stderr, "\r%s\033[K", line.c_str());
                      },
                      [](caf::error&) {});
            });
  }
  if (progress) {
    std::fputs("\r\033[K", stderr);
    struct stat st {};
    if (result.ok && ::stat(request.input_path.c_str(), &st) == 0)
      std::fprintf(stderr, "%s\n",
                   summary_line(static_cast<uint64_t>(st.st_size),
                                std::chrono::duration<double>(
                                    std::chrono::steady_clock::now() - start)
                                    .count(),
                                result.rows, result.groups)
                       .c_str());
  }
  self->send_exit(coordinator, caf::exit_reason::user_shutdown);

  if (result.bad_rows > 0) {
    std::fprintf(stderr, "skipped %llu bad record%s:\n",
                 static_cast<unsigned long long>(result.bad_rows),
                 result.bad_rows == 1 ? "" : "s");
    for (const auto& line : result.first_bad)
      std::fprintf(stderr, "  %s\n", line.c_str());
    if (result.bad_rows > result.first_bad.size())
      std::fprintf(stderr, "  ...\n");
  }
  if (opts.has("verbose"))
    std::fprintf(
        stderr,
        "scan %.3f s, read %.3f s, merge %.3f s, write %.3f s; "
        "%llu rows, %llu groups%s\n",
        result.scan_seconds, result.read_seconds, result.merge_seconds,
        result.write_seconds, static_cast<unsigned long long>(result.rows),
        static_cast<unsigned long long>(result.groups),
        result.spilled_bytes == 0
            ? ""
            : (", " + format_bytes(result.spilled_bytes) + " spilled to disk")
                  .c_str());
  if (!result.ok) {
    if (!broken_pipe.ignored && result.output_errno == EPIPE &&
        target->kind != output_kind::replace) {
      broken_pipe.raise = true; // once the rest is cleaned up
      return 1;
    }
    // The output's errors name the output; the input's, the input.
    if (result.error.rfind(result_write_failed, 0) == 0)
      std::fprintf(stderr, "playcount count: %s\n", result.error.c_str());
    else
      std::fprintf(stderr, "playcount count: %s: %s\n", in.shown.c_str(),
                   result.error.c_str());
    return 1;
  }
  if (summarize)
    return show_summary(summary.path, opts.has("summary"), summary_json_path,
                        target->kind == output_kind::standard_output);
  return 0;
}

} // namespace playcount
