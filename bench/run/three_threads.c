// Schedules per second of a small search: three threads each take one mutex kPairs times and
// update two guarded globals, about 50 scheduling points per run in all. The program is
// correct, so every run of the budget is explored and none fails.
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <pthread.h>

enum { kThreads = 3, kPairs = 7 };

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_total;      // guarded by g_lock
static int g_last = -1;  // guarded by g_lock: the thread that held it last

static void *work(void *arg) {
  int self = (int)(long)arg;
  for (int i = 0; i < kPairs; i++) {
    pthread_mutex_lock(&g_lock);
    g_total++;
    g_last = self;
    pthread_mutex_unlock(&g_lock);
  }
  return NULL;
}

int main(void) {
  pthread_t threads[kThreads];
  for (long t = 0; t < kThreads; t++) pthread_create(&threads[t], NULL, work, (void *)t);
  for (int t = 0; t < kThreads; t++) pthread_join(threads[t], NULL);
  assert(g_total == kThreads * kPairs && g_last >= 0);
  return 0;
}
