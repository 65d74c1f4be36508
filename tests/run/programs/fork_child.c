// racelab-run: --strategy dfs:2 --runs 5000 --races ignore
// expect-exit: 0
// expect-output: every schedule within the bound explored
// The program forks while a thread runs: the child is not part of the run, it runs on its own, and the parent's schedule goes on.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>
pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER; int n;
void* w(void* a){ (void)a; for (int i=0;i<3;i++){ pthread_mutex_lock(&m); n++; pthread_mutex_unlock(&m);} return 0; }
int main(void){
  pthread_t t; pthread_create(&t,0,w,0);
  pid_t p = fork();
  if (p == 0) { for (int i=0;i<3;i++){ pthread_mutex_lock(&m); n += 10; pthread_mutex_unlock(&m);} fprintf(stderr, "child n=%d\n", n); _exit(0); }
  pthread_join(t,0);
  int st; waitpid(p, &st, 0);
  fprintf(stderr, "parent n=%d child status=%d\n", n, WEXITSTATUS(st)); return 0;
}
