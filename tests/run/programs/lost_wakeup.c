// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 1
// expect-output: deadlock
// The waiter calls pthread_cond_wait with no predicate, so when the signaller locks, signals and unlocks
// before the waiter has locked the mutex, the signal wakes nobody and the waiter (and main, joining it) block forever.
// Natively the signaller's few milliseconds of arithmetic first almost always let the waiter wait in time.
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static unsigned result;

// The signaller's work: a few milliseconds of register arithmetic, no shared memory, no calls.
static unsigned compute(void) {
  unsigned x = 1;
  for (unsigned i = 0; i < (1u << 22); i++) x = x * 1664525u + 1013904223u;
  return x;
}

static void *waiter(void *arg) {
  (void)arg;
  pthread_mutex_lock(&m);
  pthread_cond_wait(&c, &m);  // BUG: no predicate; a signal sent before this wait is lost
  unsigned r = result;
  pthread_mutex_unlock(&m);
  printf("waiter woke up, result %u\n", r);
  return NULL;
}

static void *signaller(void *arg) {
  (void)arg;
  unsigned r = compute();
  pthread_mutex_lock(&m);
  result = r;
  pthread_cond_signal(&c);
  pthread_mutex_unlock(&m);
  return NULL;
}

int main(void) {
  pthread_t w, s;
  pthread_create(&w, NULL, waiter, NULL);
  pthread_create(&s, NULL, signaller, NULL);
  pthread_join(w, NULL);
  pthread_join(s, NULL);
  return 0;
}
