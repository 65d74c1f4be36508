// A consumer of the installed package that runs the deterministic simulation, so its link needs
// Boost.Context (the fibers): proves the CMake config and racelab.pc carry it. Two tasks increment
// a counter under a racelab::mutex; every seed must end with 2. Exits 0 when they all do.
#include <racelab/racelab.hpp>

#include <cstdint>
#include <iostream>
#include <mutex>

int main() {
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    racelab::Simulation sim(racelab::SimOptions{.seed = seed});
    racelab::mutex m;
    int count = 0;
    auto increment = [&] {
      std::lock_guard lock(m);
      int read = count;
      RACELAB_POINT("counter.after_read");
      count = read + 1;
    };
    sim.spawn("A", increment);
    sim.spawn("B", increment);
    racelab::Outcome out = sim.run();
    if (!out.ok() || count != 2) {
      std::cout << "seed " << seed << ": count " << count << "\n" << out;
      return 1;
    }
  }
  std::cout << "20 simulated runs, count = 2 in each\n";
  return 0;
}
