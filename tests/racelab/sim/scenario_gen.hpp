// Random task programs for the engine's property tests: a generator seeded by its own PRNG (never
// the engine's seed), a printer that shows a program as a human would write it, an interpreter
// that runs it on racelab's drop-in types, and a shrinker that cuts a failing program down.
//
// A Scenario is 2-4 top-level tasks, each a short tree of ops: points, yields, sleeps, atomics, a
// non-atomic read-modify-write across a point (and a RACELAB_ASSERT that catches its lost update),
// scoped locks on two mutexes, condition-variable and WaitQueue waits and notifies, child threads
// that are joined, and exceptions thrown and caught whose handlers switch tasks before rethrowing.
// An `ordered` scenario takes locks in one global order and never waits without a timeout, so it
// cannot deadlock; an unordered one may, and a deadlock is an outcome that must replay too.
//
//   sim_prop::Scenario sc = sim_prop::generate(17);
//   std::cout << sim_prop::describe(sc);                 // the program, one op a line
//   racelab::Simulation sim({.seed = 3, .crash_probability = sc.crash_probability,
//                            .crash_points = sim_prop::kCrashPoints});
//   auto state = sim_prop::spawn_tasks(sim, sc);         // what the tasks share, per run
//   auto out = sim.run();
#pragma once

#include <racelab/racelab.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace sim_prop {

inline constexpr const char* kCrashPoints = "prop.*";

enum class OpKind : std::uint8_t {
  point,         // RACELAB_POINT at prop.a .. prop.d (a = 0..3)
  yield,         // this_thread::yield()
  sleep,         // this_thread::sleep_for(a ms), a = 0..3
  fetch_add,     // hits.fetch_add(1)
  racy_add,      // v = plain; RACELAB_POINT("prop.window"); plain = v + 1; ++completed
  check,         // RACELAB_ASSERT(plain == completed): fails after a lost update
  locked,        // lock_guard (or try_lock when b == 1) on mutex m<a>, then body
  cv_wait,       // unique_lock cv_m; cv.wait_for(a ms, flag >= b), or cv.wait(...) when a < 0
  cv_notify,     // lock cv_m; ++flag; notify_one (b == 0) or notify_all (b == 1)
  queue_wait,    // queue.wait(a ms), or forever when a < 0
  queue_notify,  // queue.notify_one (b == 0) or notify_all (b == 1), then RACELAB_POINT("prop.queue")
  spawn,         // racelab::thread running body; meanwhile the parent runs `other`; join
  throw_catch,   // try { throw runtime_error("t<a>") } catch (...) { body; throw; and check }
  fault_call,    // a call whose point prop.fault offers faults: failed += what came back
};

struct Op {
  OpKind kind = OpKind::point;
  int a = 0;
  int b = 0;
  std::vector<Op> body;
  std::vector<Op> other;  // spawn only: what the parent does while the child runs
};

struct Scenario {
  std::uint64_t generator_seed = 0;
  bool ordered = true;  // locks in one global order, every wait timed: no deadlock possible
  double crash_probability = 0.0;
  std::string faults;                  // SimOptions::faults: "all" or "" (crashes only)
  std::vector<std::vector<Op>> tasks;  // top-level tasks A, B, C, D
};

inline const char* task_name(std::size_t i) {
  static constexpr const char* kNames[] = {"A", "B", "C", "D", "E", "F"};
  return kNames[i];
}

// --- the generator ----------------------------------------------------------------------------

namespace detail {

struct Gen {
  std::mt19937_64 rng;
  bool ordered = true;
  int next_tag = 1;
  int below(int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); }
  bool chance(int percent) { return below(100) < percent; }
};

// Where an op is generated: how deep, and which mutexes the task holds there (bit i: m<i>).
struct Where {
  int depth = 0;
  unsigned held = 0;
};

inline std::vector<Op> gen_ops(Gen& g, Where w, int count);

