// racelab-run: --strategy dfs:2 --runs 20000 --races fail
// expect-exit: 0
// expect-output: every schedule within the bound explored
// main joins the logger before destroying log_lock, so the mutex is free (and nobody will lock it again)
// when it is destroyed.
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t log_lock;
static int lines;

static void *logger(void *arg) {
  (void)arg;
  pthread_mutex_lock(&log_lock);
  lines++;
  pthread_mutex_unlock(&log_lock);
  return NULL;
}

int main(void) {
  pthread_mutex_init(&log_lock, NULL);
  pthread_t t;
  pthread_create(&t, NULL, logger, NULL);
  pthread_join(t, NULL);
  int rc = pthread_mutex_destroy(&log_lock);
  assert(rc == 0);
  printf("shut down after %d line(s)\n", lines);
  return 0;
}
