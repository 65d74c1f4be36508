// Example 3: the stress harness. Four threads released at once increment a counter with a
// read-then-write; a barrier at the window makes every iteration lose updates, and the report says so.
#include <racelab/racelab.hpp>

#include <atomic>
#include <iostream>

int main() {
  std::atomic<int> counter{0};
  racelab::Hooks hooks;
  hooks.barrier("example.after_read", 4);
  auto report = racelab::stress(
      racelab::StressOptions{.threads = 4, .iterations = 20}, [&] { counter = 0; },
      [&](int) {
        int seen = counter.load();
        RACELAB_POINT("example.after_read");
        counter.store(seen + 1);
      },
      [&] { return counter == 4; });
  std::cout << report << '\n';
  return report.violations() == report.iterations() ? 0 : 1;
}
