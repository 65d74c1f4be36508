// racelab/point.hpp — the one seam: named points where another thread may cut in.
//
// A point marks a place in ordinary code where a race window opens. With nothing armed it costs
// one relaxed atomic load and a not-taken branch; armed, the same point runs hooks (real threads),
// yields to a simulation, counts hits, or injects a fault. `-DRACELAB_DISABLE` compiles points out.
//
//   int64_t balance = store.balance(from);
//   RACELAB_POINT("transfer.after_read");          // another transfer may cut in here
//   if (balance < amount) throw InsufficientFunds{};
//   int64_t n = RACELAB_CALL("counter.get_count", db.get_count());  // fires :before and :after
//
// Every call site is registered before main() runs (a constant-initialised record per site, linked
// into a list by a static initialiser), so `racelab::points()` lists every point in the program,
// including those never reached. A site inside a template is one site per instantiation.
//
// Names are string literals of the form `area.event`; RACELAB_CALL("x", ...) fires `x:before`
// and `x:after`. Hit counts advance only while something is armed (a Hooks scope, RACELAB_HOOKS,
// a simulation), so production code pays nothing for them.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "racelab/fault.hpp"

namespace racelab {

// What racelab knows about one call site.
struct PointInfo {
  std::string name;
  std::string file;
  int line = 0;
  std::uint64_t hits = 0;  // while armed, summed over sites that share the name
  int sites = 1;           // call sites with this name (a template instantiated twice counts 2)
};

// Every registered point, one entry per name, sorted by name. Thread-safe.
std::vector<PointInfo> points();

// Names the calling thread in hook timeouts, stress reports and `Hooks::on_thread` filters.
// Threads racelab creates are named for you (`t0`, `t1`, … in stress()).
void set_thread_label(std::string label);
// The calling thread's label, or `thread-<n>` (a small stable number) if none was set.
const std::string& thread_label();

namespace detail {
struct Site;
Site& intern_site(std::string_view name, const char* file, int line);
}  // namespace detail

// A point whose name is known only at run time (a SQL statement's, say). Same behaviour as
// RACELAB_POINT; constructing one registers the name once (names are interned for the life of
// the process, so keep their number bounded). Cheap to copy.
//
//   racelab::Point read("sql.select.accounts");
//   read.hit();
class Point {
 public:
  explicit Point(std::string_view name, const char* file = "(runtime)", int line = 0)
      : site_(&detail::intern_site(name, file, line)) {}
  inline void hit() const;
  // hit(), at a point that can fail in the ways `offered` names (racelab/fault.hpp): returns the
  // fault to produce here, if a simulation's strategy or an armed Hooks::fault chose one. A crash
  // is thrown (InjectedCrash), never returned. Unarmed, the same cost as hit().
  inline std::optional<Fault> hit_or_fault(FaultSet offered) const;
  std::string_view name() const;

 private:
  detail::Site* site_;
};

namespace detail {

struct SiteText {
  const char* name;
  const char* file;
  int line;
};

// One record per call site. Constant-initialised, so the fast path needs no guard variable.
struct Site {
  const char* name;
  const char* file;
  int line;
  // Hits of threads that have exited, and of code running while this thread's table is gone; each
  // live thread counts its own in a table of its own (point.cpp), so threads running the same
  // points at once share no cache line. points() sums both.
  std::atomic<std::uint64_t> hits{0};
  Site* next = nullptr;
  // Into a thread's hit table, set by register_site; before that (a point hit during static
  // initialisation, before its site registered) its hits go to `hits`.
  std::uint32_t index = kUnregistered;
  static constexpr std::uint32_t kUnregistered = ~std::uint32_t{0};
};

// Non-zero while anything is armed. Written by arm()/disarm(); read with relaxed ordering on the
// fast path: a thread that starts before a Hooks scope is armed may miss it for a moment, which is
// harmless because arming happens-before the threads a test starts afterwards.
inline std::atomic<std::uint32_t> g_armed{0};

inline bool armed() noexcept { return g_armed.load(std::memory_order_relaxed) != 0; }
void arm() noexcept;
void disarm() noexcept;
// arm() and disarm() for the code running on this thread, nested per thread: only a thread's
// outermost pair writes g_armed, so a thread that runs simulation after simulation (explore()'s
// workers hold one around their loop) does not write, once per run, the line every point reads.
// Both of a pair run on one thread.
void arm_thread() noexcept;
void disarm_thread() noexcept;

void register_site(Site& site) noexcept;
// The slow path: counts the hit, then hands the point to the simulation, the hooks and observers.
void fire(Site& site);
// The same for a point offering faults beyond a crash (Point::hit_or_fault).
std::optional<Fault> fire_or_fault(Site& site, FaultSet offered);

// One Site per distinct Tag (a lambda type made at the call site), registered at start-up.
template <class Tag>
struct SiteHolder {
  static constexpr SiteText text = Tag{}();
  static inline constinit Site site{text.name, text.file, text.line};
  static inline const bool registered = (register_site(site), true);
};

// RACELAB_CALL's engine: fire `before`, run `call`, fire `after` (only if the call returned).
template <class Before, class After, class Call>
decltype(auto) call_between(Before before, After after, Call&& call) {
  before();
  using R = decltype(call());
  if constexpr (std::is_void_v<R>) {
    call();
    after();
  } else {
    R result = call();
    after();
    if constexpr (std::is_reference_v<R>) {
      return static_cast<R>(result);  // a reference result stays the same reference
    } else {
      return result;
    }
  }
}

}  // namespace detail

inline void Point::hit() const {
#ifndef RACELAB_DISABLE
  if (__builtin_expect(detail::armed(), 0)) detail::fire(*site_);
#endif
}

inline std::optional<Fault> Point::hit_or_fault(FaultSet offered) const {
#ifndef RACELAB_DISABLE
  if (__builtin_expect(detail::armed(), 0)) return detail::fire_or_fault(*site_, offered);
#else
  static_cast<void>(offered);
#endif
  return std::nullopt;
}

inline std::string_view Point::name() const { return site_->name; }

}  // namespace racelab

#define RACELAB_DETAIL_LIKELY_FALSE(x) __builtin_expect(!!(x), 0)

#ifdef RACELAB_DISABLE
#define RACELAB_POINT(name) static_cast<void>(0)
#define RACELAB_CALL(name, ...) (__VA_ARGS__)
#else
#define RACELAB_POINT(name)                                                                              \
  do {                                                                                                   \
    using racelab_tag_ = decltype([] { return ::racelab::detail::SiteText{name, __FILE__, __LINE__}; }); \
    static_cast<void>(&::racelab::detail::SiteHolder<racelab_tag_>::registered);                         \
    if (RACELAB_DETAIL_LIKELY_FALSE(::racelab::detail::armed()))                                         \
      ::racelab::detail::fire(::racelab::detail::SiteHolder<racelab_tag_>::site);                        \
  } while (0)

#define RACELAB_CALL(name, ...)                                          \
  ::racelab::detail::call_between([] { RACELAB_POINT(name ":before"); }, \
                                  [] { RACELAB_POINT(name ":after"); },  \
                                  [&]() -> decltype(auto) { return __VA_ARGS__; })
#endif
