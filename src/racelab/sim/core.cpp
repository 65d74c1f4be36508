// The scheduler behind racelab::Simulation. See core.hpp for the shape, simulation.hpp for the contract.
#include "racelab/sim/core.hpp"

#include <cxxabi.h>

#include <poll.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>
#include <typeinfo>

#include "racelab/point.hpp"

namespace racelab {

struct Outcome::Data {
  OutcomeKind kind = OutcomeKind::ok;
  std::string message;
  std::uint64_t seed = 0;
  std::string strategy;
  Trace trace;
  std::uint64_t steps = 0;
  bool diverged = false;
};

namespace detail {

Outcome OutcomeAccess::make(OutcomeKind kind, std::string message, std::uint64_t seed, std::string strategy,
                            Trace trace, std::uint64_t steps, bool diverged) {
  Outcome out;
  out.data_ = std::make_shared<Outcome::Data>();
  auto& d = *out.data_;
  d.kind = kind;
  d.message = std::move(message);
  d.seed = seed;
  d.strategy = std::move(strategy);
  d.trace = std::move(trace);
  d.steps = steps;
  d.diverged = diverged;
  return out;
}

Outcome OutcomeAccess::with_failure(const Outcome& base, std::string message) {
  Outcome out;
  out.data_ = std::make_shared<Outcome::Data>(*base.data_);
  out.data_->kind = OutcomeKind::failure;
  out.data_->message = std::move(message);
  return out;
}

SimCore& OutcomeAccess::core(Simulation& sim) { return *sim.core_; }

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

}  // namespace

// Replaying a schedule: strict (a user's replay; any mismatch is a divergence) or lenient (the
// minimiser's; switches that do not apply are skipped and the default policy fills in).
struct SimCore::Replay {
  Schedule schedule;
  bool lenient = false;
  std::size_t next = 0;
  std::unordered_map<std::string, std::uint32_t> occurrences;

  std::uint32_t count(const SimTask* task, std::string_view point) {
    std::string key = task->name;
    key += '\x1f';
    key += point;
    return ++occurrences[key];
  }
  // The index of the entry for this arrival, or -1. Strict: only the next entry; lenient: any later.
  long match(const std::string& from, std::string_view point, std::uint32_t occurrence, bool crash) const {
    const auto& e = schedule.entries;
    for (std::size_t i = next; i < e.size(); ++i) {
      if (e[i].from == from && e[i].point == point && e[i].occurrence == occurrence && e[i].crash == crash)
        return static_cast<long>(i);
      if (!lenient) break;
    }
    return -1;
  }
  std::string upcoming() const {
    if (next >= schedule.entries.size()) return "(none left)";
    Schedule one{{schedule.entries[next]}};
    auto text = one.text();
    return text.substr(text.find(' ') + 1);
  }
};

SimCore::SimCore(SimOptions options, std::shared_ptr<Strategy> strategy)
    : options_(std::move(options)), strategy_(std::move(strategy)), random_(options_.seed) {
  if (options_.max_steps == 0) throw SimulationError("racelab: SimOptions::max_steps must be positive");
  if (options_.stack_size < 16 * 1024)
    throw SimulationError("racelab: SimOptions::stack_size must be >= 16 KiB");
  if (!(options_.crash_probability >= 0.0 && options_.crash_probability <= 1.0))
    throw SimulationError("racelab: SimOptions::crash_probability must be within [0, 1]");
  std::string_view filter = options_.crash_points;
  while (!filter.empty()) {
    auto comma = filter.find(',');
    auto item = filter.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) crash_filter_.emplace_back(item);
    if (comma == std::string_view::npos) break;
    filter.remove_prefix(comma + 1);
  }
  if (!options_.schedule.empty()) {
    replay_ = std::make_unique<Replay>();
    try {
      replay_->schedule = Schedule::parse(options_.schedule);
    } catch (const ScheduleParseError& e) {
      throw SimulationError(std::string("racelab: SimOptions::schedule: ") + e.what());
    }
  } else if (!strategy_) {
    try {
      strategy_ = detail::make_shared_strategy(options_.strategy);
    } catch (const StrategyError& e) {
      throw SimulationError(e.what());
    }
  }
  trace_.steps_.reserve(64);
  trace_.tasks_.reserve(4);
  tasks_.reserve(4);
  enabled_.reserve(8);
}

