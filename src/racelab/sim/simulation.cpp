// racelab::Simulation and racelab::Outcome: the public faces of the scheduler core (core.hpp).
#include "racelab/sim/simulation.hpp"

#include <atomic>
#include <ostream>

#include "racelab/detail/fiber.hpp"

#include "racelab/sim/core.hpp"

namespace racelab {

struct Outcome::Data {
  OutcomeKind kind = OutcomeKind::ok;
  std::string message;
  std::uint64_t seed = 0;
  std::string strategy;
  Trace trace;
  std::uint64_t steps = 0;
};

namespace detail {
namespace {
// ThreadSanitizer does not model fences (GCC refuses them under -fsanitize=thread), so there a
// record is never reused: every run's outcome gets a fresh one.
#if defined(__SANITIZE_THREAD__)
constexpr bool kReuseRecords = false;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kReuseRecords = false;
#else
constexpr bool kReuseRecords = true;
#endif
#else
constexpr bool kReuseRecords = true;
#endif
}  // namespace

Outcome OutcomeAccess::make_reusing(std::shared_ptr<void>& spare, OutcomeKind kind, std::string_view message,
                                    std::uint64_t seed, std::string_view strategy, Trace& trace,
                                    std::uint64_t steps) {
  std::shared_ptr<Outcome::Data> data;
  if constexpr (kReuseRecords) {
    if (spare && spare.use_count() == 1) {
      // The last other owner may have let go on another thread: its release decrement pairs with
      // this fence, so its reads of the record happen before the writes below.
      std::atomic_thread_fence(std::memory_order_acquire);
      data = std::static_pointer_cast<Outcome::Data>(std::move(spare));
      std::swap(data->trace.steps_, trace.steps_);
      std::swap(data->trace.tasks_, trace.tasks_);
      trace.steps_.clear();
      trace.tasks_.clear();
    }
  }
  if (!data) {
    spare.reset();
    data = std::make_shared<Outcome::Data>();
    data->trace = std::move(trace);
    trace = Trace{};
  }
  data->kind = kind;
  data->message.assign(message);
  data->seed = seed;
  data->strategy.assign(strategy);
  data->steps = steps;
  Outcome out;
  out.data_ = std::move(data);
  return out;
}

std::shared_ptr<void> OutcomeAccess::release(Outcome& outcome) {
  std::shared_ptr<void> data = std::move(outcome.data_);
  outcome = Outcome();
  return data;
}

Outcome OutcomeAccess::with_failure(const Outcome& base, std::string message, OutcomeKind kind) {
  Outcome out;
  out.data_ = std::make_shared<Outcome::Data>(base.data());
  out.data_->kind = kind;
  out.data_->message = std::move(message);
  return out;
}

SimCore& OutcomeAccess::core(Simulation& sim) { return *sim.core_; }

}  // namespace detail

Simulation::Simulation(SimOptions options) : Simulation(std::move(options), nullptr) {}

namespace {
// One finished core per thread, kept for the next Simulation: explore() and the benchmarks make one
// Simulation per run, and a reused core allocates almost nothing (see SimCore::reuse).
thread_local std::unique_ptr<detail::SimCore> t_spare_core;
}  // namespace

Simulation::Simulation(SimOptions options, std::shared_ptr<Strategy> strategy) {
  // The fiber stack pool must outlive the spare core at thread exit (thread-locals are destroyed in
  // reverse order of their construction): touch it first.
  detail::keep_stack_pool_alive();
  if (t_spare_core) {
    core_ = std::move(t_spare_core);
    try {
      core_->reuse(std::move(options), std::move(strategy));
    } catch (...) {
      t_spare_core = std::move(core_);
      throw;
    }
  } else {
    core_ = std::make_unique<detail::SimCore>(std::move(options), std::move(strategy));
  }
  core_->owner = this;
}

Simulation::~Simulation() {
  if (!core_) return;
  core_->release_run_state();  // the captures die now, as with a fresh core
  if (core_->recyclable() && !t_spare_core) t_spare_core = std::move(core_);
}

void Simulation::spawn(std::string name, std::function<void()> fn) {
  static_cast<void>(core_->spawn(std::move(name), std::move(fn)));
}

Outcome Simulation::run() { return core_->run(); }

bool Simulation::has_run() const { return core_->has_run(); }

const Outcome& Simulation::outcome() const { return core_->outcome(); }

void Simulation::end(std::string note) {
  if (detail::t_sim != core_.get())
    throw SimulationError("racelab: Simulation::end() called outside a task of this simulation");
  core_->end(std::move(note));
}

std::chrono::nanoseconds Simulation::now() const { return std::chrono::nanoseconds(core_->now_ns()); }

Simulation* Simulation::current() { return detail::t_sim != nullptr ? detail::t_sim->owner : nullptr; }

void Simulation::check_serializable(std::function<std::string()> snapshot) {
  core_->snapshot = std::move(snapshot);
}

const std::function<std::string()>& Simulation::serializable_snapshot() const { return core_->snapshot; }

const SimOptions& Simulation::options() const { return core_->options(); }

std::size_t Simulation::task_count() const { return core_->task_count(); }

// --- Outcome -----------------------------------------------------------------------------------

// A default Outcome (ok, nothing run) has no record and reads an empty one: constructing one
// touches no shared reference count, which explore()'s workers would otherwise all write to.
// OutcomeAccess gives each real run its own record.
Outcome::Outcome() = default;
const Outcome::Data& Outcome::data() const {
  static const Data& empty = *new Data;  // never destroyed: outcomes may be read during exit
  return data_ ? *data_ : empty;
}
bool Outcome::ok() const { return data().kind == OutcomeKind::ok; }
OutcomeKind Outcome::kind() const { return data().kind; }
const std::string& Outcome::message() const { return data().message; }
std::uint64_t Outcome::seed() const { return data().seed; }
const std::string& Outcome::strategy() const { return data().strategy; }
std::string Outcome::schedule() const { return Schedule::from_trace(data().trace).text(); }
const Trace& Outcome::trace() const { return data().trace; }
std::uint64_t Outcome::steps() const { return data().steps; }
bool Outcome::diverged() const { return data().kind == OutcomeKind::diverged; }

std::string_view to_string(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::ok: return "ok";
    case OutcomeKind::failure: return "failure";
    case OutcomeKind::deadlock: return "deadlock";
    case OutcomeKind::step_limit: return "step_limit";
    case OutcomeKind::diverged: return "diverged";
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
