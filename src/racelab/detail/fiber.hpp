// Private to racelab: execution contexts for simulated tasks.
//
// Built on Boost.Context's fcontext primitives (make_fcontext / jump_fcontext) rather than its
// fiber class: the fiber class finishes a context inside Boost's own (sanitizer-instrumented)
// templates after the user function returns, which leaves ThreadSanitizer's shadow stack
// unbalanced. Here every switch, including the last one, is a single annotated jump.
//
// A Fiber runs a function on its own stack, taken from a per-thread pool of mmap'd stacks with a
// PROT_NONE guard page below each, so a task that overflows its stack faults on the guard page and
// is reported by name (see install_overflow_reporter) instead of corrupting memory. Switches are
// announced to AddressSanitizer and ThreadSanitizer when those are compiled in; without them the
// annotations compile to nothing.
//
// Each fiber also owns the runtime state that a C++ thread owns implicitly, because every task of
// a simulation runs on the one OS thread: the C++ runtime's exception globals (the stack of
// exceptions being handled, which `throw;`, std::current_exception() and the end of a catch act
// on, and the count behind std::uncaught_exceptions()) and the innermost PointLog the task opened
// (detail/point_state.hpp). Without that, a task that switches out inside a handler or a
// destructor run by unwinding would see, rethrow or free the other tasks' exceptions. The state is
// one small struct, swapped on every switch by the side that leaves: switch_in() saves the
// scheduler's and installs the fiber's, switch_out() and the fiber's last jump save the fiber's
// and reinstall the scheduler's. A fresh fiber starts with none: no exception, no log.
//
// Only the thread that runs the simulation may touch its fibers.
#pragma once

#include <boost/context/detail/fcontext.hpp>

#include <cstddef>
#include <functional>

namespace racelab {
class PointLog;
}  // namespace racelab

namespace racelab::detail {

// The per-thread exception globals of the Itanium C++ ABI (section 2.2.2, `__cxa_eh_globals`),
// which <cxxabi.h> declares but leaves incomplete: the handled-exception stack and the count of
// exceptions thrown but not yet caught. libsupc++ (GCC's libstdc++, also under Clang) and
// libc++abi both define exactly these two members in this order, adding a third only for ARM's
// EHABI unwinder, which fiber.cpp refuses to build for. Fibers copy it by value through
// abi::__cxa_get_globals(); the runtime keeps no pointer into it.
struct EhGlobals {
  void* caught_exceptions = nullptr;  // __cxa_exception*: the innermost handled exception
  unsigned int uncaught_exceptions = 0;
};

class Fiber {
 public:
  Fiber() = default;
  // `entry` runs on the new stack at the first switch_in(); when it returns the fiber is finished.
  // `entry` must not let an exception escape.
  Fiber(std::size_t stack_size, std::function<void()> entry);
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;
  // Gives the stack back. A fiber parked in switch_out() may be destroyed too if nothing on its
  // stack needs destroying (the executor's workers wait for their next task that way).
  ~Fiber();

  // Runs the fiber until it calls switch_out() or finishes. Called from the scheduler's context.
  void switch_in();
  // Returns to the scheduler's context. Called from inside the fiber.
  void switch_out();
  bool finished() const { return finished_; }

 private:
  // What a C++ thread owns implicitly and each task must own for itself (see the top).
  struct RuntimeState {
    EhGlobals eh;
    PointLog* point_log = nullptr;           // the innermost PointLog this side opened
    PointLog* fallback_point_log = nullptr;  // the scheduler's side only: its fallback, restored
  };

  static void trampoline(boost::context::detail::transfer_t from);
  void install_fiber_state() noexcept;      // on the scheduler's stack, before jumping in
  void install_scheduler_state() noexcept;  // on the fiber's stack, before jumping out

  boost::context::detail::fcontext_t self_ = nullptr;    // where this fiber resumes
  boost::context::detail::fcontext_t caller_ = nullptr;  // where the scheduler resumes
  std::function<void()> entry_;
  void* stack_base_ = nullptr;   // the guard page; the usable stack is above it
  std::size_t stack_total_ = 0;  // guard page included
  void* stack_bottom_ = nullptr;
  std::size_t stack_size_ = 0;
  void* asan_fake_stack_ = nullptr;
  void* tsan_fiber_ = nullptr;
  void* tsan_caller_ = nullptr;
  bool finished_ = false;
  RuntimeState fiber_state_;      // the fiber's, while the scheduler runs
  RuntimeState scheduler_state_;  // the scheduler's, while the fiber runs
};

// Installs (once per process) a SIGSEGV handler on an alternate stack that recognises faults on a
// fiber stack's guard page and names the task: "racelab: task 'B' overflowed its 64 KiB stack".
void install_overflow_reporter();
// Constructs this thread's stack pool if it is not yet: a thread-local that holds fibers and is
// destroyed at thread exit must call this before it is first used, so the pool outlives it.
void keep_stack_pool_alive() noexcept;
// The name the overflow reporter prints for the fiber that is running now (nullptr: none).
void set_running_task_name(const char* name) noexcept;

}  // namespace racelab::detail