SimCore::~SimCore() = default;

void SimCore::use_replay(Schedule schedule, bool lenient) {
  replay_ = std::make_unique<Replay>();
  replay_->schedule = std::move(schedule);
  replay_->lenient = lenient;
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
  auto task = std::make_unique<SimTask>();
  task->index = static_cast<std::uint32_t>(tasks_.size());
  task->name = std::move(name);
  task->fn = std::move(fn);
  trace_.tasks_.push_back(task->name);
  tasks_.push_back(std::move(task));
  return tasks_.back().get();
}

void SimCore::stop(OutcomeKind kind, std::string message) {
  if (stopped_) return;
  stopped_ = true;
  kind_ = kind;
  message_ = std::move(message);
}

bool SimCore::crashable(std::string_view point) const {
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

bool SimCore::crash_here(SimTask* task, std::string_view point, std::uint32_t occurrence) {
  if (replay_) {
    long i = replay_->match(task->name, point, occurrence, true);
    if (i < 0) return false;
    replay_->next = static_cast<std::size_t>(i) + 1;
    return true;
  }
  return options_.crash_probability > 0.0 && crashable(point) && random_.chance(options_.crash_probability);
}

std::size_t SimCore::replay_pick(SimTask* from, std::string_view point, std::uint32_t occurrence,
                                 int current) {
  auto diverge = [&](const std::string& why) -> std::size_t {
    diverged_ = true;
    stop(OutcomeKind::failure, "schedule diverged at step " + std::to_string(steps_) + ": " + why);
    return current >= 0 ? static_cast<std::size_t>(current) : 0;
  };
  auto position_of = [&](const std::string& name) -> long {
    for (std::size_t i = 0; i < enabled_.size(); ++i)
      if (tasks_[enabled_[i]]->name == name) return static_cast<long>(i);
    return -1;
  };
  auto enabled_names = [&] {
    std::string s;
    for (auto idx : enabled_) s += (s.empty() ? "" : ", ") + tasks_[idx]->name;
    return s;
  };
  const std::string from_name = from != nullptr ? from->name : std::string();
  long i = from != nullptr ? replay_->match(from_name, point, occurrence, false) : -1;
  if (from == nullptr) {  // idle decisions take the next idle entry, in order
    auto& e = replay_->schedule.entries;
    for (std::size_t j = replay_->next; j < e.size(); ++j) {
      if (e[j].from.empty()) {
        i = static_cast<long>(j);
        break;
      }
      if (!replay_->lenient) break;
    }
  }
  if (i >= 0) {
    const auto& entry = replay_->schedule.entries[static_cast<std::size_t>(i)];
    replay_->next = static_cast<std::size_t>(i) + 1;
    long pos = position_of(entry.to);
    if (pos >= 0) return static_cast<std::size_t>(pos);
    if (!replay_->lenient)
      return diverge("the schedule switches to '" + entry.to +
                     "', which cannot run now (runnable: " + enabled_names() + ")");
  }
  if (current >= 0) return static_cast<std::size_t>(current);
  if (replay_->lenient) return 0;
  std::string where = from != nullptr ? "'" + from_name + "' reached " + std::string(point) + "#" +
                                            std::to_string(occurrence) + " and cannot go on"
                                      : "no task is running (" + std::string(point) + ")";
  return diverge(where + ", but the schedule's next switch is " + replay_->upcoming());
}

SimTask* SimCore::decide(SimTask* from, std::string_view point, StepKind kind, std::uint32_t occurrence) {
  if (stopped_) return nullptr;
  enabled_.clear();
  int current = -1;
  for (const auto& t : tasks_) {
    if (t->state != SimTask::State::ready) continue;
    if (t.get() == from) current = static_cast<int>(enabled_.size());
    enabled_.push_back(t->index);
  }
  if (enabled_.empty()) return nullptr;
  if (steps_ >= options_.max_steps) {
    std::string where;
    for (const auto& t : tasks_)
      if (t->state != SimTask::State::done) where += "\n  " + t->name + " at " + std::string(t->at);
    stop(OutcomeKind::step_limit, "step limit of " + std::to_string(options_.max_steps) +
                                      " decisions reached (a livelock, or raise max_steps); tasks:" + where);
    return nullptr;
  }
  ++steps_;
  std::size_t pos = replay_ ? replay_pick(from, point, occurrence, current)
                            : strategy_->pick(PickContext{enabled_, current, steps_, random_});
  SimTask* chosen = tasks_[enabled_[pos]].get();
  trace_.steps_.push_back(TraceStep{from != nullptr ? from->index : 0, point, kind, chosen->index, now_ns_});
  return chosen;
}

void SimCore::at_point(std::string_view point, bool user_point) {
  SimTask* me = current_;
  if (aborting_) return;  // unwinding an abandoned task: points are no-ops
  me->at = point;
  const std::uint32_t occurrence = replay_ ? replay_->count(me, point) : 0;
  if (user_point && (replay_ || options_.crash_probability > 0.0) && crash_here(me, point, occurrence)) {
    ++steps_;
    trace_.steps_.push_back(TraceStep{me->index, point, StepKind::crash, me->index, now_ns_});
    throw InjectedCrash(std::string(point));
  }
  SimTask* next = decide(me, point, StepKind::point, occurrence);
  if (next == me) return;
  next_ = next;
  me->fiber->switch_out();
  // Resumed only to unwind. A task already unwinding (a point in a destructor) just goes on.
  if (aborting_ && std::uncaught_exceptions() == 0) throw Abandon{};
}

bool SimCore::block(std::string_view point, std::string why, std::int64_t deadline_ns, WaitList* list) {
  SimTask* me = current_;
  if (aborting_) {
    if (std::uncaught_exceptions() == 0) throw Abandon{};
    return false;  // unwinding already: do not wait, do not throw from a destructor
  }
  me->state = SimTask::State::blocked;
  me->at = point;
  me->wait_why = std::move(why);
  me->deadline_ns = deadline_ns;
  me->timed_out = false;
  me->waiting_on = list;
  const std::uint32_t occurrence = replay_ ? replay_->count(me, point) : 0;
  next_ = decide(me, point, StepKind::block, occurrence);
  me->fiber->switch_out();
  if (aborting_) {
    if (std::uncaught_exceptions() == 0) throw Abandon{};
    return false;
  }
  return !me->timed_out;
}

void SimCore::wake(SimTask* task) {
  if (task->state != SimTask::State::blocked) return;
  task->state = SimTask::State::ready;
  task->deadline_ns = -1;
  task->waiting_on = nullptr;
  task->io_fd = -1;
}

void SimCore::wait_readable(int fd, std::string_view point, std::string why) {
  SimTask* me = current_;
  if (aborting_) throw Abandon{};
  me->io_fd = fd;
  try {
    static_cast<void>(block(point, std::move(why), -1, nullptr));
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
      out += "\n  " + t->name + " waits at " + std::string(t->at) + ": " + t->wait_why;
  return out;
}

void SimCore::advance_clock_or_stop() {
  // A database reply comes before virtual time moves on: give the server up to 30 s of real time.
  constexpr int kDatabaseWaitMs = 30'000;
  bool io_waiting = std::any_of(tasks_.begin(), tasks_.end(), [](const auto& t) {
    return t->state == SimTask::State::blocked && t->io_fd >= 0;
  });
  if (io_waiting) {
    if (poll_io(kDatabaseWaitMs)) {
      next_ = decide(nullptr, "io", StepKind::idle, 0);
      return;
    }
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
  next_ = decide(nullptr, "clock", StepKind::idle, 0);
}

void SimCore::task_main(SimTask* t) {
  t->started = true;
  if (!aborting_) {
    try {
      t->fn();
    } catch (const Abandon&) {
    } catch (const InjectedCrash&) {
      t->crashed = true;
    } catch (...) {
      t->error = std::current_exception();
    }
  }
  t->state = SimTask::State::done;
  t->at = "end";
  t->joiners.wake_all();
  if (!aborting_ && !t->error)
    next_ = decide(t, "end", StepKind::finish, replay_ ? replay_->count(t, "end") : 0);
}

void SimCore::teardown() {
  aborting_ = true;
  for (const auto& t : tasks_) {
    if (t->state == SimTask::State::done || !t->fiber) {
      t->state = SimTask::State::done;
      continue;
    }
    current_ = t.get();
    t_sim = this;
    for (int i = 0; i < 100 && !t->fiber->finished(); ++i) t->fiber->switch_in();
    t_sim = nullptr;
    current_ = nullptr;
    if (!t->fiber->finished()) {
      std::fprintf(stderr,
                   "racelab: task '%s' kept running after its run ended (it catches every exception, "
                   "including racelab's unwind signal); its stack is leaked\n",
                   t->name.c_str());
      static_cast<void>(t->fiber.release());
    }
  }
}

Outcome SimCore::run() {
  if (ran_) throw SimulationError("racelab: Simulation::run() called twice; make one Simulation per run");
  if (t_sim != nullptr)
    throw SimulationError("racelab: Simulation::run() called from inside a simulated task");
  ran_ = running_ = true;
  initial_tasks_ = tasks_.size();
  install_overflow_reporter();
  arm();
  if (strategy_) strategy_->begin_run(random_);
  next_ = decide(nullptr, "start", StepKind::idle, 0);
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
    if (!t->fiber) t->fiber = std::make_unique<Fiber>(options_.stack_size, [this, t] { task_main(t); });
    current_ = t;
    t_sim = this;
    set_running_task_name(t->name.c_str());
    t->fiber->switch_in();
    set_running_task_name(nullptr);
    t_sim = nullptr;
    current_ = nullptr;
    if (t->state == SimTask::State::done && t->error) stop(OutcomeKind::failure, describe_error(*t));
  }
  if (replay_ && !replay_->lenient && replay_->next < replay_->schedule.entries.size() && !stopped_) {
    diverged_ = true;
    stop(OutcomeKind::failure,
         "schedule diverged: the run ended before the schedule's switch " + replay_->upcoming());
  }
  teardown();
  disarm();
  running_ = false;
  outcome_ = OutcomeAccess::make(kind_, message_, options_.seed, replay_ ? "replay" : options_.strategy,
                                 std::move(trace_), steps_, diverged_);
  return outcome_;
}

// --- the sync primitives' entry points ----------------------------------------------------------

void sim_sync_point(const char* point) { t_sim->at_point(point, false); }

void sim_wait_readable(int fd, const char* point, const std::string& why) {
  t_sim->wait_readable(fd, point, why);
}

bool sim_unwinding() { return t_sim != nullptr && t_sim->aborting(); }

SimTask* sim_current_task() { return t_sim != nullptr ? t_sim->current() : nullptr; }

const std::string& sim_task_name(const SimTask* task) { return task->name; }

bool WaitList::wait(const char* point, const std::string& why, std::int64_t timeout_ns) {
  SimCore* core = t_sim;
  tasks_.push_back(core->current());
  const std::int64_t deadline = timeout_ns >= 0 ? core->now_ns() + timeout_ns : -1;
  try {
    return core->block(point, why, deadline, this);
  } catch (...) {
    remove(core->current());
    throw;
  }
}

void WaitList::wake_one() {
  if (tasks_.empty()) return;
  SimTask* t = tasks_.front();
  tasks_.erase(tasks_.begin());
  t_sim->wake(t);
}

void WaitList::wake_all() {
  auto waiting = std::move(tasks_);
  tasks_.clear();
  for (auto* t : waiting) t_sim->wake(t);
}

void WaitList::remove(SimTask* task) {
  auto it = std::find(tasks_.begin(), tasks_.end(), task);
  if (it != tasks_.end()) tasks_.erase(it);
}

}  // namespace detail

// --- Simulation --------------------------------------------------------------------------------

Simulation::Simulation(SimOptions options) : Simulation(std::move(options), nullptr) {}

Simulation::Simulation(SimOptions options, std::shared_ptr<Strategy> strategy)
    : core_(std::make_unique<detail::SimCore>(std::move(options), std::move(strategy))) {
  core_->owner = this;
}

Simulation::~Simulation() = default;

void Simulation::spawn(std::string name, std::function<void()> fn) {
  static_cast<void>(core_->spawn(std::move(name), std::move(fn)));
}

Outcome Simulation::run() { return core_->run(); }

bool Simulation::has_run() const { return core_->has_run(); }

const Outcome& Simulation::outcome() const { return core_->outcome(); }

std::chrono::nanoseconds Simulation::now() const { return std::chrono::nanoseconds(core_->now_ns()); }

Simulation* Simulation::current() { return detail::t_sim != nullptr ? detail::t_sim->owner : nullptr; }

void Simulation::check_serializable(std::function<std::string()> snapshot) {
  core_->snapshot = std::move(snapshot);
}

const std::function<std::string()>& Simulation::serializable_snapshot() const { return core_->snapshot; }

const SimOptions& Simulation::options() const { return core_->options(); }

std::size_t Simulation::task_count() const { return core_->task_count(); }

// --- Outcome -----------------------------------------------------------------------------------

Outcome::Outcome() {
  // A default Outcome (ok, nothing run) shares one empty record; OutcomeAccess gives each real
  // run its own.
  static const auto empty = std::make_shared<Data>();
  data_ = empty;
}
bool Outcome::ok() const { return data_->kind == OutcomeKind::ok; }
OutcomeKind Outcome::kind() const { return data_->kind; }
const std::string& Outcome::message() const { return data_->message; }
std::uint64_t Outcome::seed() const { return data_->seed; }
const std::string& Outcome::strategy() const { return data_->strategy; }
std::string Outcome::schedule() const { return Schedule::from_trace(data_->trace).text(); }
const Trace& Outcome::trace() const { return data_->trace; }
std::uint64_t Outcome::steps() const { return data_->steps; }
bool Outcome::diverged() const { return data_->diverged; }

std::string_view to_string(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::ok: return "ok";
    case OutcomeKind::failure: return "failure";
    case OutcomeKind::deadlock: return "deadlock";
    case OutcomeKind::step_limit: return "step_limit";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& out, const Outcome& o) {
  out << "seed " << o.seed() << " (" << o.strategy() << "): " << to_string(o.kind()) << " after " << o.steps()
      << " steps";
  if (!o.message().empty()) out << "\n  " << o.message();
  if (!o.ok()) {
    out << "\n  schedule: " << o.schedule() << "\n" << o.trace().timeline();
  }
  return out;
}

namespace detail {
void assertion_failed(const char* expr, const char* file, int line) {
  std::string where = file;
  if (auto slash = where.find_last_of('/'); slash != std::string::npos) where = where.substr(slash + 1);
  throw AssertionFailed("RACELAB_ASSERT(" + std::string(expr) + ") failed at " + where + ":" +
                        std::to_string(line));
}
}  // namespace detail

}  // namespace racelab
