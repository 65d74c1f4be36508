// racelab/sim/wait.hpp — cooperative waiting, for adapters of clients the simulation should
// schedule: a database driver, a Redis or HTTP client, a queue of your own.
//
// A simulated task must never block its OS thread: every task runs on it. A client that waits
// (for a lock, a reply on a socket, a slot in a pool) instead parks its task on a WaitQueue or
// on its socket; the scheduler runs the other tasks meanwhile, wakes the task when it is
// notified or the socket is readable, and reports a deadlock naming `why` when nobody can run.
// racelab's own SQLite and PostgreSQL adapters are built on exactly these calls.
//
//   racelab::WaitQueue slots;                         // tasks waiting for a pooled connection
//   while (pool.empty())
//     if (slots.wait("pool.acquire", "a free connection") == racelab::WaitResult::abandoned) return;
//   ...
//   slots.notify_one();                               // a connection went back to the pool
//
// Teardown. When a run stops early (a failure elsewhere, a deadlock), each unfinished task is
// resumed once so its stack unwinds: a wait then throws racelab's unwind signal (catch(...) blocks
// must rethrow it), except where throwing is not allowed — while the task already unwinds an
// exception, or inside a NoThrowScope (destructors, C callbacks). There the wait returns
// WaitResult::abandoned at once, never blocking, and the caller must stop waiting and return.
// A task that keeps going anyway is given up after a bounded number of operations and named in
// the run's outcome.
//
// Points (`point` arguments) must be string literals or otherwise outlive the run: traces keep
// views of them. All of this is for code running on a simulated task (this_thread::simulated());
// calling it elsewhere throws SimulationError.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace racelab {

enum class WaitResult {
  woken,      // notified, or the socket became readable
  timed_out,  // the timeout passed in virtual time
  abandoned,  // the run is being torn down and this task may not throw here: stop waiting
};

namespace detail {
class SimCore;
struct SimTask;
// The simulation whose task runs on this thread; nullptr outside a simulated task. Inline so the
// drop-in types' fast path outside a simulation is one thread-local load.
inline thread_local SimCore* t_sim = nullptr;
inline bool in_simulation() noexcept { return t_sim != nullptr; }

// Says what a task waits for, composed only when a deadlock report needs it.
using WaitDescribe = std::string (*)(const void* object);

// Tasks waiting on one sync object, in arrival order. The engine's side of WaitQueue.
class WaitList {
 public:
  // Blocks the current task until woken or until `timeout_ns` of virtual time (-1: no timeout).
  // `may_throw` false: never throws the unwind signal (returns abandoned instead). The deadlock
  // report says `describe(object)` if given, else `why`.
  WaitResult wait(const char* point, std::string_view why, std::int64_t timeout_ns = -1,
                  bool may_throw = true, WaitDescribe describe = nullptr, const void* object = nullptr);
  void wake_one() noexcept;
  void wake_all() noexcept;
  void remove(SimTask* task) noexcept;
  bool empty() const noexcept { return tasks_.empty(); }
  void clear() noexcept { tasks_.clear(); }

 private:
  std::vector<SimTask*> tasks_;
};
}  // namespace detail

// Tasks waiting for one condition, woken in arrival order.
class WaitQueue {
 public:
  static constexpr std::chrono::nanoseconds kForever{-1};
  WaitQueue() = default;
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  // Parks the running task until notified or until `timeout` of virtual time passes.
  // A scheduling point named `point`; `why` appears in deadlock reports.
  WaitResult wait(const char* point, std::string_view why, std::chrono::nanoseconds timeout = kForever);
  void notify_one() noexcept;
  void notify_all() noexcept;
  bool empty() const noexcept { return list_.empty(); }

 private:
  detail::WaitList list_;
};

// Parks the running task until `fd` is readable (a reply from a server). While every task waits,
// the scheduler polls the sockets in real time; which reply arrives first is then up to the
// server, the one place a run can depend on the world outside (see docs/simulation.md).
WaitResult wait_readable(int fd, const char* point, std::string_view why);

// Inside this scope the simulation throws nothing into the running task: no injected crash, and
// during teardown points return and waits return WaitResult::abandoned. Open one in destructors
// and other noexcept code that reaches points or waits, and around waits inside C callbacks
// (nothing may unwind through C frames). Outside a simulation it does nothing.
class NoThrowScope {
 public:
  NoThrowScope() noexcept;
  ~NoThrowScope();
  NoThrowScope(const NoThrowScope&) = delete;
  NoThrowScope& operator=(const NoThrowScope&) = delete;

 private:
  detail::SimTask* task_;
};

// True while the run of the task calling it is being torn down (its waits no longer wait).
bool abandoned() noexcept;

}  // namespace racelab
