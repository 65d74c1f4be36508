// Schedules to the first failure, per strategy, on the Resonate bank (unsafe transfers of 100 and
// 70 from an account holding 100) and on a harder variant with a third, unrelated task and longer
// transfers. Prints a table; the numbers go to docs/benchmarks.md.
// Run: build/release/bench/strategy_compare
#include <racelab/racelab.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "bank_model.hpp"

namespace {

void bank(racelab::Simulation& sim) {
  sim_test::Store s;
  sim_test::spawn_transfers(sim, s, false);
  static_cast<void>(sim.run());
  RACELAB_ASSERT(s.balance[1] >= 0);
}

// The same race, buried among more steps: each transfer does 10 unrelated steps first, and a
// third task does 20 steps of its own.
void busy_bank(racelab::Simulation& sim) {
  sim_test::Store s;
  for (auto [name, amount] : {std::pair{"A", 100}, std::pair{"B", 70}}) {
    sim.spawn(name, [&s, amount = amount] {
      for (int i = 0; i < 10; ++i) RACELAB_POINT("busy.work");
      try {
        sim_test::transfer(s, 1, 2, amount);
      } catch (const sim_test::NotEnoughFunds&) {
      }
    });
  }
  sim.spawn("C", [] {
    for (int i = 0; i < 20; ++i) RACELAB_POINT("busy.other");
  });
  static_cast<void>(sim.run());
  RACELAB_ASSERT(s.balance[1] >= 0);
}

struct Row {
  double mean_runs = 0;
  int found = 0;
};

Row measure(const std::string& strategy, void (*body)(racelab::Simulation&), int trials) {
  Row row;
  long total = 0;
  for (int t = 0; t < trials; ++t) {
    auto r = racelab::explore({.runs = 100'000,
                               .strategy = strategy,
                               .seed = static_cast<std::uint64_t>(t) * 100'003,
                               .minimize = false,
                               .use_env = false},
                              body);
    if (r.failed()) {
      ++row.found;
      total += r.runs();
    }
  }
  row.mean_runs = row.found > 0 ? static_cast<double>(total) / row.found : 0;
  return row;
}

}  // namespace

int main() {
  const std::vector<std::string> strategies{"random", "pct:2", "pct:3", "pct:2:60", "dfs:1", "dfs:2", "dfs"};
  std::printf("%-12s %28s %28s\n", "strategy", "bank: schedules to failure", "busy bank: schedules");
  for (const auto& s : strategies) {
    const bool exhaustive = s.starts_with("dfs");
    const int trials = exhaustive ? 1 : 200;  // DFS is deterministic: one trial says it all
    auto a = measure(s, bank, trials), b = measure(s, busy_bank, trials);
    auto cell = [&](const Row& r) {
      char buf[64];
      if (r.found == 0)
        std::snprintf(buf, sizeof buf, "not found");
      else
        std::snprintf(buf, sizeof buf, "%.1f (%d/%d found)", r.mean_runs, r.found, trials);
      return std::string(buf);
    };
    std::printf("%-12s %28s %28s\n", s.c_str(), cell(a).c_str(), cell(b).c_str());
  }
}
