// racelab-run: --strategy dfs:2 --runs 20000 --races fail
// expect-exit: 0
// expect-output: every schedule within the bound explored
// The shelf mutex is PTHREAD_MUTEX_RECURSIVE, so the buyer may call restock() while holding it: the
// shelf ends with 9 items (the delivery came first) or 14 (the buyer restocked 5, then the delivery came).
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t shelf;
static int stock;  // empty until main's delivery arrives

static void restock(int items) {
  pthread_mutex_lock(&shelf);
  stock += items;
  pthread_mutex_unlock(&shelf);
}

// The buyer's work before it shops: a few milliseconds of register arithmetic, no shared memory.
static unsigned prepare_order(void) {
  unsigned x = 7;
  for (unsigned i = 0; i < (1u << 22); i++) x = x * 1664525u + 1013904223u;
  return x;
}

static void *buyer(void *arg) {
  unsigned *order = arg;
  *order = prepare_order();
  pthread_mutex_lock(&shelf);
  if (stock == 0) restock(5);  // fine: shelf is recursive
  stock--;
  pthread_mutex_unlock(&shelf);
  return NULL;
}

int main(void) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&shelf, &attr);
  pthread_mutexattr_destroy(&attr);

  unsigned order = 0;
  pthread_t t;
  pthread_create(&t, NULL, buyer, &order);
  restock(10);  // the delivery
  pthread_join(t, NULL);
  printf("stock = %d, order %u\n", stock, order);
  assert(stock == 9 || stock == 14);
  pthread_mutex_destroy(&shelf);
  return 0;
}
