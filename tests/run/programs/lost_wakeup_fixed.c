// racelab-run: --strategy dfs:2 --runs 20000 --races fail
// expect-exit: 0
// expect-output: every schedule within the bound explored
// The signaller sets a `ready` flag under the mutex before signalling and the waiter waits in a
// `while (!ready)` loop, so a signal sent before the wait (or a spurious wakeup) is harmless.
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int ready;
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
  while (!ready) pthread_cond_wait(&c, &m);
  unsigned r = result;
  pthread_mutex_unlock(&m);
  printf("waiter woke up, result %u\n", r);
  assert(r == compute());
  return NULL;
}

static void *signaller(void *arg) {
  (void)arg;
  unsigned r = compute();
  pthread_mutex_lock(&m);
  result = r;
  ready = 1;
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
