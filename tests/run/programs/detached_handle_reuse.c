// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 0
// expect-output: every schedule within the bound explored
// A thread created detached ends and glibc hands its pthread_t to the next thread: joining the new one must wait for it, not for the old one.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <assert.h>
int slow_done;
void* quick(void* a){ (void)a; return 0; }
void* slow(void* a){ (void)a; for (int i=0;i<5;i++) sched_yield(); __atomic_store_n(&slow_done,1,__ATOMIC_SEQ_CST); return 0; }
int main(void){
  pthread_attr_t at; pthread_attr_init(&at); pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  pthread_t d; pthread_create(&d, &at, quick, 0);
  for (int i=0;i<20;i++) sched_yield();      /* let the detached one finish */
  struct timespec ts = {0, 1000000}; nanosleep(&ts, 0);
  pthread_t t; pthread_create(&t, 0, slow, 0);
  printf("same handle: %d\n", pthread_equal(d, t));
  int rc = pthread_join(t, 0);
  printf("join rc=%d slow_done=%d\n", rc, slow_done);
  assert(rc == 0 && slow_done == 1);
  return 0;
}
