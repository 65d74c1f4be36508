// racelab/sim/simulation.hpp — run tasks as fibers on one thread; a seeded scheduler picks who runs
// at every point.
//
// Between two points a task runs alone; at a point (RACELAB_POINT, or any racelab::mutex,
// atomic, condition_variable, thread or sleep operation) the strategy chooses the next task. The
// same seed and code give the same run, step for step; `Outcome::schedule()` replays it under any
// seed. Blocking blocks the task, not the thread; when every task is blocked the run ends as a
// deadlock naming where each waits; sleeps and timeouts use a virtual clock that jumps forward
// when every task waits. An exception escaping a task fails the run, naming the task.
//
//   racelab::Simulation sim(racelab::SimOptions{.seed = 7, .strategy = "pct:3"});
//   sim.spawn("A", [&] { transfer(bank, 1, 2, 100); });
//   sim.spawn("B", [&] { transfer(bank, 1, 2, 70); });
//   racelab::Outcome out = sim.run();
//   EXPECT_TRUE(out.ok()) << out;               // seed, schedule, timeline
//
// A Simulation runs once, on the thread that calls run(). Real threads, real clocks and locks that
// are not racelab's are invisible to it and make runs non-deterministic (RACELAB_VERIFY finds that).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "racelab/outcome.hpp"

namespace racelab {

class Strategy;

struct SimOptions {
  std::uint64_t seed = 0;
  std::string strategy = "random";    // random | pct:<depth>[:<steps>] | dfs[:<preemptions>]
  std::string schedule{};             // replay this schedule instead of asking the strategy
  std::uint64_t max_steps = 100'000;  // more decisions than this ends the run as step_limit
  std::size_t stack_size = 256 * 1024;
  // Probability that a point throws InjectedCrash in the task that reached it (from the seed).
  double crash_probability = 0.0;
  // Which points may crash: comma-separated names, `prefix.*` for a family; empty: every
  // RACELAB_POINT (never racelab's own sync operations).
  std::string crash_points{};
  // Which faults crash injection places (racelab/fault.hpp): comma-separated names or `all`; empty:
  // `crash` only. A point offers its own (a database statement: lost_before, deadlock, …); where
  // several apply, each is one more choice (dfs tries each; random draws one).
  std::string faults{};
};

// Thrown inside a task at a point chosen by crash injection. A task ended by it is not a failure:
// it models a process dying between two writes; the run's checks decide whether that lost anything.
class InjectedCrash {
 public:
  explicit InjectedCrash(std::string point) : point_(std::move(point)) {}
  const std::string& point() const { return point_; }

 private:
  std::string point_;
};

// API misuse: spawning after run(), running twice, a bad task name, bad options.
class SimulationError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

class Simulation {
 public:
  explicit Simulation(SimOptions options = {});
  // Used by explore(): one strategy object carried across runs (DFS remembers where it was).
  Simulation(SimOptions options, std::shared_ptr<Strategy> strategy);
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  // Adds a task. Before run(), or from a running task (it then joins the run). Names must be
  // unique and free of spaces and of '@', '>', '#', '!', '*'.
  void spawn(std::string name, std::function<void()> fn);
  [[nodiscard]] Outcome run();
  bool has_run() const;
  const Outcome& outcome() const;  // the last run()'s outcome

  // From a running task: ends the run at the next decision as though it were complete. The other
  // tasks are torn down (each unwinds, as after a failure) and the outcome is ok, with `note` as
  // its message; a failure already found stands. (A program whose main returned while its
  // threads ran: the process exits.)
  void end(std::string note);

  // Virtual time since the run started.
  std::chrono::nanoseconds now() const;
  // The simulation whose task is running on this thread, or nullptr.
  static Simulation* current();

  // Serial-order oracle (under explore()): after the body returns, `snapshot()` must equal the
  // snapshot of some run that executes the top-level tasks one after another, in some order.
  void check_serializable(std::function<std::string()> snapshot);
  const std::function<std::string()>& serializable_snapshot() const;

  const SimOptions& options() const;
  std::size_t task_count() const;  // tasks spawned so far

 private:
  friend struct detail::OutcomeAccess;
  std::unique_ptr<detail::SimCore> core_;
};

}  // namespace racelab
