// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 0
// expect-output: every schedule within the bound explored
// pthread_exit with a std::lock_guard in scope: the guard unlocks during the unwinding (no false deadlock).
#include <pthread.h>
#include <cstdio>
#include <mutex>
#include <thread>
std::mutex m;
int n;
void* w(void*) {
  std::lock_guard<std::mutex> g(m);
  ++n;
  pthread_exit(nullptr);
}
int main() {
  pthread_t a, b;
  pthread_create(&a, 0, w, 0);
  pthread_create(&b, 0, w, 0);
  pthread_join(a, 0);
  pthread_join(b, 0);
  {
    std::lock_guard<std::mutex> g(m);
    std::printf("n=%d\n", n);
  }
}
