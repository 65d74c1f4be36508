// Private to racelab: which PointLog records the points of the code running on this OS thread.
//
// A PointLog records the points of the code that opened it, and logs nest (observe.hpp). On a real
// thread "the code" is the thread; in a simulation it is a task, and every task is a fiber on the
// one thread that runs the simulation. So the thread-local innermost log is state a C++ thread
// owns implicitly that must become per task: every fiber switch exchanges it (detail/fiber.cpp),
// and each task's logs form a stack of their own, closed in any order relative to other tasks'.
//
//   PointLog* scheduler_log = exchange_point_log(task_log);        // switching to the task
//   exchange_fallback_point_log(scheduler_log);                   // its unclaimed points go there
//   task_log = exchange_point_log(scheduler_log);                  // switching back
//
// What a task's point records into, decided here:
// - A task starts with no log of its own: a log its parent task has open does not record it.
// - A point that no log of the task's own records goes to the scheduler thread's innermost log,
//   the one open around Simulation::run() (the fallback): observe.hpp promises that such a log sees
//   the tasks' points, and tests/racelab/observe_test.cpp holds it to that. The fallback is never
//   linked into a task's stack (no task log's previous_ points at it), so no order of closing can
//   leave a task holding a pointer to a log that ended.
//
// Only the thread that owns the state may call these; nothing here is shared between threads.
#pragma once

namespace racelab {
class PointLog;
}  // namespace racelab

namespace racelab::detail {

// The innermost live PointLog that the running code opened (nullptr: none). Returns the previous.
PointLog* exchange_point_log(PointLog* log) noexcept;

// The log that records the running code's points while it has opened none: while a task runs, the
// scheduler thread's innermost log; nullptr outside tasks. Returns the previous one.
PointLog* exchange_fallback_point_log(PointLog* log) noexcept;

}  // namespace racelab::detail
