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
// Only the thread that runs the simulation may touch its fibers.
#pragma once

#include <boost/context/detail/fcontext.hpp>

#include <cstddef>
#include <functional>

namespace racelab::detail {

class Fiber {
 public:
  Fiber() = default;
  // `entry` runs on the new stack at the first switch_in(); when it returns the fiber is finished.
  // `entry` must not let an exception escape.
  Fiber(std::size_t stack_size, std::function<void()> entry);
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;
  ~Fiber();  // the fiber must be finished or never started

  // Runs the fiber until it calls switch_out() or finishes. Called from the scheduler's context.
  void switch_in();
  // Returns to the scheduler's context. Called from inside the fiber.
  void switch_out();
  bool finished() const { return finished_; }

 private:
  static void trampoline(boost::context::detail::transfer_t from);

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
};

// Installs (once per process) a SIGSEGV handler on an alternate stack that recognises faults on a
// fiber stack's guard page and names the task: "racelab: task 'B' overflowed its 64 KiB stack".
void install_overflow_reporter();
// The name the overflow reporter prints for the fiber that is running now (nullptr: none).
void set_running_task_name(const char* name) noexcept;

}  // namespace racelab::detail
