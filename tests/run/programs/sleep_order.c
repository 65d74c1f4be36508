// racelab-run: --sleeps yield --strategy dfs:2 --runs 5000
// expect-exit: 1
// expect-output: lost update
// expect-output: --sleeps yield --schedule
// One thread sleeps before its `counter += 1`, as if that ordered it after the other thread's: on
// a loaded machine it does not. With --sleeps yield a sleep is only a scheduling point, and the
// search interleaves the two increments (with the default, --sleeps wait, the sleeper always
// waits until the other thread is done, and racelab says so in a note).
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static int counter;

static void *quick(void *arg) {
  (void)arg;
  counter += 1;
  return NULL;
}

static void *sleepy(void *arg) {
  (void)arg;
  struct timespec pause = {0, 100 * 1000};
  nanosleep(&pause, NULL);  // BUG: a sleep orders nothing
  counter += 1;
  return NULL;
}

int main(void) {
  pthread_t a, b;
  pthread_create(&a, NULL, quick, NULL);
  pthread_create(&b, NULL, sleepy, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("counter = %d\n", counter);
  assert(counter == 2 && "lost update");
  return 0;
}