inline Op gen_op(Gen& g, Where w) {
  static constexpr OpKind kLeaves[] = {
      OpKind::point,      OpKind::point,        OpKind::yield,     OpKind::sleep,   OpKind::fetch_add,
      OpKind::racy_add,   OpKind::racy_add,     OpKind::check,     OpKind::cv_wait, OpKind::cv_notify,
      OpKind::queue_wait, OpKind::queue_notify, OpKind::fault_call};
  const bool nest = w.depth < 2 && g.chance(35);
  Op op;
  op.kind = nest ? std::array{OpKind::locked, OpKind::spawn, OpKind::throw_catch}[g.below(3)]
                 : kLeaves[g.below(static_cast<int>(std::size(kLeaves)))];
  // A lock the task may take here: in an ordered scenario only above every mutex it holds; in
  // any scenario never one it holds (that is misuse, not a race). Ordered scenarios never join a
  // child while holding a lock (the child may need it).
  std::vector<int> lockable;
  for (int m = 0; m < 2; ++m)
    if ((w.held >> m) == 0 || (!g.ordered && (w.held & (1u << m)) == 0)) lockable.push_back(m);
  if (op.kind == OpKind::locked && lockable.empty()) op.kind = OpKind::throw_catch;
  if (op.kind == OpKind::spawn && g.ordered && w.held != 0) op.kind = OpKind::throw_catch;
  const Where inner{w.depth + 1, w.held};
  switch (op.kind) {
    case OpKind::point: op.a = g.below(4); break;
    case OpKind::sleep: op.a = g.below(4); break;
    case OpKind::locked:
      op.a = lockable[static_cast<std::size_t>(g.below(static_cast<int>(lockable.size())))];
      op.b = g.chance(20) ? 1 : 0;
      op.body = gen_ops(g, {w.depth + 1, w.held | (1u << op.a)}, 1 + g.below(3));
      break;
    case OpKind::cv_wait:
      op.a = !g.ordered && g.chance(30) ? -1 : g.below(4);
      op.b = 1 + g.below(2);
      break;
    case OpKind::queue_wait: op.a = !g.ordered && g.chance(30) ? -1 : g.below(4); break;
    case OpKind::cv_notify:
    case OpKind::queue_notify: op.b = g.below(2); break;
    case OpKind::spawn:
      op.body = gen_ops(g, {w.depth + 1, 0}, 1 + g.below(3));
      op.other = gen_ops(g, inner, g.below(3));
      break;
    case OpKind::throw_catch:
      op.a = g.next_tag++;
      op.body = gen_ops(g, inner, 1 + g.below(3));
      break;
    default: break;
  }
  return op;
}

inline std::vector<Op> gen_ops(Gen& g, Where w, int count) {
  std::vector<Op> ops;
  for (int i = 0; i < count; ++i) ops.push_back(gen_op(g, w));
  return ops;
}

}  // namespace detail

// The scenario for one generator seed: the same seed gives the same program on every machine
// (mt19937_64's sequence is fixed by the standard; only `%` is used to draw from it).
inline Scenario generate(std::uint64_t seed) {
  detail::Gen g{std::mt19937_64(seed)};
  Scenario sc;
  sc.generator_seed = seed;
  sc.ordered = g.ordered = g.chance(50);
  sc.crash_probability = g.chance(25) ? std::array{0.1, 0.3}[g.below(2)] : 0.0;
  sc.faults = sc.crash_probability > 0 && g.chance(50) ? "all" : "";
  const int tasks = 2 + g.below(3);
  for (int t = 0; t < tasks; ++t) sc.tasks.push_back(detail::gen_ops(g, {}, 2 + g.below(5)));
  return sc;
}

// --- printing ---------------------------------------------------------------------------------

