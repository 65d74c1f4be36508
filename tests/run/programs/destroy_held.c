// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 1
// expect-output: destroy
// main detaches a logger thread and destroys log_lock at shutdown without waiting for it: if the logger has
// locked log_lock and is preempted before unlocking, main's pthread_mutex_destroy destroys a held mutex.
// (Natively the logger has almost never started by then, and glibc's destroy of a held mutex just fails with EBUSY.)
#define _POSIX_C_SOURCE 200809L
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
  pthread_detach(t);               // BUG: nobody waits for the logger ...
  pthread_mutex_destroy(&log_lock);  // ... before its mutex is destroyed
  puts("shut down");
  return 0;
}
