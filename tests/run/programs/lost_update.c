// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 1
// expect-output: data race
// expect-output: lost update on counter
// Two threads do `counter++` on a plain int with no lock: A reads 0 and is preempted, B reads 0 and
// writes 2, then A writes its stale 2 over it, so main's assert sees 2 instead of 4.
// racelab first reports the race on counter, then schedules at those racy accesses to find the lost update.
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <pthread.h>
#include <stdio.h>

enum { kIncrements = 2 };

static int counter;

static void *add(void *arg) {
  (void)arg;
  for (int i = 0; i < kIncrements; i++) counter++;  // BUG: a plain read-modify-write, no lock
  return NULL;
}

int main(void) {
  pthread_t a, b;
  pthread_create(&a, NULL, add, NULL);
  pthread_create(&b, NULL, add, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("counter = %d\n", counter);
  assert(counter == 2 * kIncrements && "lost update on counter");
  return 0;
}
