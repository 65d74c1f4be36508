// The hooks engine: actions bound to points, run on the threads that hit them.
//
// One mutex (`State::mu`) guards every scope and action; one condition variable wakes every kind of
// waiter (barrier, order, delay, a destructor waiting for callbacks). Hooks sit on the slow path of
// armed points only, so simplicity wins over throughput here. Callbacks run with the mutex released.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "racelab/detail/hooks_state.hpp"
#include "racelab/hooks.hpp"

namespace racelab {
namespace detail {

enum class ActionKind { before, after, delay, barrier, order, fault };

struct Action {
  ActionKind kind{};
  std::vector<std::string> names;  // the point names it listens to
  std::string display;             // as armed, for messages
  Hooks::Callback fn;
  std::chrono::nanoseconds duration{0};  // delay: the sleep; barrier/order: the timeout
  int count = 0;                         // barrier size
  std::string first;                     // order: the point that must be passed first
  Fault fault = Fault::crash;            // fault: which
  std::int64_t remaining = -1;           // -1: always
  std::optional<std::string> thread;     // only threads with this label
  std::uint64_t fired = 0;
  // Barrier state: arrivals of the current generation and who they are.
  std::uint64_t generation = 0;
  int arrived = 0;
  std::vector<std::string> waiting;
  struct Scope* scope = nullptr;
};

struct Scope {
  std::vector<std::shared_ptr<Action>> actions;
  std::map<std::string, std::uint64_t, std::less<>> hits;
  std::map<std::string, std::uint64_t, std::less<>> passed;
  std::vector<HookTimeout> timeouts;
  int in_flight = 0;  // threads inside a callback or a wait of this scope
  bool closed = false;
};

namespace {

// Who waits where, for timeout messages that show the whole picture.
struct Wait {
  std::string thread;
  std::string point;
  std::string what;
};

struct State {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<Scope>> scopes;
  std::atomic<int> open_scopes{0};  // scopes.size(), readable without the lock
  std::vector<const Wait*> waits;
};

// Leaked on purpose: points may be hit during static destruction.
State& state() {
  static auto* s = new State;
  return *s;
}

// The actions whose callbacks the calling thread is running, innermost last.
thread_local std::vector<const Action*> t_running;

bool listens(const Action& a, std::string_view name) {
  return std::find(a.names.begin(), a.names.end(), name) != a.names.end();
}

// Takes one firing of `a` if it may fire now. Caller holds the mutex.
bool claim(Action& a) {
  if (a.scope->closed || a.remaining == 0) return false;
  if (a.remaining > 0) --a.remaining;
  ++a.fired;
  return true;
}

void bump(std::map<std::string, std::uint64_t, std::less<>>& m, std::string_view key) {
  auto it = m.find(key);
  if (it == m.end()) it = m.emplace(std::string(key), 0).first;
  ++it->second;
}

std::uint64_t lookup(const std::map<std::string, std::uint64_t, std::less<>>& m, std::string_view key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

// Marks the calling thread as busy in `scope` (so ~Hooks waits for it) and publishes its wait.
class InFlight {
 public:
  InFlight(State& st, Scope& scope, Wait* wait) : st_(st), scope_(scope), wait_(wait) {
    ++scope_.in_flight;
    if (wait_ != nullptr) st_.waits.push_back(wait_);
  }
  ~InFlight() {
    --scope_.in_flight;
    if (wait_ != nullptr) st_.waits.erase(std::find(st_.waits.begin(), st_.waits.end(), wait_));
    st_.cv.notify_all();
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  State& st_;
  Scope& scope_;
  Wait* wait_;
};

std::string describe_waits(const State& st) {
  std::ostringstream out;
  for (const Wait* w : st.waits)
    out << "\n    " << w->thread << " waits at '" << w->point << "' (" << w->what << ")";
  return out.str();
}

void record_timeout(State& st, Scope& scope, HookTimeout t) {
  t.message += "; threads waiting in hooks right now:" + describe_waits(st);
  std::cerr << "racelab: hook timeout: " << t.message << '\n';
  scope.timeouts.push_back(std::move(t));
}

void run_callback(std::unique_lock<std::mutex>& lk, State& st, Action& a) {
  InFlight busy(st, *a.scope, nullptr);
  t_running.push_back(&a);
  lk.unlock();
  struct Relock {
    std::unique_lock<std::mutex>& lk;
    ~Relock() {
      lk.lock();
      t_running.pop_back();
    }
  } relock{lk};
  a.fn();
}

void wait_order(std::unique_lock<std::mutex>& lk, State& st, Action& a, std::string_view name,
                const std::string& me) {
  Scope& s = *a.scope;
  auto done = [&] { return s.closed || lookup(s.passed, a.first) > 0; };
  if (done()) return;
  Wait wait{me, std::string(name), "order: until '" + a.first + "' is passed"};
  InFlight busy(st, s, &wait);
  if (st.cv.wait_for(lk, a.duration, done)) return;
  HookTimeout t{std::string(name), "order", {me}, {}};
  t.message = "order '" + a.first + "' -> '" + std::string(name) + "': " + me + " waited " +
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(a.duration).count()) +
              " ms at '" + std::string(name) + "' for '" + a.first + "', which no thread passed; released it";
  record_timeout(st, s, std::move(t));
}

void wait_barrier(std::unique_lock<std::mutex>& lk, State& st, Action& a, std::string_view name,
                  const std::string& me) {
  Scope& s = *a.scope;
  if (s.closed || a.remaining == 0) return;
  const std::uint64_t generation = a.generation;
  ++a.arrived;
  a.waiting.push_back(me);
  if (a.arrived == a.count) {  // the group is complete: release it and start the next one
    ++a.generation;
    a.arrived = 0;
    a.waiting.clear();
    ++a.fired;
    if (a.remaining > 0) --a.remaining;
    st.cv.notify_all();
    return;
  }
  Wait wait{me, std::string(name), "barrier: " + std::to_string(a.count) + " arrivals"};
  InFlight busy(st, s, &wait);
  if (st.cv.wait_for(lk, a.duration, [&] { return s.closed || a.generation != generation; })) return;
  // This waiter's time ran out first: break the group so that every waiter in it is released and
  // the next arrival starts a fresh group with a correct count.
  HookTimeout t{std::string(name), "barrier", a.waiting, {}};
  std::string who;
  for (const auto& w : a.waiting) who += (who.empty() ? "" : ", ") + w;
  t.message = "barrier at '" + std::string(name) + "' timed out after " +
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(a.duration).count()) +
              " ms with " + std::to_string(a.arrived) + " of " + std::to_string(a.count) + " arrivals (" +
              who + "); released them";
  ++a.generation;
  a.arrived = 0;
  a.waiting.clear();
  record_timeout(st, s, std::move(t));
}

void wait_delay(std::unique_lock<std::mutex>& lk, State& st, Action& a, std::string_view name,
                const std::string& me) {
  Scope& s = *a.scope;
  Wait wait{me, std::string(name), "delay"};
  InFlight busy(st, s, &wait);
  st.cv.wait_for(lk, a.duration, [&] { return s.closed; });
}

}  // namespace

std::optional<Fault> run_point_hooks(std::string_view name, FaultSet offered) {
  State& st = state();
  // Points armed by something else (a PointLog, a simulation elsewhere) pass without the lock. A
  // scope opened this very moment may be missed once, as with arming itself (see point.hpp).
  if (st.open_scopes.load(std::memory_order_acquire) == 0) return std::nullopt;
  std::unique_lock lk(st.mu);
  if (st.scopes.empty()) return std::nullopt;
  const std::string& me = thread_label();

  std::vector<std::shared_ptr<Action>> matched;
  std::vector<std::shared_ptr<Scope>> scopes = st.scopes;  // keeps each scope alive until we return
  for (const auto& scope : scopes) {
    bump(scope->hits, name);
    for (const auto& a : scope->actions) {
      if (!listens(*a, name)) continue;
      if (a->thread && *a->thread != me) continue;
      if (std::find(t_running.begin(), t_running.end(), a.get()) != t_running.end()) continue;
      matched.push_back(a);
    }
  }
  auto each = [&](ActionKind kind, auto&& fn) {
    for (const auto& a : matched)
      if (a->kind == kind) fn(*a);
  };

  each(ActionKind::before, [&](Action& a) {
    if (claim(a)) run_callback(lk, st, a);
  });
  each(ActionKind::order, [&](Action& a) {
    if (claim(a)) wait_order(lk, st, a, name, me);
  });
  each(ActionKind::barrier, [&](Action& a) { wait_barrier(lk, st, a, name, me); });
  each(ActionKind::delay, [&](Action& a) {
    if (claim(a)) wait_delay(lk, st, a, name, me);
  });
  for (const auto& scope : scopes) bump(scope->passed, name);
  if (!st.waits.empty()) st.cv.notify_all();  // an order may be waiting for this point
  each(ActionKind::after, [&](Action& a) {
    if (claim(a)) run_callback(lk, st, a);
  });
  // A fault last: the point has been passed (its waits and callbacks ran), and the call it stands
  // for fails. The first armed fault the point can produce wins; the others keep their firings.
  std::optional<Fault> fault;
  each(ActionKind::fault, [&](Action& a) {
    if (!fault && offered.contains(a.fault) && claim(a)) fault = a.fault;
  });
  return fault;
}

namespace {

// Set while RACELAB_HOOKS is armed during static initialisation, when not every point has
// registered yet, so "unknown point" warnings would be wrong.
bool g_quiet_unknown_points = false;

// Arms RACELAB_HOOKS for the life of the process. A malformed spec stops the program: a test run
// that silently ignored the hooks it was told to use would pass for the wrong reason.
const bool g_env_hooks_armed = [] {
  const char* spec = std::getenv("RACELAB_HOOKS");
  if (spec == nullptr || *spec == '\0') return false;
  try {
    auto* hooks = new Hooks;  // leaked: lives as long as the process
    g_quiet_unknown_points = true;
    hooks->arm(spec);
    g_quiet_unknown_points = false;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "racelab: RACELAB_HOOKS rejected: %s\n", e.what());
    std::exit(2);
  }
  return true;
}();

}  // namespace
}  // namespace detail

