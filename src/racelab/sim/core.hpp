// Private to racelab: the scheduler behind racelab::Simulation.
//
// SimCore owns the tasks of one run. Everything here runs on the thread that called run(): the
// scheduler loop on that thread's own stack, tasks on fiber stacks. A decision is made on the
// stack of the task that reached a point (no switch when the same task continues); a switch goes
// through the scheduler loop, which also advances the virtual clock and detects deadlocks.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "racelab/detail/fiber.hpp"
#include "racelab/outcome.hpp"
#include "racelab/sim/simulation.hpp"
#include "racelab/sim/strategy.hpp"
#include "racelab/sim/sync.hpp"

namespace racelab::detail {

// Thrown into unfinished tasks when a run ends early, so their stacks unwind normally.
struct Abandon {};

struct SimTask {
  enum class State { ready, blocked, done };
  std::uint32_t index = 0;
  std::string name;
  std::function<void()> fn;
  State state = State::ready;
  std::unique_ptr<Fiber> fiber;
  std::string_view at = "start";  // where the task is parked
  std::string wait_why;           // what it waits for, for deadlock reports
  WaitList* waiting_on = nullptr;
  std::int64_t deadline_ns = -1;  // virtual time at which a timed wait ends
  int io_fd = -1;                 // waiting for this socket to become readable (a database reply)
  bool timed_out = false;
  bool started = false;
  bool crashed = false;
  std::exception_ptr error;
  int children = 0;  // racelab::thread tasks spawned, for their names
  WaitList joiners;
};

// Library-internal access to values whose internals the public API keeps private.
struct OutcomeAccess {
  static Outcome make(OutcomeKind kind, std::string message, std::uint64_t seed, std::string strategy,
                      Trace trace, std::uint64_t steps, bool diverged);
  static Outcome with_failure(const Outcome& base, std::string message);
  static SimCore& core(Simulation& sim);
};

class SimCore {
 public:
  SimCore(SimOptions options, std::shared_ptr<Strategy> strategy);
  ~SimCore();

  SimTask* spawn(std::string name, std::function<void()> fn);
  Outcome run();
  // Replays `schedule` instead of asking a strategy; lenient replay skips entries that do not apply.
  void use_replay(Schedule schedule, bool lenient);

  // Called from the running task.
  void at_point(std::string_view point, bool user_point);
  bool block(std::string_view point, std::string why, std::int64_t deadline_ns, WaitList* list);
  void wake(SimTask* task);
  // Blocks the running task until `fd` is readable. The scheduler polls only when no task can run.
  void wait_readable(int fd, std::string_view point, std::string why);
  SimTask* current() const { return current_; }
  bool aborting() const { return aborting_; }
  std::int64_t now_ns() const { return now_ns_; }

  Simulation* owner = nullptr;
  const SimOptions& options() const { return options_; }
  bool has_run() const { return ran_; }
  const Outcome& outcome() const { return outcome_; }
  std::size_t task_count() const { return tasks_.size(); }
  std::size_t initial_task_count() const { return initial_tasks_; }
  std::function<std::string()> snapshot;

 private:
  struct Replay;
  SimTask* decide(SimTask* from, std::string_view point, StepKind kind, std::uint32_t occurrence);
  std::size_t replay_pick(SimTask* from, std::string_view point, std::uint32_t occurrence, int current);
  bool crash_here(SimTask* task, std::string_view point, std::uint32_t occurrence);
  void task_main(SimTask* task);
  bool crashable(std::string_view point) const;
  void stop(OutcomeKind kind, std::string message);
  void advance_clock_or_stop();
  bool poll_io(int timeout_ms);
  void teardown();
  std::string deadlock_report() const;

  SimOptions options_;
  std::shared_ptr<Strategy> strategy_;
  std::unique_ptr<Replay> replay_;
  Random random_;
  std::vector<std::unique_ptr<SimTask>> tasks_;
  std::vector<std::uint32_t> enabled_;
  std::vector<std::string> crash_filter_;
  SimTask* current_ = nullptr;
  SimTask* next_ = nullptr;
  std::int64_t now_ns_ = 0;
  std::uint64_t steps_ = 0;
  std::size_t initial_tasks_ = 0;
  bool running_ = false;
  bool ran_ = false;
  bool aborting_ = false;
  bool stopped_ = false;
  OutcomeKind kind_ = OutcomeKind::ok;
  std::string message_;
  bool diverged_ = false;
  Trace trace_;
  Outcome outcome_;
};

}  // namespace racelab::detail
