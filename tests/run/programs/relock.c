// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 1
// expect-output: already holds
// The buyer holds the shelf mutex and, when the shelf is empty, calls restock(), which locks the same
// non-recursive mutex again: that happens when the buyer locks the shelf after main's pthread_create but
// before main's own restock(10). Natively the buyer's few milliseconds of arithmetic first let the delivery land.
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t shelf = PTHREAD_MUTEX_INITIALIZER;
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
  if (stock == 0) restock(5);  // BUG: restock() locks shelf, which this thread already holds
  stock--;
  pthread_mutex_unlock(&shelf);
  return NULL;
}

int main(void) {
  unsigned order = 0;
  pthread_t t;
  pthread_create(&t, NULL, buyer, &order);
  restock(10);  // the delivery
  pthread_join(t, NULL);
  printf("stock = %d, order %u\n", stock, order);
  assert(stock == 9 || stock == 14);
  return 0;
}