// --- ActionRef ---------------------------------------------------------------------------------

ActionRef& ActionRef::times(std::int64_t n) {
  if (n < 0) throw std::invalid_argument("racelab: ActionRef::times(n) needs n >= 0");
  std::lock_guard lk(detail::state().mu);
  action_->remaining = n;
  return *this;
}

ActionRef& ActionRef::always() {
  std::lock_guard lk(detail::state().mu);
  action_->remaining = -1;
  return *this;
}

ActionRef& ActionRef::on_thread(std::string label) {
  std::lock_guard lk(detail::state().mu);
  action_->thread = std::move(label);
  return *this;
}

ActionRef& ActionRef::timeout(std::chrono::nanoseconds limit) {
  if (limit <= std::chrono::nanoseconds::zero())
    throw std::invalid_argument("racelab: ActionRef::timeout needs a positive duration");
  std::lock_guard lk(detail::state().mu);
  action_->duration = limit;
  return *this;
}

std::uint64_t ActionRef::fired() const {
  std::lock_guard lk(detail::state().mu);
  return action_->fired;
}

// --- Hooks -------------------------------------------------------------------------------------

Hooks::Hooks() : scope_(std::make_shared<detail::Scope>()) {
  auto& st = detail::state();
  std::lock_guard lk(st.mu);
  st.scopes.push_back(scope_);
  st.open_scopes.store(static_cast<int>(st.scopes.size()), std::memory_order_release);
  detail::arm();
}

