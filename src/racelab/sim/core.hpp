// Private to racelab: the scheduler core behind racelab::Simulation.
//
// SimCore decides who runs next and never knows how a task runs: it keeps each task's scheduling
// state (ready, blocked, done; what it waits for), asks the strategy at every arrival, records the
// trace, keeps the virtual clock, detects deadlocks and the step limit, tears a stopped run down
// and builds the outcome. An Executor carries the decisions out: fibers today (FiberExecutor), the
// OS threads of an unmodified program under `racelab run` later.
//
// Everything here runs on the thread that called run(): the scheduler loop on that thread's own
// stack, tasks wherever the executor puts them. A decision is made on the stack of the task that
// arrived (no switch when the same task continues); a switch goes through the scheduler loop,
// which also advances the virtual clock.
//
// Guarantees, each kept by one mechanism here:
// - Every arrival (a point, a blocking call, a task's end) is one decision and one trace step,
//   even when nobody else can run; strategies, the replay strategy included, see exactly the steps
//   the trace records, so occurrence counting (Occurrences) agrees between a run and its replay.
// - A strategy that finds the run does not fit (a replayed schedule, a DFS prefix) ends it as
//   OutcomeKind::diverged, never as a failure of the program.
// - Teardown ends: each unfinished task is resumed once; its operations throw Abandon where it may
//   throw, and return (waits: abandoned) where it may not; a task still running after
//   kTeardownOpsMax operations is parked for good, its stack leaked, and named in the outcome.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "racelab/detail/point_sink.hpp"
#include "racelab/outcome.hpp"
#include "racelab/sim/simulation.hpp"
#include "racelab/sim/strategy.hpp"
#include "racelab/sim/sync.hpp"

namespace racelab::detail {

class ReplayStrategy;

// Thrown into unfinished tasks when a run ends early, so their stacks unwind normally.
struct Abandon {};

struct SimTask {
  enum class State : std::uint8_t { ready, blocked, done };
  std::uint32_t index = 0;
  State state = State::ready;
  bool timed_out = false;
  bool started = false;
  bool crashed = false;
  bool parked_for_good = false;  // gave up during teardown
  int nothrow_depth = 0;         // open NoThrowScopes
  int children = 0;              // racelab::thread tasks spawned, for their names
  int io_fd = -1;                // waiting for this socket to become readable (a database reply)
  std::uint32_t teardown_ops = 0;
  std::int64_t deadline_ns = -1;  // virtual time at which a timed wait ends
  std::string name;
  std::function<void()> fn;
  std::string_view at = "start";  // where the task is parked
  // What it waits for, for deadlock reports: `wait_describe(wait_object)` when set (composed only
  // if a report is made: a contended lock costs no string), else `wait_why`.
  std::string wait_why;
  WaitDescribe wait_describe = nullptr;
  const void* wait_object = nullptr;
  WaitList* waiting_on = nullptr;
  std::exception_ptr error;
  WaitList joiners;
};

// How tasks run. The core calls resume() from the scheduler loop and park() from the running
// task; the executor calls SimCore::task_main(task) on the task's own context when it first runs.
class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `task` until it parks or its task_main returns. On the scheduler's context.
  virtual void resume(SimTask& task) = 0;
  // Hands control back to the scheduler loop. On the task's context.
  virtual void park(SimTask& task) = 0;
  // True once task_main returned for this task (or it never started).
  virtual bool finished(const SimTask& task) const = 0;
  // Gives up a task that would not end: its context is never resumed and its resources leak.
  virtual void give_up(SimTask& task) = 0;
};

// Library-internal access to values whose internals the public API keeps private.
struct OutcomeAccess {
  // The outcome of a run. Reuses `spare`'s record when nobody else holds it, swapping `trace`'s
  // vectors with the record's (so both keep their memory); `trace` comes back empty.
  static Outcome make_reusing(std::shared_ptr<void>& spare, OutcomeKind kind, std::string_view message,
                              std::uint64_t seed, std::string_view strategy, Trace& trace,
                              std::uint64_t steps);
  // Takes the record out of `outcome` (which becomes a default Outcome), for make_reusing.
  static std::shared_ptr<void> release(Outcome& outcome);
  static Outcome with_failure(const Outcome& base, std::string message,
                              OutcomeKind kind = OutcomeKind::failure);
  static SimCore& core(Simulation& sim);
};

class SimCore final : public PointSink {
 public:
  static constexpr std::uint32_t kTeardownOpsMax = 10'000;

  SimCore(SimOptions options, std::shared_ptr<Strategy> strategy);
  ~SimCore();

