// racelab/outcome.hpp — how a simulated run ended, and the user's check that fails one.
//
// An Outcome is a value: the kind (ok, failure, deadlock, step_limit, diverged), a message, the seed, the
// schedule text that replays the run, and its trace. RACELAB_ASSERT is the check a test writes
// inside tasks or after Simulation::run(); when it fails the run fails with the expression and place.
//
//   racelab::Simulation sim({.seed = 7});
//   sim.spawn("A", [&] { RACELAB_ASSERT(account.balance >= 0); });
//   racelab::Outcome out = sim.run();
//   if (!out.ok()) std::cout << out;          // kind, message, seed, schedule, timeline
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "racelab/sim/trace.hpp"

namespace racelab {

// diverged: a replayed schedule (or a DFS prefix) no longer fits the code; not a failure of the
// program, and never minimised: the schedule is from another program, or edited, or the code
// depends on something outside the simulation.
enum class OutcomeKind { ok, failure, deadlock, step_limit, diverged };
std::string_view to_string(OutcomeKind kind);

class Outcome {
 public:
  Outcome();
  bool ok() const;
  OutcomeKind kind() const;
  const std::string& message() const;
  std::uint64_t seed() const;
  const std::string& strategy() const;
  std::string schedule() const;  // replays this run: SimOptions::schedule / RACELAB_SCHEDULE
  const Trace& trace() const;
  std::uint64_t steps() const;  // scheduling decisions made
  bool diverged() const;        // kind() == diverged (see message())

 private:
  friend class Simulation;
  friend class detail::SimCore;
  friend struct detail::OutcomeAccess;
  struct Data;
  const Data& data() const;
  std::shared_ptr<Data> data_;  // null: nothing run
};

std::ostream& operator<<(std::ostream& out, const Outcome& outcome);

// Thrown by RACELAB_ASSERT; ends the task (and so the run) as a failure.
class AssertionFailed : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace detail {
[[noreturn]] void assertion_failed(const char* expr, const char* file, int line);
}

}  // namespace racelab

#define RACELAB_ASSERT(...)             \
  ((__VA_ARGS__) ? static_cast<void>(0) \
                 : ::racelab::detail::assertion_failed(#__VA_ARGS__, __FILE__, __LINE__))
