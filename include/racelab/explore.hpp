// racelab/explore.hpp — search many schedules for one that fails, then explain it.
//
// explore() runs `body` once per schedule: the body sets up state, spawns tasks, calls sim.run()
// and checks invariants (by throwing, RACELAB_ASSERT, or leaving a failing Outcome). On the first
// failure it stops, optionally checks the failure replays identically, shrinks the schedule to the
// fewest context switches that still fail, and reports seed, schedule and a timeline.
//
//   racelab::Report r = racelab::explore(racelab::ExploreOptions{.runs = 1000, .strategy = "random"},
//       [&](racelab::Simulation& sim) {
//         Bank bank{100, 0};
//         sim.spawn("A", [&] { transfer(bank, 100); });
//         sim.spawn("B", [&] { transfer(bank, 70); });
//         auto out = sim.run();
//         RACELAB_ASSERT(bank.a >= 0);
//       });
//   if (r.failed()) std::cout << r;   // "seed 3 fails ..." + minimal timeline + replay command
//
// Environment (applied unless ExploreOptions::use_env is false): RACELAB_SEED=N runs only seed N;
// RACELAB_SCHEDULE=TEXT replays one schedule; RACELAB_RUNS, RACELAB_STRATEGY override the options;
// RACELAB_VERIFY=1 re-runs the failing seed and replays every passing run too (see verify).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "racelab/outcome.hpp"
#include "racelab/sim/simulation.hpp"

namespace racelab {

struct ExploreProgress {
  int runs_done = 0;
  int runs_total = 0;
};

struct ExploreOptions {
  int runs = 1000;  // upper bound; a DFS stops earlier when it has seen everything
  std::string strategy = "random";
  std::uint64_t seed = 0;  // run i uses seed + i
  std::uint64_t max_steps = 100'000;
  double crash_probability = 0.0;
  std::string crash_points{};
  std::string schedule{};  // replay only this schedule
  bool minimize = true;    // shrink the failing schedule
  // Every failure is replayed from its schedule and compared step for step (always). verify also
  // re-runs a failure's seed, and replays every passing run's schedule, reporting the first step
  // where two runs differ.
  bool verify = false;
  bool use_env = true;  // honour RACELAB_SEED / SCHEDULE / RUNS / STRATEGY / VERIFY
  std::function<void(const ExploreProgress&)> progress{};  // called every 1% of runs, if set
};

class ExploreOptionsError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class Report {
 public:
  bool failed() const { return failing_.has_value(); }
  int runs() const { return runs_; }
  bool complete() const { return complete_; }  // a DFS explored every schedule within its bound
  const std::string& strategy() const { return strategy_; }
  // About the failure (meaningful when failed()):
  std::uint64_t seed() const;                                       // the failing run's seed (random, pct)
  std::string schedule() const;                                     // the minimal failing schedule
  const Outcome& outcome() const;                                   // the minimal failing run
  const Outcome& original() const;                                  // the failing run as first found
  bool seed_replays() const { return seed_replays_; }               // false for dfs: replay by schedule
  const std::vector<std::string>& notes() const { return notes_; }  // verification findings
  bool nondeterministic() const { return nondeterministic_; }
  std::string summary() const;  // one line

 private:
  friend Report explore(const ExploreOptions&, const std::function<void(Simulation&)>&);
  int runs_ = 0;
  bool complete_ = false;
  bool seed_replays_ = true;
  bool nondeterministic_ = false;
  std::string strategy_;
  std::optional<Outcome> failing_;
  std::optional<Outcome> minimal_;
  std::vector<std::string> notes_;
};

// The failure story: seed, what failed, minimal schedule, timeline, how to replay.
std::ostream& operator<<(std::ostream& out, const Report& report);

Report explore(const ExploreOptions& options, const std::function<void(Simulation&)>& body);

}  // namespace racelab
