// racelab-run: --strategy dfs:2 --runs 20000 --races fail
// expect-exit: 0
// expect-output: every schedule within the bound explored
// main still detaches the checker and returns without joining, but it works out the next stage in a local
// and publishes only the final value 2, so whenever the checker runs (or if it never does) it sees 0 or 2.
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
  int next = 1;      // the intermediate state stays private to main
  next = next + 1;
  stage.store(next);
  return 0;
}
