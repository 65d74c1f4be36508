// racelab/sim/strategy.hpp — who runs next: the search strategies behind one small interface.
//
// A strategy sees, at each decision, the enabled tasks (ascending task index) and which of them was
// running, and returns a position. Strategy strings are the same in the API, env and CLI:
//   random              uniform random walk over enabled tasks
//   pct:<d>[:<k>]       PCT, bug depth d (Burckhardt et al., ASPLOS 2010); k = the run's expected
//                       steps (a Simulation assumes 100; explore() measures it with one serial run)
//   dfs[:<p>]           exhaustive depth-first search, at most p preemptions (unbounded if omitted);
//                       enumerates every schedule once, so "explored N, no failure" is a proof
//                       within the bound. With crash injection on, crashing at a crashable point is
//                       one more choice there, so the proof covers every crash placement too.
//   (replay)            not a string: SimOptions::schedule replays a schedule text through the same
//                       interface, strictly (a mismatch is a divergence) or leniently (minimisation)
//
//   auto s = racelab::make_strategy("pct:3");   // throws StrategyError on a malformed string
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "racelab/fault.hpp"
#include "racelab/sim/trace.hpp"

namespace racelab {

// The run's one seeded stream (xoshiro256**, seeded through splitmix64). All randomness in a
// simulation comes from here.
class Random {
 public:
  explicit Random(std::uint64_t seed = 0) { reseed(seed); }
  void reseed(std::uint64_t seed);
  std::uint64_t next();
  std::uint64_t uniform(std::uint64_t n);  // in [0, n), n > 0, without modulo bias
  bool chance(double p);                   // true with probability p

 private:
  std::uint64_t s_[4]{};
};

// One scheduling decision. The engine asks at every arrival of a task at a point, a blocking
// call or its end, and at idle moments (the start, a clock advance), so a strategy sees every
// step a trace records, in order, even those with a single option or none.
struct PickContext {
  std::span<const std::uint32_t> enabled;  // task indices, ascending; empty when nobody can run
  int current = -1;                        // position in `enabled` of the arriving task, or -1
  std::uint64_t step = 0;                  // decisions made so far in this run, this one included
  Random& random;
  // The arrival: who, where, how. `from` is kNoTask for idle decisions.
  std::uint32_t from = 0;
  std::string_view point{};
  StepKind kind{};
  std::span<const std::string> task_names{};  // by task index
  // Crash injection: `crash` is a valid answer only when `crashable` (a RACELAB_POINT, in code
  // that may throw). `crash_enabled` says the options ask for crashes here (probability > 0 and
  // the point passes SimOptions::crash_points); `crash_probability` is that probability.
  bool crashable = false;
  bool crash_enabled = false;
  double crash_probability = 0.0;
  // Faults beyond a crash the point can produce (racelab/fault.hpp), in enum order: answering
  // `enabled.size() + i` injects faults[i]. Valid answers whenever listed (a replay may give them);
  // `faults_enabled` says which of them the options ask for, with `crash_probability`.
  std::span<const Fault> faults{};
  FaultSet faults_enabled{};
};

class Strategy {
 public:
  // pick()'s answers besides a position in `enabled` (or `enabled.size() + i` for faults[i]): crash
  // the arriving task here; nobody runs (only when `enabled` is empty).
  static constexpr std::size_t kCrash = static_cast<std::size_t>(-1);
  static constexpr std::size_t kNobody = static_cast<std::size_t>(-2);

  virtual ~Strategy() = default;
  virtual std::string name() const = 0;
  virtual void begin_run(Random& random) { static_cast<void>(random); }
  // A position in `enabled`, enabled.size() + i for faults[i], kCrash, or kNobody. Throws ScheduleDiverged
  // when the run no longer fits what the strategy expects (a replayed schedule, a DFS prefix re-executed
  // differently).
  virtual std::size_t pick(const PickContext& context) = 0;
  // After each run. False when there is nothing left to explore (an exhausted DFS).
  virtual bool end_run(std::uint64_t steps) {
    static_cast<void>(steps);
    return true;
  }
  virtual bool exhaustive() const { return false; }
};

class StrategyError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Thrown by a strategy's pick() when the run does not fit the choices it is replaying; the run
// ends with OutcomeKind::diverged and this message.
class ScheduleDiverged : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::unique_ptr<Strategy> make_strategy(std::string_view spec);

namespace detail {
std::shared_ptr<Strategy> make_shared_strategy(std::string_view spec);  // one allocation, for the engine
// The faults the options ask for at this decision, as pick() answers: kCrash first, then
// enabled.size() + i for each faults[i] enabled. Writes at most kFaultKinds; returns how many.
std::size_t fault_options(const PickContext& context, std::size_t* out);
}  // namespace detail

}  // namespace racelab
