/* What a page first touched costs on this machine, against one reused and
 * one already mapped: a probe for virtual machines whose host takes back
 * the guest's free memory (free page reporting, virtio_balloon), where the
 * first touch of a page freed a while ago costs the host's fault too.
 * Page cache pages are allocated the same way, so a spool or an upload that
 * takes fresh pages pays it (docs/performance.md, issue 13).
 *
 * usage: cc -O2 -o fresh_pages bench/fresh_pages.c && ./fresh_pages [MiB]
 * Prints, three times: the seconds to touch MiB of new anonymous memory
 * (the first time after a pause: fresh pages; then pages freed a moment
 * ago), and to write it again (mapped pages). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
  const size_t size = mib << 20;
  for (int round = 0; round < 3; ++round) {
    const double t0 = now();
    char* p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      perror("mmap");
      return 1;
    }
    memset(p, 1, size);
    const double t1 = now();
    memset(p, 2, size);
    const double t2 = now();
    printf("%zu MiB: first touch %.3f s, written again %.3f s\n", mib, t1 - t0,
           t2 - t1);
    munmap(p, size);
  }
  return 0;
}
