// racelab-run: --strategy dfs:2 --runs 20000 --races fail
// expect-exit: 0
// expect-output: every schedule within the bound explored
// Each thread unlocks only the mutex it locked itself, and the worker tells main that its half is
// written with a semaphore (sem_post / sem_wait), which any thread may post.
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static sem_t half_done;
static int table[4];

static void *finish_update(void *arg) {
  (void)arg;
  pthread_mutex_lock(&table_lock);
  table[2] = 3;
  table[3] = 4;
  pthread_mutex_unlock(&table_lock);
  sem_post(&half_done);
  return NULL;
}

int main(void) {
  sem_init(&half_done, 0, 0);
  pthread_mutex_lock(&table_lock);
  table[0] = 1;
  table[1] = 2;
  pthread_mutex_unlock(&table_lock);
  pthread_t worker;
  pthread_create(&worker, NULL, finish_update, NULL);
  sem_wait(&half_done);
  pthread_mutex_lock(&table_lock);
  int sum = table[0] + table[1] + table[2] + table[3];
  pthread_mutex_unlock(&table_lock);
  pthread_join(worker, NULL);
  sem_destroy(&half_done);
  printf("sum = %d\n", sum);
  assert(sum == 10);
  return 0;
}