Hooks::~Hooks() {
  auto& st = detail::state();
  std::unique_lock lk(st.mu);
  scope_->closed = true;
  st.cv.notify_all();
  // A callback of this scope may be destroying it; do not wait for the calling thread itself.
  int mine = 0;
  for (const auto* a : detail::t_running)
    if (a->scope == scope_.get()) ++mine;
  while (!st.cv.wait_for(lk, std::chrono::seconds(5), [&] { return scope_->in_flight <= mine; })) {
    std::cerr << "racelab: ~Hooks is waiting for " << scope_->in_flight - mine
              << " callback(s) of this scope still running on other threads\n";
  }
  st.scopes.erase(std::find(st.scopes.begin(), st.scopes.end(), scope_));
  st.open_scopes.store(static_cast<int>(st.scopes.size()), std::memory_order_release);
  detail::disarm();
}

namespace {

std::vector<std::string> call_names(std::string_view point, std::string_view phase) {
  std::string p(point);
  if (p.ends_with(":before") || p.ends_with(":after")) return {p};
  return {p, p + ":" + std::string(phase)};
}

// Levenshtein distance, for "did you mean" hints.
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string suggestions(std::string_view name) {
  std::vector<std::pair<std::size_t, std::string>> near;
  for (const auto& p : points()) {
    auto d = distance(name, p.name);
    if (d <= std::max<std::size_t>(3, name.size() / 3)) near.emplace_back(d, p.name);
  }
  std::sort(near.begin(), near.end());
  std::string out;
  for (std::size_t i = 0; i < near.size() && i < 3; ++i)
    out += (i == 0 ? " Did you mean '" : ", '") + near[i].second + "'";
  return near.empty() ? out : out + "?";
}

bool registered(std::string_view name) {
  for (const auto& p : points())
    if (p.name == name) return true;
  return false;
}

}  // namespace

ActionRef Hooks::add(std::shared_ptr<detail::Action> action) {
  action->scope = scope_.get();
  bool known = std::any_of(action->names.begin(), action->names.end(), registered);
  if (action->kind == detail::ActionKind::order) known = known && registered(action->first);
  if (!known && !detail::g_quiet_unknown_points) {
    std::cerr << "racelab: warning: hook '" << action->display
              << "' names a point this program does not register." << suggestions(action->names[0]) << '\n';
  }
  auto& st = detail::state();
  std::lock_guard lk(st.mu);
  scope_->actions.push_back(action);
  return ActionRef(std::move(action));
}

