// Private to racelab: execution contexts for simulated tasks.
//
// A Fiber runs a function on its own stack, taken from a per-thread pool of mmap'd stacks with a
// PROT_NONE guard page below each, so a task that overflows its stack faults on the guard page and
// is reported by name (see install_overflow_reporter) instead of corrupting memory. Switches are
// announced to AddressSanitizer and ThreadSanitizer when those are compiled in; without them the
// annotations compile to nothing.
//
// Only the thread that runs the simulation may touch its fibers.
#pragma once

#include <boost/context/fiber.hpp>

#include <cstddef>
#include <functional>

namespace racelab::detail {

class Fiber {
 public:
  Fiber() = default;
  // `entry` runs on the new stack at the first switch_in(); when it returns the fiber is finished.
  // `entry` must not let an exception escape.
  Fiber(std::size_t stack_size, std::function<void()> entry);
  Fiber(Fiber&&) = delete;
  ~Fiber();

  // Runs the fiber until it calls switch_out() or finishes. Called from the scheduler's context.
  void switch_in();
  // Returns to the scheduler's context. Called from inside the fiber.
  void switch_out();
  bool finished() const { return finished_; }

 private:
  boost::context::fiber self_;    // this fiber's continuation while it is not running
  boost::context::fiber caller_;  // the scheduler's continuation while this fiber runs
  std::function<void()> entry_;
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
