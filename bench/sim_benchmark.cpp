// What the simulation costs: a scheduling decision, a whole 2-task bank schedule, and the same
// schedule driven by real threads passing a baton through semaphores (the way folly's
// DeterministicSchedule runs), for the ratio between the two.
// Run: make bench
#include <racelab/racelab.hpp>

#include <benchmark/benchmark.h>

#include <semaphore>
#include <thread>

#include "bank_model.hpp"

namespace {

void spin_points(int n) {
  for (int i = 0; i < n; ++i) RACELAB_POINT("bench.sim_step");
}

// One task: every decision keeps the running task (no context switch). items/s = decisions/s.
void BM_DecisionSameTask(benchmark::State& state) {
  constexpr int kPoints = 1000;
  std::uint64_t decisions = 0;
  for (auto _ : state) {
    racelab::Simulation sim;
    sim.spawn("A", [] { spin_points(kPoints); });
    decisions += sim.run().steps();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(decisions));  // items: decisions
}
BENCHMARK(BM_DecisionSameTask)->Unit(benchmark::kMicrosecond);

// Two tasks, random strategy: about half the decisions switch fibers.
void BM_DecisionRandomTwoTasks(benchmark::State& state) {
  constexpr int kPoints = 1000;
  std::uint64_t decisions = 0;
  for (auto _ : state) {
    racelab::Simulation sim({.seed = 1});
    sim.spawn("A", [] { spin_points(kPoints); });
    sim.spawn("B", [] { spin_points(kPoints); });
    decisions += sim.run().steps();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(decisions));  // items: decisions
}
BENCHMARK(BM_DecisionRandomTwoTasks)->Unit(benchmark::kMicrosecond);

// Resonate's bank in memory: one whole schedule (2 tasks, ~9 decisions) per iteration.
void BM_BankScheduleFibers(benchmark::State& state) {
  std::uint64_t seed = 0;
  for (auto _ : state) {
    sim_test::Store s;
    racelab::Simulation sim({.seed = seed++});
    sim_test::spawn_transfers(sim, s, false);
    benchmark::DoNotOptimize(sim.run().steps());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BankScheduleFibers);

// The same, with the refusal as a return value: without the cost of a C++ throw (~1 us here).
void BM_BankScheduleFibersNoThrow(benchmark::State& state) {
  std::uint64_t seed = 0;
  for (auto _ : state) {
    sim_test::Store s;
    racelab::Simulation sim({.seed = seed++});
    sim.spawn("A", [&s] { sim_test::try_transfer(s, 1, 2, 100); });
    sim.spawn("B", [&s] { sim_test::try_transfer(s, 1, 2, 70); });
    benchmark::DoNotOptimize(sim.run().steps());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BankScheduleFibersNoThrow);

// The same schedule with two real threads handing a baton through binary semaphores: at every
// point the running thread picks (from the same kind of seeded stream) who goes next.
class Baton {
 public:
  explicit Baton(std::uint64_t seed) : random_(seed) {}
  void start(int first) { sem_[first].release(); }
  void arrive(int me) {  // a point: maybe hand over
    if (done_[1 - me] || random_.uniform(2) == 0) return;
    sem_[1 - me].release();
    sem_[me].acquire();
  }
  void enter(int me) { sem_[me].acquire(); }
  void finish(int me) {
    done_[me] = true;
    if (!done_[1 - me]) sem_[1 - me].release();
  }

 private:
  racelab::Random random_;
  std::binary_semaphore sem_[2]{std::binary_semaphore(0), std::binary_semaphore(0)};
  bool done_[2]{false, false};
};

void baton_transfer(Baton& baton, int me, std::map<int, std::int64_t>& balance, std::int64_t amount) {
  baton.enter(me);
  baton.arrive(me);
  std::int64_t seen = balance[1];
  baton.arrive(me);
  if (seen - amount >= 0) {
    baton.arrive(me);
    balance[1] -= amount;
    baton.arrive(me);
    balance[2] += amount;
  }
  baton.finish(me);
}

void BM_BankScheduleThreadHandoff(benchmark::State& state) {
  std::uint64_t seed = 0;
  for (auto _ : state) {
    std::map<int, std::int64_t> balance{{1, 100}, {2, 0}};
    Baton baton(seed++);
    std::thread a(baton_transfer, std::ref(baton), 0, std::ref(balance), 100);
    std::thread b(baton_transfer, std::ref(baton), 1, std::ref(balance), 70);
    baton.start(0);
    a.join();
    b.join();
    benchmark::DoNotOptimize(balance[1]);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BankScheduleThreadHandoff)->UseRealTime();

}  // namespace
