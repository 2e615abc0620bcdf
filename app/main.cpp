// playcount: totals of song plays per song and date, from the command line
// (`count`) or as a service (`serve`, `worker`).

#include "app/commands.hpp"
#include "app/options.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace {

constexpr const char* main_help = R"(usage: playcount COMMAND [options]

commands:
  count IN.csv -o OUT.csv   total the plays per song and date of a CSV file
  serve                     the HTTP API (POST /jobs/count/ and friends)
  worker --join HOST:PORT   a worker node for a server on another machine
  version                   print the version (also --version, -V, and
                            COMMAND --version)

Run `playcount COMMAND --help` for the options of a command.
)";

} // namespace

int playcount::print_version() {
  std::printf("playcount %s\n", PLAYCOUNT_VERSION);
  return 0;
}

namespace {

bool closed_at_start[3] = {false, false, false};

// A descriptor 0, 1 or 2 closed by whoever started this process would be
// the next file it opens (a pipe of CAF's, a spool, a log): `count -` would
// read it and `-o -` write into it. Each closed one is /dev/null instead.
void keep_standard_descriptors() {
  for (int fd = 0; fd < 3; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF)
      continue;
    closed_at_start[fd] = true;
    // The lowest free descriptor: this one, as those below it are open.
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0 && null != fd)
      ::close(null); // cannot happen; never leave it elsewhere
  }
}

} // namespace

bool playcount::standard_descriptor_was_closed(int fd) {
  return fd >= 0 && fd < 3 && closed_at_start[fd];
}

int main(int argc, char** argv) {
  keep_standard_descriptors();
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 ||
      std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fputs(main_help, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0 ||
      std::strcmp(argv[1], "-V") == 0 || std::strcmp(argv[1], "version") == 0)
    return playcount::print_version();
  if (std::strcmp(argv[1], "count") == 0)
    return playcount::count_command(argc, argv);
  if (std::strcmp(argv[1], "serve") == 0)
    return playcount::serve_command(argc, argv);
  if (std::strcmp(argv[1], "worker") == 0)
    return playcount::worker_command(argc, argv);
  const auto near = playcount::nearest_name(
      argv[1], {"count", "serve", "worker", "version", "help"});
  std::fprintf(stderr, "playcount: unknown command \"%s\"%s\n%s", argv[1],
               near ? ("; did you mean " + *near + "?").c_str() : "",
               main_help);
  return 2;
}
