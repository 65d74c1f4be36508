// racelab/hooks.hpp — force an interleaving with real threads by binding actions to points.
//
// A `Hooks` object is a scope: it arms actions on named points when built and disarms every one
// of them when destroyed. The actions are the ones people reach for by hand: run code before or
// after a point (Python's before_after), sleep there (a debug delay), hold N arrivals and release
// them together (a barrier), and make a point wait until another has been passed (RocksDB's sync
// point dependencies).
//
//   racelab::Hooks hooks;
//   hooks.barrier("transfer.after_read", 2);        // both transfers read before either writes
//   std::thread a([&] { transfer("alice", "bob", 800); }), b([&] { transfer("alice", "bob", 800); });
//   a.join(), b.join();
//   hooks.expect_hit("transfer.after_read", 2);     // the window really was entered, twice
//
// Guarantees:
// - Never a silent hang. Every wait has a timeout; a timeout releases the waiters, is counted
//   (`timeouts()`), and its message names each waiting thread and the point it waits at.
// - Airtight scope. Once `~Hooks()` returns, none of its callbacks runs and no thread waits on its
//   barriers, orders or delays: the destructor wakes every waiter and waits for callbacks in flight.
// - Callbacks run with racelab's internal lock released, on the thread that hit the point, and may
//   re-enter points (including their own) without recursing into themselves. An exception thrown
//   by a callback propagates out of the point into the code that hit it.
// - Arming and disarming are thread-safe while other threads run through points.
//
// Order of work at one point: `before` callbacks, then `order` waits, barriers and delays, then the
// point counts as passed (for `order`), then `after` callbacks. For a RACELAB_CALL pair named `x`,
// `before("x", f)` binds to `x:before` and `after("x", f)` to `x:after`.
//
// Rule for barriers: put the window point where every racing thread can reach it at the same time —
// never inside a critical section only one thread can enter, or the barrier waits out its timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "racelab/point.hpp"

namespace racelab {

namespace detail {
struct Action;
struct Scope;
}  // namespace detail

// A hook that waited past its timeout. `message` is the whole story, ready to print.
struct HookTimeout {
  std::string point;                 // where the waiters were
  std::string kind;                  // "barrier", "order"
  std::vector<std::string> waiting;  // thread labels of the waiters
  std::string message;
};

// Thrown by `Hooks::arm` and at start-up for a malformed RACELAB_HOOKS; names the bad part.
class HookSpecError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Thrown by `expect_hit` when a race window was not entered as often as the test needs.
class WindowNotEntered : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// A handle to one armed action, to refine it. Refinements are thread-safe.
class ActionRef {
 public:
  ActionRef& times(std::int64_t n);                    // fire n times (barrier: n groups), then stay quiet
  ActionRef& always();                                 // fire on every hit
  ActionRef& on_thread(std::string label);             // only for threads with this label
  ActionRef& timeout(std::chrono::nanoseconds limit);  // barrier and order waits
  std::uint64_t fired() const;                         // how often it has fired so far

 private:
  friend class Hooks;
  explicit ActionRef(std::shared_ptr<detail::Action> action) : action_(std::move(action)) {}
  std::shared_ptr<detail::Action> action_;
};

class Hooks {
 public:
  using Callback = std::function<void()>;
  static constexpr std::chrono::seconds kDefaultTimeout{5};

  Hooks();
  ~Hooks();
  Hooks(const Hooks&) = delete;
  Hooks& operator=(const Hooks&) = delete;

  // Run `fn` when a thread passes `point`, after its waits (once by default, like before_after).
  ActionRef after(std::string_view point, Callback fn);
  // Run `fn` when a thread reaches `point`, before its waits (once by default).
  ActionRef before(std::string_view point, Callback fn);
  // Sleep at `point` (every hit by default). Ends early if the scope is destroyed.
  ActionRef delay(std::string_view point, std::chrono::nanoseconds duration);
  // Hold arrivals at `point` until `count` are there, then release them together (every group of
  // `count` by default). After `timeout` the waiters are released and the timeout is recorded.
  ActionRef barrier(std::string_view point, int count, std::chrono::nanoseconds timeout = kDefaultTimeout);
  // A thread reaching `then` waits until some thread has passed `first` (every hit by default).
  ActionRef order(std::string_view first, std::string_view then,
                  std::chrono::nanoseconds timeout = kDefaultTimeout);
  // Fail the call `point` stands for with `fault` (racelab/fault.hpp; once by default), after the
  // point's other actions. Only points that offer the fault take it: a plain RACELAB_POINT offers
  // `crash` (InjectedCrash is thrown from it); a database adapter's statements offer the rest.
  ActionRef fault(std::string_view point, Fault fault);

  // Arms actions from a spec such as "transfer.after_read=delay:200ms;a.b=barrier:2:5s;x=order:y;
  // sql.commit=fault:lost_after_commit".
  // Throws HookSpecError naming the bad part; on error nothing is armed.
  void arm(std::string_view spec);

  // Hits of `point` while this scope was alive, by any thread.
  std::uint64_t hits(std::string_view point) const;
  // Throws WindowNotEntered unless `point` was hit at least `at_least` times during this scope.
  void expect_hit(std::string_view point, std::uint64_t at_least = 1) const;

  std::vector<HookTimeout> timeouts() const;
  std::size_t timeout_count() const;

 private:
  ActionRef add(std::shared_ptr<detail::Action> action);
  std::shared_ptr<detail::Scope> scope_;
};

}  // namespace racelab