  // A finished core is reused for the next Simulation on the same thread (simulation.cpp): its
  // tasks, fibers, vectors and outcome record keep their memory, so a run in steady state
  // allocates almost nothing. reuse() validates like the constructor; recyclable() is false
  // when a task was given up during teardown (its fiber is gone).
  void reuse(SimOptions&& options, std::shared_ptr<Strategy> strategy);
  // Drops what the last run's tasks and body handed in (task functions and their captures,
  // exceptions, the snapshot function); called before the core is kept for reuse.
  void release_run_state() noexcept;
  bool recyclable() const { return !gave_up_ && (!ran_ || !running_); }

  SimTask* spawn(std::string name, std::function<void()> fn);
  Outcome run();
  // Replays `schedule` instead of asking a strategy; lenient replay skips entries that do not apply.
  void use_replay(Schedule schedule, bool lenient);

  // Called from the running task. `may_throw` false for operations that run in destructors.
  // `offered`: the faults beyond a crash the code at a user point can produce (Point::hit_or_fault);
  // returns the one chosen, if any. A crash is thrown (InjectedCrash).
  std::optional<Fault> at_point(std::string_view point, bool user_point, bool may_throw = true,
                                FaultSet offered = {});
  WaitResult block(std::string_view point, std::string_view why, std::int64_t deadline_ns, WaitList* list,
                   bool may_throw, WaitDescribe describe = nullptr, const void* object = nullptr);
  void wake(SimTask* task) noexcept;
  // Blocks the running task until `fd` is readable. The scheduler polls only when no task can run.
  WaitResult wait_readable(int fd, std::string_view point, std::string_view why);
  // Ends the run as a failure at the next decision (API misuse found inside a task, e.g. an unlock
  // by a task that does not hold the mutex). Never throws, so destructors may call it.
  void fail(std::string message) noexcept;
  // Ends the run at the next decision with an ok outcome (Simulation::end).
  void end(std::string message) { stop(OutcomeKind::ok, std::move(message)); }
  void on_point(std::string_view point) override { at_point(point, true); }
  std::optional<Fault> on_fault_point(std::string_view point, FaultSet offered) override {
    return at_point(point, true, true, offered.without(Fault::crash));
  }
  // The body the executor runs for a task (never throws).
  void task_main(SimTask* task) noexcept;

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
  struct Decision {
    SimTask* next = nullptr;
    bool crash = false;  // a fault was chosen: `fault` says which
    Fault fault = Fault::crash;
  };
  void configure(SimOptions&& options, std::shared_ptr<Strategy> strategy);
  [[gnu::cold]] void stop_at_step_limit();
  void reset();
  Decision decide(SimTask* from, std::string_view point, StepKind kind, bool crashable,
                  FaultSet offered = {});
  bool can_throw(const SimTask* task) const;
  void teardown_op(SimTask* me);
  bool crash_allowed_at(std::string_view point) const;
  void stop(OutcomeKind kind, std::string message);
  void enter(SimTask* task);
  void leave();
  void advance_clock_or_stop();
  bool poll_io(int timeout_ms);
  void teardown();
  std::string deadlock_report() const;

  SimOptions options_;
  std::shared_ptr<Strategy> strategy_;
  ReplayStrategy* replay_ = nullptr;  // strategy_, when it replays a schedule
  std::unique_ptr<Executor> executor_;
  Random random_;
  std::vector<std::unique_ptr<SimTask>> tasks_;
  std::vector<std::unique_ptr<SimTask>> spare_tasks_;  // from earlier runs, for spawn() to reuse
  std::string strategy_spec_;  // the spec strategy_ was made from by this core ("" if passed in)
  std::vector<std::uint32_t> enabled_;
  std::vector<std::string> names_;  // by task index, for strategies
  std::vector<std::string> crash_filter_;
  FaultSet fault_kinds_{Fault::crash};  // SimOptions::faults
  std::vector<Fault> faults_;           // the decision's fault answers, a buffer kept across decisions
  SimTask* current_ = nullptr;
  SimTask* next_ = nullptr;
  PointSink* saved_sink_ = nullptr;
  std::int64_t now_ns_ = 0;
  std::uint64_t steps_ = 0;
  std::size_t initial_tasks_ = 0;
  bool running_ = false;
  bool ran_ = false;
  bool aborting_ = false;
  bool stopped_ = false;
  bool gave_up_ = false;
  OutcomeKind kind_ = OutcomeKind::ok;
  std::string message_;
  std::string teardown_notes_;
  Trace trace_;
  Outcome outcome_;
  std::shared_ptr<void> spare_outcome_;  // the last outcome's record, reused if nobody else holds it
};

// Makes the fiber executor for `core` (fiber_executor.cpp).
std::unique_ptr<Executor> make_fiber_executor(SimCore& core, std::size_t stack_size);

}  // namespace racelab::detail