ActionRef Hooks::after(std::string_view point, Callback fn) {
  auto a = std::make_shared<detail::Action>();
  a->kind = detail::ActionKind::after;
  a->names = call_names(point, "after");
  a->display = "after(" + std::string(point) + ")";
  a->fn = std::move(fn);
  a->remaining = 1;
  return add(std::move(a));
}

ActionRef Hooks::before(std::string_view point, Callback fn) {
  auto a = std::make_shared<detail::Action>();
  a->kind = detail::ActionKind::before;
  a->names = call_names(point, "before");
  a->display = "before(" + std::string(point) + ")";
  a->fn = std::move(fn);
  a->remaining = 1;
  return add(std::move(a));
}

ActionRef Hooks::delay(std::string_view point, std::chrono::nanoseconds duration) {
  if (duration < std::chrono::nanoseconds::zero())
    throw std::invalid_argument("racelab: Hooks::delay needs a duration >= 0");
  auto a = std::make_shared<detail::Action>();
  a->kind = detail::ActionKind::delay;
  a->names = {std::string(point)};
  a->display = "delay(" + std::string(point) + ")";
  a->duration = duration;
  return add(std::move(a));
}

ActionRef Hooks::fault(std::string_view point, Fault fault) {
  auto a = std::make_shared<detail::Action>();
  a->kind = detail::ActionKind::fault;
  a->names = {std::string(point)};
  a->display = "fault(" + std::string(point) + ", " + std::string(to_string(fault)) + ")";
  a->fault = fault;
  a->remaining = 1;
  return add(std::move(a));
}

ActionRef Hooks::barrier(std::string_view point, int count, std::chrono::nanoseconds timeout) {
  if (count < 1) throw std::invalid_argument("racelab: Hooks::barrier needs count >= 1");
  if (timeout <= std::chrono::nanoseconds::zero())
    throw std::invalid_argument("racelab: Hooks::barrier needs a positive timeout");
  auto a = std::make_shared<detail::Action>();
  a->kind = detail::ActionKind::barrier;
  a->names = {std::string(point)};
  a->display = "barrier(" + std::string(point) + ", " + std::to_string(count) + ")";
  a->count = count;
  a->duration = timeout;
  return add(std::move(a));
}

ActionRef Hooks::order(std::string_view first, std::string_view then, std::chrono::nanoseconds timeout) {
  if (timeout <= std::chrono::nanoseconds::zero())
    throw std::invalid_argument("racelab: Hooks::order needs a positive timeout");
  if (first == then) throw std::invalid_argument("racelab: Hooks::order needs two different points");
  auto a = std::make_shared<detail::Action>();
  a->kind = detail::ActionKind::order;
  a->names = {std::string(then)};
  a->first = std::string(first);
  a->display = "order(" + std::string(first) + " -> " + std::string(then) + ")";
  a->duration = timeout;
  return add(std::move(a));
}

void Hooks::arm(std::string_view spec) {
  auto entries = detail::parse_hook_spec(spec);  // throws before anything is armed
  for (const auto& e : entries) {
    switch (e.kind) {
      case detail::HookSpecEntry::Kind::delay: delay(e.point, e.duration); break;
      case detail::HookSpecEntry::Kind::barrier:
        barrier(e.point, e.count, e.duration.count() > 0 ? e.duration : kDefaultTimeout);
        break;
      case detail::HookSpecEntry::Kind::order:
        order(e.first, e.point, e.duration.count() > 0 ? e.duration : kDefaultTimeout);
        break;
      case detail::HookSpecEntry::Kind::fault: {
        auto ref = fault(e.point, e.fault);
        if (e.times < 0)
          ref.always();
        else
          ref.times(e.times);
        break;
      }
    }
  }
}

std::uint64_t Hooks::hits(std::string_view point) const {
  std::lock_guard lk(detail::state().mu);
  return detail::lookup(scope_->hits, point);
}

void Hooks::expect_hit(std::string_view point, std::uint64_t at_least) const {
  auto n = hits(point);
  if (n >= at_least) return;
  std::string why =
      registered(point) ? "" : " No point of that name is registered in this program." + suggestions(point);
  throw WindowNotEntered("racelab: race window '" + std::string(point) + "' was hit " + std::to_string(n) +
                         " time(s) during this Hooks scope; the test needs at least " +
                         std::to_string(at_least) + "." + why);
}

std::vector<HookTimeout> Hooks::timeouts() const {
  std::lock_guard lk(detail::state().mu);
  return scope_->timeouts;
}

std::size_t Hooks::timeout_count() const {
  std::lock_guard lk(detail::state().mu);
  return scope_->timeouts.size();
}

}  // namespace racelab