namespace detail {

inline void describe_ops(std::string& out, const std::vector<Op>& ops, int indent);

inline void describe_op(std::string& out, const Op& op, int indent) {
  static constexpr const char* kPoints[] = {"prop.a", "prop.b", "prop.c", "prop.d"};
  const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  const std::string ms = std::to_string(op.a) + "ms";
  const char* which = op.b == 0 ? "notify_one" : "notify_all";
  switch (op.kind) {
    case OpKind::point: out += pad + "point " + kPoints[op.a] + "\n"; break;
    case OpKind::yield: out += pad + "yield\n"; break;
    case OpKind::sleep: out += pad + "sleep " + ms + "\n"; break;
    case OpKind::fetch_add: out += pad + "hits.fetch_add(1)\n"; break;
    case OpKind::fault_call: out += pad + "call prop.fault (timeout, deadlock, lost_before)\n"; break;
    case OpKind::racy_add: out += pad + "v = plain; point prop.window; plain = v + 1; ++completed\n"; break;
    case OpKind::check: out += pad + "RACELAB_ASSERT(plain == completed)\n"; break;
    case OpKind::cv_wait:
      out += pad + "cv." + (op.a < 0 ? "wait" : "wait_for " + ms) + " until flag >= " + std::to_string(op.b) +
             "\n";
      break;
    case OpKind::cv_notify: out += pad + "++flag; cv." + which + "\n"; break;
    case OpKind::queue_wait: out += pad + "queue.wait " + (op.a < 0 ? "forever" : ms) + "\n"; break;
    case OpKind::queue_notify: out += pad + "queue." + which + "; point prop.queue\n"; break;
    case OpKind::locked:
      out += pad + (op.b == 1 ? "if try_lock m" : "lock m") + std::to_string(op.a) + " {\n";
      describe_ops(out, op.body, indent + 1);
      out += pad + "}\n";
      break;
    case OpKind::spawn:
      out += pad + "spawn {\n";
      describe_ops(out, op.body, indent + 1);
      out += pad + "} meanwhile {\n";
      describe_ops(out, op.other, indent + 1);
      out += pad + "} join\n";
      break;
    case OpKind::throw_catch:
      out += pad + "throw \"t" + std::to_string(op.a) + "\" catch (...) {\n";
      describe_ops(out, op.body, indent + 1);
      out += pad + "  throw; and check it is \"t" + std::to_string(op.a) + "\"\n" + pad + "}\n";
      break;
  }
}

inline void describe_ops(std::string& out, const std::vector<Op>& ops, int indent) {
  for (const auto& op : ops) describe_op(out, op, indent);
}

inline int count_ops(const std::vector<Op>& ops) {
  int n = 0;
  for (const auto& op : ops) n += 1 + count_ops(op.body) + count_ops(op.other);
  return n;
}

}  // namespace detail

inline int size(const Scenario& sc) {
  int n = 0;
  for (const auto& t : sc.tasks) n += detail::count_ops(t);
  return n;
}

inline std::string describe(const Scenario& sc) {
  std::string out = "scenario " + std::to_string(sc.generator_seed) + ": " + std::to_string(sc.tasks.size()) +
                    " tasks, " +
                    (sc.ordered ? "locks in order m0 < m1, every wait timed" : "locks in any order") +
                    (sc.crash_probability > 0
                         ? ", crashes p=" + std::to_string(sc.crash_probability).substr(0, 3) + " at " +
                               kCrashPoints + (sc.faults.empty() ? "" : " (faults: " + sc.faults + ")")
                         : std::string()) +
                    "\n";
  for (std::size_t t = 0; t < sc.tasks.size(); ++t) {
    out += std::string("  ") + task_name(t) + ":\n";
    detail::describe_ops(out, sc.tasks[t], 2);
  }
  return out;
}

// --- running ----------------------------------------------------------------------------------

// What the tasks of one run share. Made fresh for each run, so runs are independent.
struct State {
  racelab::mutex m0{"m0"}, m1{"m1"}, cv_m{"cv_m"};
  racelab::condition_variable cv;
  racelab::WaitQueue queue;
  racelab::atomic<int> hits{0};
  int flag = 0;
  int plain = 0;                 // updated non-atomically by racy_add
  int completed = 0;             // racy_adds that finished
  int failed = 0;                // fault_calls that came back failed, weighted by the fault
  std::string exception_errors;  // what a task saw of exception state that was not its own

  racelab::mutex& mutex(int i) { return i == 0 ? m0 : m1; }
  // Everything a run leaves behind, for comparing two runs.
  std::string text() {
    return "hits=" + std::to_string(hits.load()) + " flag=" + std::to_string(flag) +
           " plain=" + std::to_string(plain) + " completed=" + std::to_string(completed) +
           " failed=" + std::to_string(failed);
  }
  void note(const std::string& what) {
    if (exception_errors.size() < 2000) exception_errors += what + "\n";
  }
};

inline void run_ops(const std::vector<Op>& ops, const std::shared_ptr<State>& s);

