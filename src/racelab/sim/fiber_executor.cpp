// The fiber executor: each task of a simulation is a Boost.Context fiber on the scheduler's thread.
// See core.hpp (Executor) for the contract and detail/fiber.hpp for the fibers themselves (their
// stacks, sanitizer annotations, and the per-task runtime state swapped on every switch).
#include <memory>
#include <vector>

#include "racelab/detail/fiber.hpp"
#include "racelab/detail/point_state.hpp"
#include "racelab/sim/core.hpp"

namespace racelab::detail {
namespace {

// Fibers are workers: each runs task after task (one per run of a reused core), so a run in steady
// state makes no fiber, maps no stack and allocates nothing here. A worker's loop holds no
// object with a destructor, so dropping a worker that waits for its next task is safe.
class FiberExecutor final : public Executor {
 public:
  FiberExecutor(SimCore& core, std::size_t stack_size) : core_(core), stack_size_(stack_size) {
    install_overflow_reporter();
  }

  void resume(SimTask& task) override {
    if (task.index >= workers_.size()) workers_.resize(task.index + 1);
    auto& slot = workers_[task.index];
    if (!slot) {
      slot = std::make_unique<Worker>();
      Worker* w = slot.get();
      w->fiber = std::make_unique<Fiber>(stack_size_, [this, w] {
        for (;;) {
          core_.task_main(w->task);
          w->task = nullptr;
          // The next task on this worker starts with no PointLog of this one's (a log the task
          // leaked on the heap would otherwise record the next task's points).
          static_cast<void>(exchange_point_log(nullptr));
          w->fiber->switch_out();  // until the next task
        }
      });
    }
    if (slot->task == nullptr) slot->task = &task;  // a new task starts at the loop's top
    set_running_task_name(task.name.c_str());
    slot->fiber->switch_in();
    set_running_task_name(nullptr);
  }

  void park(SimTask& task) override { workers_[task.index]->fiber->switch_out(); }

  bool finished(const SimTask& task) const override {
    return task.index >= workers_.size() || !workers_[task.index] || workers_[task.index]->task != &task;
  }

  void give_up(SimTask& task) override {
    if (task.index >= workers_.size() || !workers_[task.index]) return;
    // Never resumed again; its stack stays mapped. Kept reachable (not freed: something on that
    // stack may still point into it), so LeakSanitizer does not report a deliberate leak.
    static auto* given_up = new std::vector<std::unique_ptr<Worker>>();
    given_up->push_back(std::move(workers_[task.index]));
  }

 private:
  struct Worker {
    std::unique_ptr<Fiber> fiber;
    SimTask* task = nullptr;  // the task it runs now; nullptr: waiting for one
  };
  SimCore& core_;
  std::size_t stack_size_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace

std::unique_ptr<Executor> make_fiber_executor(SimCore& core, std::size_t stack_size) {
  return std::make_unique<FiberExecutor>(core, stack_size);
}

}  // namespace racelab::detail
