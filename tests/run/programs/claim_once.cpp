// racelab-run: --strategy dfs:2 --runs 5000 --fail-on-exit
// expect-exit: 1
// expect-output: exits with status 3
// Each worker runs the job if `claimed` is still false, but checks and sets it in two atomic operations:
// A loads false and is preempted, B loads false too, both run the job, and main exits with status 3.
#include <atomic>
#include <cstdio>
#include <thread>

namespace {

std::atomic<bool> claimed{false};
std::atomic<int> runs{0};

void worker() {
  if (!claimed.load()) {  // BUG: the check and the claim are two steps
    claimed.store(true);
    runs.fetch_add(1);
  }
}

}  // namespace

int main() {
  std::thread a(worker);
  std::thread b(worker);
  a.join();
  b.join();
  int n = runs.load();
  std::printf("the job ran %d time(s)\n", n);
  return n == 1 ? 0 : 3;
}