namespace detail {

inline void point(int which) {
  switch (which) {
    case 0: RACELAB_POINT("prop.a"); break;
    case 1: RACELAB_POINT("prop.b"); break;
    case 2: RACELAB_POINT("prop.c"); break;
    default: RACELAB_POINT("prop.d"); break;
  }
}

// Joins on every exit, an injected crash's unwinding included (racelab::thread terminates if
// destroyed joinable, as std::thread does). join() never throws the unwind signal.
struct JoinOnExit {
  racelab::thread& t;
  ~JoinOnExit() {
    if (t.joinable()) t.join();
  }
};

// The handler switches tasks before it rethrows: the exception it rethrows, and the count of
// exceptions in flight, must be this task's, whatever the others threw meanwhile.
inline void throw_catch(const Op& op, const std::shared_ptr<State>& s) {
  const std::string tag = "t" + std::to_string(op.a);
  try {
    throw std::runtime_error(tag);
  } catch (...) {
    run_ops(op.body, s);
    if (std::uncaught_exceptions() != 0)
      s->note("in the handler of " + tag +
              ": uncaught_exceptions() = " + std::to_string(std::uncaught_exceptions()));
    if (std::current_exception() == nullptr) {
      s->note("in the handler of " + tag + ": current_exception() is null");
      return;
    }
    try {
      throw;
    } catch (const std::runtime_error& e) {
      if (e.what() != tag) s->note("in the handler of " + tag + ": throw; rethrew \"" + e.what() + "\"");
    } catch (...) {
      s->note("in the handler of " + tag + ": throw; rethrew something that is not a runtime_error");
    }
  }
}

inline void run_op(const Op& op, const std::shared_ptr<State>& s) {
  using std::chrono::milliseconds;
  if (std::uncaught_exceptions() != 0)
    s->note("outside any handler: uncaught_exceptions() = " + std::to_string(std::uncaught_exceptions()));
  switch (op.kind) {
    case OpKind::point: point(op.a); break;
    case OpKind::yield: racelab::this_thread::yield(); break;
    case OpKind::sleep: racelab::this_thread::sleep_for(milliseconds(op.a)); break;
    case OpKind::fetch_add: s->hits.fetch_add(1); break;
    case OpKind::fault_call: {
      static const racelab::Point call("prop.fault");
      if (auto f = call.hit_or_fault(
              {racelab::Fault::timeout, racelab::Fault::deadlock, racelab::Fault::lost_before}))
        s->failed += static_cast<int>(*f);
      break;
    }
    case OpKind::racy_add: {
      const int v = s->plain;
      RACELAB_POINT("prop.window");
      s->plain = v + 1;
      ++s->completed;
      break;
    }
    case OpKind::check: RACELAB_ASSERT(s->plain == s->completed); break;
    case OpKind::locked:
      if (op.b == 1) {
        if (!s->mutex(op.a).try_lock()) break;
        std::lock_guard guard(s->mutex(op.a), std::adopt_lock);
        run_ops(op.body, s);
      } else {
        std::lock_guard guard(s->mutex(op.a));
        run_ops(op.body, s);
      }
      break;
    case OpKind::cv_wait: {
      std::unique_lock lock(s->cv_m);
      auto ready = [&s, &op] { return s->flag >= op.b; };
      if (op.a < 0)
        s->cv.wait(lock, ready);
      else
        static_cast<void>(s->cv.wait_for(lock, milliseconds(op.a), ready));
      break;
    }
    case OpKind::cv_notify: {
      std::lock_guard lock(s->cv_m);
      ++s->flag;
      op.b == 0 ? s->cv.notify_one() : s->cv.notify_all();
      break;
    }
    case OpKind::queue_wait:
      static_cast<void>(s->queue.wait("prop.queue_wait", "a notify on the scenario's queue",
                                      op.a < 0 ? racelab::WaitQueue::kForever : milliseconds(op.a)));
      break;
    case OpKind::queue_notify:
      op.b == 0 ? s->queue.notify_one() : s->queue.notify_all();
      RACELAB_POINT("prop.queue");
      break;
    case OpKind::spawn: {
      racelab::thread child([s, &op] { run_ops(op.body, s); });
      JoinOnExit join{child};
      run_ops(op.other, s);
      child.join();
      break;
    }
    case OpKind::throw_catch: throw_catch(op, s); break;
  }
}

}  // namespace detail

inline void run_ops(const std::vector<Op>& ops, const std::shared_ptr<State>& s) {
  for (const auto& op : ops) detail::run_op(op, s);
}

