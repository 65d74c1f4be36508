// racelab/sim/strategy.hpp — who runs next: the search strategies behind one small interface.
//
// A strategy sees, at each decision, the enabled tasks (ascending task index) and which of them was
// running, and returns a position. Strategy strings are the same in the API, env and CLI:
//   random              uniform random walk over enabled tasks
//   pct:<d>[:<k>]       PCT, bug depth d (Burckhardt et al., ASPLOS 2010); k = the run's expected
//                       steps (a Simulation assumes 100; explore() measures it with one serial run)
//   dfs[:<p>]           exhaustive depth-first search, at most p preemptions (unbounded if omitted);
//                       enumerates every schedule once, so "explored N, no failure" is a proof
//                       within the bound
//
//   auto s = racelab::make_strategy("pct:3");   // throws StrategyError on a malformed string
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

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

struct PickContext {
  std::span<const std::uint32_t> enabled;  // task indices, ascending; never empty
  int current = -1;                        // position in `enabled` of the running task, or -1
  std::uint64_t step = 0;                  // decisions made so far in this run
  Random& random;
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string name() const = 0;
  virtual void begin_run(Random& random) { static_cast<void>(random); }
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

std::unique_ptr<Strategy> make_strategy(std::string_view spec);

namespace detail {
std::shared_ptr<Strategy> make_shared_strategy(std::string_view spec);  // one allocation, for the engine
}

}  // namespace racelab
