// The fiber executor: each task of a simulation is a Boost.Context fiber on the scheduler's thread.
// See core.hpp (Executor) for the contract and detail/fiber.hpp for the fibers themselves (their
// stacks, sanitizer annotations, and the per-task runtime state swapped on every switch).
#include <memory>
#include <vector>

#include "racelab/detail/fiber.hpp"
#include "racelab/sim/core.hpp"

namespace racelab::detail {
namespace {

class FiberExecutor final : public Executor {
 public:
  FiberExecutor(SimCore& core, std::size_t stack_size) : core_(core), stack_size_(stack_size) {
    install_overflow_reporter();
  }

  void resume(SimTask& task) override {
    if (task.index >= fibers_.size()) fibers_.resize(task.index + 1);
    auto& fiber = fibers_[task.index];
    if (!fiber) fiber = std::make_unique<Fiber>(stack_size_, [this, &task] { core_.task_main(&task); });
    set_running_task_name(task.name.c_str());
    fiber->switch_in();
    set_running_task_name(nullptr);
  }

  void park(SimTask& task) override { fibers_[task.index]->switch_out(); }

  bool finished(const SimTask& task) const override {
    return task.index >= fibers_.size() || !fibers_[task.index] || fibers_[task.index]->finished();
  }

  void give_up(SimTask& task) override {
    if (task.index < fibers_.size()) static_cast<void>(fibers_[task.index].release());
  }

 private:
  SimCore& core_;
  std::size_t stack_size_;
  std::vector<std::unique_ptr<Fiber>> fibers_;
};

}  // namespace

std::unique_ptr<Executor> make_fiber_executor(SimCore& core, std::size_t stack_size) {
  return std::make_unique<FiberExecutor>(core, stack_size);
}

}  // namespace racelab::detail
