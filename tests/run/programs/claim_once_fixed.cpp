// racelab-run: --strategy dfs:2 --runs 20000 --fail-on-exit
// expect-exit: 0
// expect-output: every schedule within the bound explored
// The claim is one atomic exchange(true), so exactly one worker sees false and runs the job, and main
// always exits 0 (which --fail-on-exit checks).
#include <atomic>
#include <cstdio>
#include <thread>

namespace {

std::atomic<bool> claimed{false};
std::atomic<int> runs{0};

void worker() {
  if (!claimed.exchange(true)) runs.fetch_add(1);
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
