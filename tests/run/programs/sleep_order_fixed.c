// racelab-run: --sleeps yield --strategy dfs:2 --runs 5000
// expect-exit: 0
// expect-output: every schedule within the bound explored
// sleep_order.c fixed: a mutex orders the two increments, whoever runs first.
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static int counter;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *quick(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  counter += 1;
  pthread_mutex_unlock(&lock);
  return NULL;
}

static void *sleepy(void *arg) {
  (void)arg;
  struct timespec pause = {0, 100 * 1000};
  nanosleep(&pause, NULL);
  pthread_mutex_lock(&lock);
  counter += 1;
  pthread_mutex_unlock(&lock);
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
