// racelab-run: --strategy dfs:2 --runs 5000 --fail-on-exit
// expect-exit: 0
// expect-output: every schedule within the bound explored
// std::call_once whose function throws the first time: the next caller runs it again (no false deadlock);
// main exits 1 otherwise.
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <thread>
std::once_flag f;
int tries;
void init() {
  std::call_once(f, [] {
    if (++tries == 1) throw std::runtime_error("first try fails");
  });
}
int main() {
  try {
    init();
  } catch (const std::exception& e) {
    std::printf("caught: %s\n", e.what());
  }
  std::thread t(init);
  t.join();
  std::printf("tries=%d\n", tries);
  return tries == 2 ? 0 : 1;
}
