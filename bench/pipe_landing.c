/* What it costs to take a pipe's bytes and put them where a count could read
 * them, for each place a spool could use (docs/performance.md, "Whether the
 * pipe's two targets can hold at once"). Reads standard input in blocks of
 * 1 MiB, as core/spool.cpp does (including its 0.5 ms pause when a read
 * found the pipe under a quarter full), lands each block, and prints the
 * processor time (user + system) this process spent.
 *
 * usage: cc -O2 -o pipe_landing bench/pipe_landing.c
 *        zstd -dc plays.csv.zst | ./pipe_landing PLACE [DIR]
 * PLACE:
 *   none        read only (the floor: what reading the pipe costs)
 *   file        written to a new file in DIR (default /tmp), a hole punched
 *               behind a 64 MiB lead in 4 MiB steps: what the spool does
 *   file-ring   written to a 64 MiB file in DIR at offset mod 64 MiB: its
 *               pages stay in the page cache and are written over
 *   memfd-ring  the same in a memfd (shared memory)
 *   memfd-map   copied into a 64 MiB memfd mapped in this process (as a
 *               ring mapped twice in a row would be), touched first
 *   anon-ring   copied into 64 MiB of this process's memory, touched first
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum { block = 1 << 20 };
static const size_t ring = (size_t)64 << 20;

static double cpu_seconds(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void die(const char* what) {
  perror(what);
  exit(2);
}

/* Writes n bytes at stream offset `at` into a ring of `ring` bytes of fd. */
static void write_ring(int fd, const char* p, size_t n, size_t at) {
  const size_t pos = at % ring, first = n < ring - pos ? n : ring - pos;
  if (pwrite(fd, p, first, (off_t)pos) != (ssize_t)first ||
      (n > first &&
       pwrite(fd, p + first, n - first, 0) != (ssize_t)(n - first)))
    die("pwrite");
}

int main(int argc, char** argv) {
  const char* place = argc > 1 ? argv[1] : "";
  const char* dir = argc > 2 ? argv[2] : "/tmp";
  const int none = !strcmp(place, "none"), file = !strcmp(place, "file"),
            file_ring = !strcmp(place, "file-ring"),
            memfd_ring = !strcmp(place, "memfd-ring"),
            memfd_map = !strcmp(place, "memfd-map"),
            anon_ring = !strcmp(place, "anon-ring");
  if (!(none || file || file_ring || memfd_ring || memfd_map || anon_ring)) {
    fprintf(
        stderr,
        "usage: %s none|file|file-ring|memfd-ring|memfd-map|anon-ring [DIR]\n",
        argv[0]);
    return 2;
  }
  (void)fcntl(0, F_SETPIPE_SZ, block);
  char* buf = malloc(block);
  if (buf == NULL)
    die("malloc");
  memset(buf, 0, block);
  int fd = -1;
  char* mem = NULL;
  if (file || file_ring) {
    fd = open(dir, O_TMPFILE | O_RDWR, 0600);
    if (fd < 0)
      die(dir);
  } else if (memfd_ring || memfd_map) {
    fd = memfd_create("pipe_landing", 0);
    if (fd < 0)
      die("memfd_create");
  }
  if ((file_ring || memfd_ring || memfd_map) && ftruncate(fd, (off_t)ring) != 0)
    die("ftruncate");
  if (anon_ring || memfd_map) {
    mem = mmap(NULL, ring, PROT_READ | PROT_WRITE,
               anon_ring ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED)
      die("mmap");
    memset(mem, 0, ring);
  }
  const double start = cpu_seconds();
  size_t total = 0, freed = 0;
  for (;;) {
    const ssize_t n = read(0, buf, block);
    if (n < 0)
      die("read");
    if (n == 0)
      break;
    if (file) {
      if (pwrite(fd, buf, (size_t)n, (off_t)total) != n)
        die("pwrite");
      while (total + (size_t)n > freed + ring + ((size_t)4 << 20)) {
        if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)freed, (off_t)4 << 20) != 0)
          die("fallocate");
        freed += (size_t)4 << 20;
      }
    } else if (file_ring || memfd_ring) {
      write_ring(fd, buf, (size_t)n, total);
    } else if (anon_ring || memfd_map) {
      const size_t pos = total % ring,
                   first = (size_t)n < ring - pos ? (size_t)n : ring - pos;
      memcpy(mem + pos, buf, first);
      memcpy(mem, buf + first, (size_t)n - first);
    }
    total += (size_t)n;
    if (n < block / 4) {
      const struct timespec pause = {0, 500000};
      nanosleep(&pause, NULL);
    }
  }
  printf("%-10s %zu bytes, %.3f s of processor time\n", place, total,
         cpu_seconds() - start);
  return 0;
}
