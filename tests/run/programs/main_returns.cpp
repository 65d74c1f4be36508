// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 1
// expect-output: checker saw the half-done stage 1
// main detaches a checker thread, moves `stage` 0 -> 1 -> 2 and returns without joining: if main is
// preempted between its two stores, the checker's load sees 1 and its assert fails before main returns.
// Natively the checker almost never runs inside that window (or before main exits at all).
#include <atomic>
#include <cassert>
#include <thread>

namespace {

std::atomic<int> stage{0};

void check() {
  int seen = stage.load();
  assert(seen != 1 && "checker saw the half-done stage 1");
}

}  // namespace

int main() {
  std::thread checker(check);
  checker.detach();  // fire and forget: nobody waits for the checker
  stage.store(1);    // BUG: an intermediate state other threads must never see
  stage.store(2);
  return 0;
}