// Spawns the scenario's top-level tasks on `sim` over a fresh State. `sc` must outlive the run.
inline std::shared_ptr<State> spawn_tasks(racelab::Simulation& sim, const Scenario& sc) {
  auto s = std::make_shared<State>();
  for (std::size_t t = 0; t < sc.tasks.size(); ++t)
    sim.spawn(task_name(t), [s, &ops = sc.tasks[t]] { run_ops(ops, s); });
  return s;
}

// --- shrinking --------------------------------------------------------------------------------

namespace detail {

// The generator's rules, checked on a shrunk candidate: no mutex taken while held; in an ordered
// scenario locks ascend, no join under a lock, no untimed wait.
inline bool well_formed(const std::vector<Op>& ops, unsigned held, bool ordered) {
  for (const auto& op : ops) {
    switch (op.kind) {
      case OpKind::locked: {
        const unsigned bit = 1u << op.a;
        if ((held & bit) != 0 || (ordered && (held >> op.a) != 0)) return false;
        if (!well_formed(op.body, held | bit, ordered)) return false;
        break;
      }
      case OpKind::spawn:
        if (ordered && held != 0) return false;
        if (!well_formed(op.body, 0, ordered) || !well_formed(op.other, held, ordered)) return false;
        break;
      case OpKind::throw_catch:
        if (!well_formed(op.body, held, ordered)) return false;
        break;
      case OpKind::cv_wait:
      case OpKind::queue_wait:
        if (ordered && op.a < 0) return false;
        break;
      default: break;
    }
  }
  return true;
}

// Every program one step smaller than `ops`: an op removed, a compound op replaced by its
// contents, a sleep or timeout shortened.
inline void smaller(const std::vector<Op>& ops, std::vector<std::vector<Op>>& out) {
  for (std::size_t i = 0; i < ops.size(); ++i) {
    auto with = [&](std::vector<Op> replacement) {
      std::vector<Op> v(ops.begin(), ops.begin() + static_cast<long>(i));
      v.insert(v.end(), replacement.begin(), replacement.end());
      v.insert(v.end(), ops.begin() + static_cast<long>(i) + 1, ops.end());
      out.push_back(std::move(v));
    };
    const Op& op = ops[i];
    with({});
    if (!op.body.empty() || !op.other.empty()) {
      std::vector<Op> flat = op.body;
      flat.insert(flat.end(), op.other.begin(), op.other.end());
      with(flat);
    }
    if ((op.kind == OpKind::sleep || op.kind == OpKind::cv_wait || op.kind == OpKind::queue_wait) &&
        op.a > 0) {
      Op shorter = op;
      shorter.a = 0;
      with({shorter});
    }
    for (auto part : {&Op::body, &Op::other}) {
      std::vector<std::vector<Op>> inner;
      smaller(op.*part, inner);
      for (auto& v : inner) {
        Op changed = op;
        changed.*part = std::move(v);
        with({changed});
      }
    }
  }
}

}  // namespace detail

// Greedy shrinking: take the first one-step-smaller well-formed scenario that still `fails`, and
// repeat, within `budget` calls of `fails`. Returns the smallest scenario found.
inline Scenario shrink(Scenario sc, const std::function<bool(const Scenario&)>& fails, int budget = 400) {
  for (bool progress = true; progress && budget > 0;) {
    progress = false;
    std::vector<Scenario> candidates;
    for (std::size_t t = 0; t < sc.tasks.size() && sc.tasks.size() > 1; ++t) {
      Scenario c = sc;
      c.tasks.erase(c.tasks.begin() + static_cast<long>(t));
      candidates.push_back(std::move(c));
    }
    if (sc.crash_probability > 0) {
      Scenario c = sc;
      c.crash_probability = 0;
      candidates.push_back(std::move(c));
    }
    for (std::size_t t = 0; t < sc.tasks.size(); ++t) {
      std::vector<std::vector<Op>> programs;
      detail::smaller(sc.tasks[t], programs);
      for (auto& p : programs) {
        Scenario c = sc;
        c.tasks[t] = std::move(p);
        candidates.push_back(std::move(c));
      }
    }
    for (auto& c : candidates) {
      bool ok = true;
      for (const auto& t : c.tasks) ok = ok && detail::well_formed(t, 0, c.ordered);
      if (!ok) continue;
      if (budget-- <= 0) break;
      if (fails(c)) {
        sc = std::move(c);
        progress = true;
        break;
      }
    }
  }
  return sc;
}

}  // namespace sim_prop
