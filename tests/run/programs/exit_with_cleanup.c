// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 0
// expect-output: every schedule within the bound explored
// A thread leaves with pthread_exit while a cleanup handler still holds its mutex: the handler unlocks during the unwinding, so the other thread gets the mutex (no false deadlock).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER; int n;
static void unlock(void* p){ pthread_mutex_unlock(p); }
void* w(void* a){ (void)a; pthread_mutex_lock(&m); pthread_cleanup_push(unlock, &m); ++n; pthread_exit(0); pthread_cleanup_pop(1); return 0; }
int main(void){ pthread_t a,b; pthread_create(&a,0,w,0); pthread_create(&b,0,w,0); pthread_join(a,0); pthread_join(b,0); printf("n=%d\n", n); return 0; }
