// What an instrumented plain access costs: one thread, N (argv[1]) iterations of a read and a
// write of a volatile global (2N accesses, each a __tsan_read8/__tsan_write8 call when built with
// `racelab cc`). bench/run_benchmark.sh runs it with N = 0 and a large N, natively, under
// `racelab run` without and with the race detector, and built plainly with `cc -O1` as the
// reference, and divides the difference in wall time by 2N.
#include <stdio.h>
#include <stdlib.h>

enum { kIterationsMax = 1000 * 1000 * 1000 };

static volatile long g_cell;

int main(int argc, char **argv) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
  if (n < 0 || n > kIterationsMax) {
    fprintf(stderr, "usage: accesses [N in 0..%d]\n", kIterationsMax);
    return 2;
  }
  for (long i = 0; i < n; i++) g_cell = g_cell + 1;
  return g_cell == n ? 0 : 1;
}
