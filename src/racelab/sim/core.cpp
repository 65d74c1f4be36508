// The scheduler core behind racelab::Simulation. See core.hpp for the shape and its guarantees,
// simulation.hpp for the contract.
#include "racelab/sim/core.hpp"

#include <cxxabi.h>

#include <poll.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <optional>
#include <typeinfo>

#include "racelab/point.hpp"
#include "racelab/sim/replay.hpp"

namespace racelab::detail {
namespace {

std::string demangle(const char* name) {
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string s = status == 0 && out != nullptr ? out : name;
  std::free(out);
  return s;
}

std::string describe_error(const SimTask& t) {
  try {
    std::rethrow_exception(t.error);
  } catch (const AssertionFailed& e) {
    return "task '" + t.name + "': " + e.what();
  } catch (const std::exception& e) {
    return "task '" + t.name + "' threw " + demangle(typeid(e).name()) + ": " + e.what();
  } catch (...) {
    return "task '" + t.name + "' threw a non-std exception";
  }
}

bool valid_task_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '@' || c == '>' || c == '#' || c == '!' || c == '*';
  });
}

std::vector<std::string> split_filter(std::string_view filter) {
  std::vector<std::string> out;
  while (!filter.empty()) {
    auto comma = filter.find(',');
    auto item = filter.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    filter.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

SimCore::SimCore(SimOptions options, std::shared_ptr<Strategy> strategy) {
  configure(std::move(options), std::move(strategy));
  executor_ = make_fiber_executor(*this, options_.stack_size);
  trace_.steps_.reserve(64);
  trace_.tasks_.reserve(4);
  tasks_.reserve(4);
  names_.reserve(4);
  enabled_.reserve(8);
}

SimCore::~SimCore() = default;

void SimCore::configure(SimOptions&& options, std::shared_ptr<Strategy> strategy) {
  if (options.max_steps == 0) throw SimulationError("racelab: SimOptions::max_steps must be positive");
  if (options.stack_size < 16 * 1024)
    throw SimulationError("racelab: SimOptions::stack_size must be >= 16 KiB");
  if (!(options.crash_probability >= 0.0 && options.crash_probability <= 1.0))
    throw SimulationError("racelab: SimOptions::crash_probability must be within [0, 1]");
  std::optional<Schedule> schedule;
  if (!options.schedule.empty()) {
    try {
      schedule = Schedule::parse(options.schedule);
    } catch (const ScheduleParseError& e) {
      throw SimulationError(std::string("racelab: SimOptions::schedule: ") + e.what());
    }
  }
  replay_ = nullptr;
  if (schedule) {
    use_replay(std::move(*schedule), false);
    strategy_spec_.clear();
  } else if (strategy) {
    strategy_ = std::move(strategy);
    strategy_spec_.clear();
  } else if (!(strategy_ && !strategy_spec_.empty() && strategy_spec_ == options.strategy)) {
    // A core reused on this thread keeps the strategy it made when the spec is the same: random
    // and PCT start every run afresh in begin_run(); DFS is never kept (its state is the search),
    // so a new Simulation with "dfs" starts a new search, as before.
    try {
      strategy_ = detail::make_shared_strategy(options.strategy);
    } catch (const StrategyError& e) {
      throw SimulationError(e.what());
    }
    strategy_spec_ = options.strategy.starts_with("dfs") ? std::string() : options.strategy;
  }
  crash_filter_ = split_filter(options.crash_points);
  try {
    fault_kinds_ = options.faults.empty() ? FaultSet{Fault::crash} : FaultSet::parse(options.faults);
  } catch (const std::invalid_argument& e) {
    throw SimulationError(std::string("racelab: SimOptions::faults: ") + e.what());
  }
  random_.reseed(options.seed);
  const bool new_stacks = executor_ && options.stack_size != options_.stack_size;
  options_ = std::move(options);
  if (new_stacks) executor_ = make_fiber_executor(*this, options_.stack_size);
}

void SimCore::reuse(SimOptions&& options, std::shared_ptr<Strategy> strategy) {
  reset();
  configure(std::move(options), std::move(strategy));
}

void SimCore::release_run_state() noexcept {
  // What a run's tasks captured dies with the run, as it would with a fresh core: the body's
  // objects (connections, databases, shared state) must not outlive the Simulation.
  for (auto& t : tasks_) {
    t->fn = nullptr;
    t->error = nullptr;
    t->joiners.clear();
  }
  snapshot = nullptr;
  if (strategy_spec_.empty()) {  // a strategy handed in (or a replay, or a DFS): not the core's to keep
    strategy_.reset();
    replay_ = nullptr;
  }
}

void SimCore::reset() {
  release_run_state();
  for (auto& t : tasks_) spare_tasks_.push_back(std::move(t));
  tasks_.clear();
  names_.clear();
  trace_.steps_.clear();
  trace_.tasks_.clear();
  current_ = next_ = nullptr;
  saved_sink_ = nullptr;
  now_ns_ = 0;
  steps_ = 0;
  initial_tasks_ = 0;
  running_ = ran_ = aborting_ = stopped_ = false;
  kind_ = OutcomeKind::ok;
  message_.clear();
  teardown_notes_.clear();
  snapshot = nullptr;
  owner = nullptr;
  spare_outcome_ = OutcomeAccess::release(outcome_);
}

void SimCore::use_replay(Schedule schedule, bool lenient) {
  auto replay = std::make_shared<ReplayStrategy>(std::move(schedule), lenient);
  replay_ = replay.get();
  strategy_ = std::move(replay);
  strategy_spec_.clear();  // not the strategy the options named: never kept for a later run
}

SimTask* SimCore::spawn(std::string name, std::function<void()> fn) {
  if (ran_ && !running_) throw SimulationError("racelab: spawn() after run(): a Simulation runs once");
  if (!valid_task_name(name))
    throw SimulationError("racelab: bad task name '" + name +
                          "': use 1-64 characters without spaces, '@', '>', '#', '!' or '*'");
  for (const auto& t : tasks_)
    if (t->name == name)
      throw SimulationError("racelab: two tasks named '" + name + "'; task names must be unique");
  if (!fn) throw SimulationError("racelab: spawn('" + name + "') without a function");
  std::unique_ptr<SimTask> task;
  if (spare_tasks_.empty()) {
    task = std::make_unique<SimTask>();
  } else {  // a task object of an earlier run: its strings and wait list keep their memory
    task = std::move(spare_tasks_.back());
    spare_tasks_.pop_back();
    task->state = SimTask::State::ready;
    task->timed_out = task->started = task->crashed = task->parked_for_good = false;
    task->nothrow_depth = task->children = 0;
    task->io_fd = -1;
    task->teardown_ops = 0;
    task->deadline_ns = -1;
    task->at = "start";
    task->wait_why.clear();
    task->wait_describe = nullptr;
    task->wait_object = nullptr;
    task->waiting_on = nullptr;
    task->error = nullptr;
    task->joiners.clear();
  }
  task->index = static_cast<std::uint32_t>(tasks_.size());
  task->name = std::move(name);
  task->fn = std::move(fn);
  // A task spawned while the run is torn down never runs.
  if (aborting_) task->state = SimTask::State::done;
  trace_.tasks_.push_back(task->name);
  names_.push_back(task->name);
  tasks_.push_back(std::move(task));
  return tasks_.back().get();
}

void SimCore::stop(OutcomeKind kind, std::string message) {
  if (stopped_) return;
  stopped_ = true;
  kind_ = kind;
  message_ = std::move(message);
}

void SimCore::fail(std::string message) noexcept {
  try {
    stop(OutcomeKind::failure, std::move(message));
  } catch (...) {
    stop(OutcomeKind::failure, {});  // out of memory for the message: still fail
  }
}

bool SimCore::crash_allowed_at(std::string_view point) const {
  if (crash_filter_.empty()) return true;
  for (const auto& f : crash_filter_) {
    if (f.ends_with("*")) {
      if (point.starts_with(std::string_view(f).substr(0, f.size() - 1))) return true;
    } else if (point == f) {
      return true;
    }
  }
  return false;
}

bool SimCore::can_throw(const SimTask* task) const {
  return task->nothrow_depth == 0 && std::uncaught_exceptions() == 0;
}

SimCore::Decision SimCore::decide(SimTask* from, std::string_view point, StepKind kind, bool crashable,
                                  FaultSet offered) {
  if (stopped_) return {};
  // The enabled set, rebuilt per decision into a buffer that only grows (no capacity checks).
  if (enabled_.size() < tasks_.size()) enabled_.resize(tasks_.size() * 2);
  std::uint32_t* out = enabled_.data();
  std::size_t n = 0;
  int current = -1;
  for (const auto& t : tasks_) {
    if (t->state != SimTask::State::ready) continue;
    if (t.get() == from) current = static_cast<int>(n);
    out[n++] = t->index;
  }
  if (n == 0 && kind == StepKind::idle) return {};
  if (steps_ >= options_.max_steps) {
    stop_at_step_limit();
    return {};
  }
  ++steps_;
  const bool inject = crashable && options_.crash_probability > 0.0 && crash_allowed_at(point);
  const bool crash_enabled = inject && fault_kinds_.contains(Fault::crash);
  // The faults this point can produce beyond a crash, in enum order: answers n, n + 1, …
  faults_.clear();
  if (crashable)
    for (int f = 1; f < kFaultKinds; ++f)
      if (offered.contains(static_cast<Fault>(f))) faults_.push_back(static_cast<Fault>(f));
  PickContext context{std::span<const std::uint32_t>(out, n),
                      current,
                      steps_,
                      random_,
                      from != nullptr ? from->index : kNoTask,
                      point,
                      kind,
                      names_,
                      crashable,
                      crash_enabled,
                      options_.crash_probability,
                      faults_,
                      inject ? offered & fault_kinds_ : FaultSet{}};
  std::size_t pos = 0;
  try {
    pos = strategy_->pick(context);
  } catch (const ScheduleDiverged& e) {
    stop(OutcomeKind::diverged, "schedule diverged at step " + std::to_string(steps_) + ": " + e.what());
    return {};
  }
  const std::uint32_t from_index = from != nullptr ? from->index : 0;
  if (pos == Strategy::kCrash && crashable) {
    trace_.steps_.push_back(TraceStep{from_index, point, StepKind::crash, Fault::crash, from_index, now_ns_});
    return {from, true};
  }
  if (pos >= n && pos - n < faults_.size()) {
    const Fault fault = faults_[pos - n];
    trace_.steps_.push_back(TraceStep{from_index, point, StepKind::crash, fault, from_index, now_ns_});
    return {from, true, fault};
  }
  if (pos >= n) {  // kNobody, or a strategy's answer out of range
    if (n != 0) {
      stop(OutcomeKind::diverged, "schedule diverged at step " + std::to_string(steps_) + ": strategy '" +
                                      strategy_->name() + "' chose no runnable task");
      return {};
    }
    trace_.steps_.push_back(TraceStep{from_index, point, kind, Fault::crash, kNoTask, now_ns_});
    return {};
  }
  SimTask* chosen = tasks_[out[pos]].get();
  trace_.steps_.push_back(TraceStep{from_index, point, kind, Fault::crash, chosen->index, now_ns_});
  return {chosen, false};
}

void SimCore::stop_at_step_limit() {
  std::string where;
  for (const auto& t : tasks_)
    if (t->state != SimTask::State::done) where += "\n  " + t->name + " at " + std::string(t->at);
  stop(OutcomeKind::step_limit, "step limit of " + std::to_string(options_.max_steps) +
                                    " decisions reached (a livelock, or raise max_steps); tasks:" + where);
}

void SimCore::teardown_op(SimTask* me) {
  if (++me->teardown_ops <= kTeardownOpsMax) return;
  me->parked_for_good = true;
  executor_->park(*me);  // never resumed
}

std::optional<Fault> SimCore::at_point(std::string_view point, bool user_point, bool may_throw,
                                       FaultSet offered) {
  SimTask* me = current_;
  if (aborting_) {
    teardown_op(me);
    if (may_throw && can_throw(me)) throw Abandon{};
    return std::nullopt;
  }
  me->at = point;
  // Whether a crash could be thrown here matters only when crashes are injected or replayed; asking
  // the C++ runtime (std::uncaught_exceptions) costs a thread-local lookup per point otherwise.
  const bool crashable =
      user_point && may_throw && (options_.crash_probability > 0.0 || replay_ != nullptr) && can_throw(me);
  Decision d = decide(me, point, StepKind::point, crashable, offered);
  if (d.crash) {
    if (d.fault == Fault::crash) throw InjectedCrash(std::string(point));
    return d.fault;  // the code at the point produces it; the task goes on running
  }
  if (d.next == me) return std::nullopt;
  next_ = d.next;
  executor_->park(*me);
  if (aborting_) {  // resumed only to unwind
    teardown_op(me);
    if (may_throw && can_throw(me)) throw Abandon{};
  }
  return std::nullopt;
}

WaitResult SimCore::block(std::string_view point, std::string_view why, std::int64_t deadline_ns,
                          WaitList* list, bool may_throw, WaitDescribe describe, const void* object) {
  SimTask* me = current_;
  if (aborting_) {
    teardown_op(me);
    if (may_throw && can_throw(me)) throw Abandon{};
    return WaitResult::abandoned;
  }
  me->state = SimTask::State::blocked;
  me->at = point;
  me->wait_why.assign(why);
  me->wait_describe = describe;
  me->wait_object = object;
  me->deadline_ns = deadline_ns;
  me->timed_out = false;
  me->waiting_on = list;
  next_ = decide(me, point, StepKind::block, false).next;
  executor_->park(*me);
  if (aborting_) {
    me->state = SimTask::State::ready;
    teardown_op(me);
    if (may_throw && can_throw(me)) throw Abandon{};
    return WaitResult::abandoned;
  }
  return me->timed_out ? WaitResult::timed_out : WaitResult::woken;
}

void SimCore::wake(SimTask* task) noexcept {
  if (task->state != SimTask::State::blocked) return;
  task->state = SimTask::State::ready;
  task->deadline_ns = -1;
  task->waiting_on = nullptr;
  task->io_fd = -1;
}

WaitResult SimCore::wait_readable(int fd, std::string_view point, std::string_view why) {
  SimTask* me = current_;
  me->io_fd = fd;
  try {
    auto result = block(point, why, -1, nullptr, true);
    me->io_fd = -1;
    return result;
  } catch (...) {
    me->io_fd = -1;
    throw;
  }
}

// Wakes, in task order, every task whose socket is readable. True if any woke.
bool SimCore::poll_io(int timeout_ms) {
  std::vector<pollfd> fds;
  std::vector<SimTask*> waiting;
  for (const auto& t : tasks_) {
    if (t->state == SimTask::State::blocked && t->io_fd >= 0) {
      fds.push_back(pollfd{t->io_fd, POLLIN, 0});
      waiting.push_back(t.get());
    }
  }
  if (fds.empty()) return false;
  int n = ::poll(fds.data(), fds.size(), timeout_ms);
  if (n <= 0) return false;
  for (std::size_t i = 0; i < fds.size(); ++i)
    if (fds[i].revents != 0) wake(waiting[i]);
  return true;
}

std::string SimCore::deadlock_report() const {
  std::string out = "deadlock: every task is blocked";
  for (const auto& t : tasks_)
    if (t->state == SimTask::State::blocked)
      out += "\n  " + t->name + " waits at " + std::string(t->at) + ": " +
             (t->wait_describe != nullptr ? t->wait_describe(t->wait_object) : t->wait_why);
  return out;
}

void SimCore::advance_clock_or_stop() {
  // A database reply comes before virtual time moves on: the server gets up to 30 s of real time.
  // When some task also waits with a deadline (a sleeper, perhaps the very lock holder the server
  // is waiting for), the server gets 1 s, then virtual time moves: a reply held up by a sleeping
  // task would otherwise cost 30 s each time. A reply slower than that moves time early: one of
  // the ways a run on a real server can depend on its speed (docs/simulation.md).
  constexpr int kDatabaseWaitMs = 30'000;
  constexpr int kDatabaseGraceMs = 1'000;
  bool io_waiting = false;
  bool timed_waiting = false;
  for (const auto& t : tasks_) {
    if (t->state != SimTask::State::blocked) continue;
    io_waiting = io_waiting || t->io_fd >= 0;
    timed_waiting = timed_waiting || t->deadline_ns >= 0;
  }
  if (io_waiting && poll_io(timed_waiting ? kDatabaseGraceMs : kDatabaseWaitMs)) {
    next_ = decide(nullptr, "io", StepKind::idle, false).next;
    return;
  }
  std::int64_t earliest = -1;
  for (const auto& t : tasks_)
    if (t->state == SimTask::State::blocked && t->deadline_ns >= 0 &&
        (earliest < 0 || t->deadline_ns < earliest))
      earliest = t->deadline_ns;
  if (earliest < 0) {
    stop(OutcomeKind::deadlock,
         io_waiting ? "the database did not answer within 30 s; " + deadlock_report() : deadlock_report());
    return;
  }
  now_ns_ = std::max(now_ns_, earliest);
  for (const auto& t : tasks_) {
    if (t->state != SimTask::State::blocked || t->deadline_ns < 0 || t->deadline_ns > now_ns_) continue;
    if (t->waiting_on != nullptr) t->waiting_on->remove(t.get());
    wake(t.get());
    t->timed_out = true;
  }
  next_ = decide(nullptr, "clock", StepKind::idle, false).next;
}

void SimCore::task_main(SimTask* t) noexcept {
  t->started = true;
  if (!aborting_) {
    try {
      t->fn();
    } catch (const Abandon&) {
    } catch (const InjectedCrash&) {
      t->crashed = true;
    } catch (...) {
      if (!aborting_) t->error = std::current_exception();
    }
  }
  t->state = SimTask::State::done;
  t->at = "end";
  t->joiners.wake_all();
  if (!aborting_ && !t->error) next_ = decide(t, "end", StepKind::finish, false).next;
}

void SimCore::enter(SimTask* task) {
  current_ = task;
  t_sim = this;
  saved_sink_ = exchange_point_sink(this);
}

void SimCore::leave() {
  exchange_point_sink(saved_sink_);
  t_sim = nullptr;
  current_ = nullptr;
}

void SimCore::teardown() {
  aborting_ = true;
  for (std::size_t i = 0; i < tasks_.size(); ++i) {  // by index: teardown may spawn (never-run) tasks
    SimTask* t = tasks_[i].get();
    if (t->state == SimTask::State::done || !t->started) {
      t->state = SimTask::State::done;
      continue;
    }
    t->state = SimTask::State::ready;
    enter(t);
    executor_->resume(*t);
    leave();
    if (!executor_->finished(*t)) {
      executor_->give_up(*t);
      gave_up_ = true;
      teardown_notes_ += "\n  teardown: task '" + t->name + "' did not end after the run stopped (still at " +
                         std::string(t->at) + " after " + std::to_string(kTeardownOpsMax) +
                         " operations): it catches racelab's unwind signal and goes on, or loops "
                         "in a destructor; its stack was leaked";
    }
    t->state = SimTask::State::done;
  }
}

Outcome SimCore::run() {
  if (ran_) throw SimulationError("racelab: Simulation::run() called twice; make one Simulation per run");
  if (t_sim != nullptr)
    throw SimulationError("racelab: Simulation::run() called from inside a simulated task");
  ran_ = running_ = true;
  initial_tasks_ = tasks_.size();
  struct Armed {  // points armed on this thread while the run lasts, even if it throws
    Armed() { arm_thread(); }
    ~Armed() { disarm_thread(); }
    Armed(const Armed&) = delete;
    Armed& operator=(const Armed&) = delete;
  } armed;
  strategy_->begin_run(random_);
  next_ = decide(nullptr, "start", StepKind::idle, false).next;
  while (!stopped_) {
    if (next_ == nullptr) {
      bool all_done = std::all_of(tasks_.begin(), tasks_.end(),
                                  [](const auto& t) { return t->state == SimTask::State::done; });
      if (all_done) break;
      advance_clock_or_stop();
      continue;
    }
    SimTask* t = next_;
    next_ = nullptr;
    enter(t);
    executor_->resume(*t);
    leave();
    if (t->state == SimTask::State::done && t->error) stop(OutcomeKind::failure, describe_error(*t));
  }
  if (replay_ != nullptr && !stopped_) {
    if (auto left = replay_->leftover(); !left.empty())
      stop(OutcomeKind::diverged, "schedule diverged: the run ended before the schedule's switch " + left);
  }
  teardown();
  running_ = false;
  if (!teardown_notes_.empty()) message_ += teardown_notes_;
  outcome_ = OutcomeAccess::make_reusing(spare_outcome_, kind_, message_, options_.seed,
                                         replay_ != nullptr ? std::string_view("replay") : options_.strategy,
                                         trace_, steps_);
  return outcome_;
}

// --- the sync primitives' entry points ----------------------------------------------------------

void sim_sync_point(const char* point) { t_sim->at_point(point, false, true); }

void sim_sync_point_nothrow(const char* point) noexcept { t_sim->at_point(point, false, false); }

SimTask* sim_current_task() noexcept { return t_sim != nullptr ? t_sim->current() : nullptr; }

const std::string& sim_task_name(const SimTask* task) noexcept { return task->name; }

WaitResult WaitList::wait(const char* point, std::string_view why, std::int64_t timeout_ns, bool may_throw,
                          WaitDescribe describe, const void* object) {
  SimCore* core = t_sim;
  SimTask* me = core->current();
  const std::int64_t deadline = timeout_ns >= 0 ? core->now_ns() + timeout_ns : -1;
  if (!core->aborting()) tasks_.push_back(me);
  try {
    auto result = core->block(point, why, deadline, this, may_throw, describe, object);
    if (result == WaitResult::abandoned) remove(me);
    return result;
  } catch (...) {
    remove(me);
    throw;
  }
}

void WaitList::wake_one() noexcept {
  if (tasks_.empty()) return;
  SimTask* t = tasks_.front();
  tasks_.erase(tasks_.begin());
  t_sim->wake(t);
}

void WaitList::wake_all() noexcept {
  if (tasks_.empty()) return;
  for (auto* t : tasks_) t_sim->wake(t);
  tasks_.clear();
}

void WaitList::remove(SimTask* task) noexcept {
  auto it = std::find(tasks_.begin(), tasks_.end(), task);
  if (it != tasks_.end()) tasks_.erase(it);
}

}  // namespace racelab::detail
