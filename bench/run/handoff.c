// What one scheduling point costs under `racelab run`: two threads each lock and unlock one mutex
// K times (argv[1]), so a run has 4K threading calls, each a round trip through the driver.
// bench/run_benchmark.sh runs it with K = 0 and a large K, one run each, and divides the
// difference in wall time by the difference in points. K = 0 is also the run's fixed cost.
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

enum { kPairsMax = 10 * 1000 * 1000 };

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static long g_counter;  // guarded by g_lock
static long g_pairs;

static void *work(void *arg) {
  (void)arg;
  for (long i = 0; i < g_pairs; i++) {
    pthread_mutex_lock(&g_lock);
    g_counter++;
    pthread_mutex_unlock(&g_lock);
  }
  return NULL;
}

int main(int argc, char **argv) {
  g_pairs = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
  if (g_pairs < 0 || g_pairs > kPairsMax) {
    fprintf(stderr, "usage: handoff [K in 0..%d]\n", kPairsMax);
    return 2;
  }
  pthread_t a, b;
  pthread_create(&a, NULL, work, NULL);
  pthread_create(&b, NULL, work, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  assert(g_counter == 2 * g_pairs && "every increment under the lock counted");
  return 0;
}
