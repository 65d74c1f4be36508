// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 1
// expect-output: unlocks
// main locks table_lock and "hands it over" to a worker that finishes the update and unlocks it, but a
// pthread mutex belongs to the thread that locked it: the worker's unlock is undefined in every interleaving.
// glibc's default mutex does not check the owner, so natively this runs and prints sum 10.
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static int table[4];

static void *finish_update(void *arg) {
  (void)arg;
  // main locked table_lock and passed the half-done update to this thread.
  table[2] = 3;
  table[3] = 4;
  pthread_mutex_unlock(&table_lock);  // BUG: this thread never locked table_lock
  return NULL;
}

int main(void) {
  pthread_mutex_lock(&table_lock);
  table[0] = 1;
  table[1] = 2;
  pthread_t worker;
  pthread_create(&worker, NULL, finish_update, NULL);
  pthread_join(worker, NULL);
  pthread_mutex_lock(&table_lock);  // free again: the worker unlocked it
  int sum = table[0] + table[1] + table[2] + table[3];
  pthread_mutex_unlock(&table_lock);
  printf("sum = %d\n", sum);
  assert(sum == 10);
  return 0;
}
