// racelab-run: --stuck 0.3 --runs 3 --races ignore
// expect-exit: 0
// expect-output: not fully controlled
// A thread blocks in read() on a pipe, a call racelab does not control, until main writes to it.
// racelab treats the reader as blocked after --stuck seconds and lets main run, so the program
// ends as it does on its own; the outcome says the run was not fully controlled.
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static int fds[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *reader(void *arg) {
  (void)arg;
  char c = 0;
  ssize_t n = read(fds[0], &c, 1);  // blocks outside racelab until main writes
  assert(n == 1 && c == 'x');
  return NULL;
}

int main(void) {
  assert(pipe(fds) == 0);
  pthread_t t;
  pthread_create(&t, NULL, reader, NULL);
  pthread_mutex_lock(&lock);
  pthread_mutex_unlock(&lock);
  assert(write(fds[1], "x", 1) == 1);
  pthread_join(t, NULL);
  printf("reader done\n");
  return 0;
}
