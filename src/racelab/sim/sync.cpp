// racelab's drop-in sync types: std behaviour outside a simulation, scheduling points inside one.
#include "racelab/sim/sync.hpp"

#include <algorithm>
#include <system_error>

#include "racelab/sim/core.hpp"

namespace racelab {
namespace {

std::string held_by(const char* what, const char* name, const detail::SimTask* owner) {
  return std::string(what) + " '" + name + "' held by " +
         (owner != nullptr ? detail::sim_task_name(owner) : "?");
}

// A second lock by the task that holds it: what std::mutex may report, naming both.
std::system_error locked_twice(const char* what, const char* name, const detail::SimTask* me) {
  return std::system_error(
      std::make_error_code(std::errc::resource_deadlock_would_occur),
      std::string(what) + " '" + name + "' locked twice by task '" + detail::sim_task_name(me) + "'");
}

}  // namespace

// --- mutex ---------------------------------------------------------------------------------
// Inside a simulation the owner is the task; the std::mutex is only for use outside one.

void mutex::lock() {
  if (!detail::in_simulation()) {
    real_.lock();
    return;
  }
  detail::sim_sync_point("mutex.lock");
  auto* me = detail::sim_current_task();
  if (owner_ == me) throw locked_twice("racelab::mutex", name_, me);
  while (owner_ != nullptr) {
    // Teardown throws the unwind signal here, so no critical section is entered without the
    // mutex. Where the task may not throw (it unwinds already, or a NoThrowScope is open) the wait
    // returns and so does lock(), without the mutex (its unlock is then ignored), rather than wait
    // for a task that never runs again or take the mutex from its owner. Who holds it is said
    // when a report needs it, so a contended lock builds no string.
    constexpr detail::WaitDescribe describe = [](const void* m) {
      const auto* self = static_cast<const mutex*>(m);
      return held_by("mutex", self->name_, self->owner_);
    };
    if (waiters_.wait("mutex.lock", {}, -1, true, describe, this) == WaitResult::abandoned) return;
  }
  owner_ = me;
}

bool mutex::try_lock() {
  if (!detail::in_simulation()) return real_.try_lock();
  detail::sim_sync_point("mutex.try_lock");
  if (owner_ != nullptr) return false;
  owner_ = detail::sim_current_task();
  return true;
}

void mutex::unlock() {
  if (!detail::in_simulation()) {
    real_.unlock();
    return;
  }
  if (release()) detail::sim_sync_point_nothrow("mutex.unlock");
}

bool mutex::release() {
  auto* me = detail::sim_current_task();
  if (owner_ != me) {
    if (!abandoned())
      detail::t_sim->fail(
          "racelab::mutex '" + std::string(name_) + "' unlocked by task '" + detail::sim_task_name(me) +
          "', which does not hold it (" +
          (owner_ != nullptr ? "held by '" + detail::sim_task_name(owner_) + "'" : "not held") + ")");
    return false;
  }
  owner_ = nullptr;
  waiters_.wake_all();  // they re-contend; the scheduler decides who wins
  return true;
}

// --- shared_mutex ------------------------------------------------------------------------------

namespace {
bool holds(const std::vector<detail::SimTask*>& readers, const detail::SimTask* task) {
  return std::find(readers.begin(), readers.end(), task) != readers.end();
}
}  // namespace

void shared_mutex::lock() {
  if (!detail::in_simulation()) {
    real_.lock();
    return;
  }
  detail::sim_sync_point("shared_mutex.lock");
  auto* me = detail::sim_current_task();
  if (writer_ == me || holds(readers_, me)) throw locked_twice("racelab::shared_mutex", name_, me);
  constexpr detail::WaitDescribe describe = [](const void* m) {
    const auto* self = static_cast<const shared_mutex*>(m);
    return self->writer_ != nullptr ? held_by("shared_mutex", self->name_, self->writer_)
                                    : "shared_mutex '" + std::string(self->name_) + "' held by " +
                                          std::to_string(self->readers_.size()) + " reader(s)";
  };
  while (writer_ != nullptr || !readers_.empty()) {
    if (waiters_.wait("shared_mutex.lock", {}, -1, true, describe, this) == WaitResult::abandoned)
      return;  // as mutex::lock
  }
  writer_ = me;
}

bool shared_mutex::try_lock() {
  if (!detail::in_simulation()) return real_.try_lock();
  detail::sim_sync_point("shared_mutex.try_lock");
  if (writer_ != nullptr || !readers_.empty()) return false;
  writer_ = detail::sim_current_task();
  return true;
}

void shared_mutex::unlock() {
  if (!detail::in_simulation()) {
    real_.unlock();
    return;
  }
  auto* me = detail::sim_current_task();
  if (writer_ != me) {
    if (!abandoned())
      detail::t_sim->fail("racelab::shared_mutex '" + std::string(name_) + "' unlocked by task '" +
                          detail::sim_task_name(me) + "', which does not hold it exclusively");
    return;
  }
  writer_ = nullptr;
  waiters_.wake_all();
  detail::sim_sync_point_nothrow("shared_mutex.unlock");
}

void shared_mutex::lock_shared() {
  if (!detail::in_simulation()) {
    real_.lock_shared();
    return;
  }
  detail::sim_sync_point("shared_mutex.lock_shared");
  auto* me = detail::sim_current_task();
  if (writer_ == me || holds(readers_, me)) throw locked_twice("racelab::shared_mutex", name_, me);
  constexpr detail::WaitDescribe describe = [](const void* m) {
    const auto* self = static_cast<const shared_mutex*>(m);
    return held_by("shared_mutex", self->name_, self->writer_);
  };
  while (writer_ != nullptr) {
    if (waiters_.wait("shared_mutex.lock_shared", {}, -1, true, describe, this) == WaitResult::abandoned)
      return;
  }
  readers_.push_back(me);
}

bool shared_mutex::try_lock_shared() {
  if (!detail::in_simulation()) return real_.try_lock_shared();
  detail::sim_sync_point("shared_mutex.try_lock_shared");
  if (writer_ != nullptr) return false;
  readers_.push_back(detail::sim_current_task());
  return true;
}

void shared_mutex::unlock_shared() {
  if (!detail::in_simulation()) {
    real_.unlock_shared();
    return;
  }
  auto* me = detail::sim_current_task();
  auto it = std::find(readers_.begin(), readers_.end(), me);
  if (it == readers_.end()) {
    if (!abandoned())
      detail::t_sim->fail("racelab::shared_mutex '" + std::string(name_) + "' unlock_shared by task '" +
                          detail::sim_task_name(me) + "', which holds no shared lock on it");
    return;
  }
  readers_.erase(it);
  if (readers_.empty()) waiters_.wake_all();
  detail::sim_sync_point_nothrow("shared_mutex.unlock_shared");
}

// --- condition_variable ------------------------------------------------------------------------

void condition_variable::notify_one() {
  if (!detail::in_simulation()) {
    real_.notify_one();
    return;
  }
  waiters_.wake_one();
  detail::sim_sync_point_nothrow("condition_variable.notify");
}

void condition_variable::notify_all() {
  if (!detail::in_simulation()) {
    real_.notify_all();
    return;
  }
  waiters_.wake_all();
  detail::sim_sync_point_nothrow("condition_variable.notify");
}

void condition_variable::wait(std::unique_lock<racelab::mutex>& lock) {
  if (!detail::in_simulation()) {
    real_.wait(lock);
    return;
  }
  static_cast<void>(wait_for_ns(lock, -1));
}

// Releases and starts waiting with no scheduling point in between, so no notify can fall between.
// `ns` < 0: no timeout.
std::cv_status condition_variable::wait_for_ns(std::unique_lock<racelab::mutex>& lock, std::int64_t ns) {
  if (!detail::in_simulation()) {
    if (ns < 0) {
      real_.wait(lock);
      return std::cv_status::no_timeout;
    }
    return real_.wait_for(lock, std::chrono::nanoseconds(ns));
  }
  if (!lock.owns_lock() || !lock.mutex()->release()) {  // misuse: the run fails, and ends here
    if (!lock.owns_lock() && !abandoned())
      detail::t_sim->fail("condition_variable::wait with a unique_lock that does not own its mutex (task '" +
                          detail::sim_task_name(detail::sim_current_task()) + "')");
    detail::sim_sync_point("condition_variable.wait");
    return std::cv_status::no_timeout;
  }
  WaitResult result{};
  try {
    result = waiters_.wait(
        "condition_variable.wait",
        ns < 0 ? "a notify on a condition_variable" : "a notify on a condition_variable (or its timeout)",
        ns);
  } catch (...) {
    static_cast<void>(lock.release());  // unwinding an abandoned task: the mutex is no longer ours
    throw;
  }
  lock.mutex()->lock();  // during teardown this may return without it; the unlock is then ignored
  return result == WaitResult::timed_out ? std::cv_status::timeout : std::cv_status::no_timeout;
}

std::int64_t condition_variable::now_ns() {
  if (detail::in_simulation()) return detail::t_sim->now_ns();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// --- thread ------------------------------------------------------------------------------------

struct thread::SimJoin {
  detail::SimTask* task = nullptr;
};

thread::thread(std::function<void()> fn, int) {
  if (!detail::in_simulation()) {
    real_ = std::thread(std::move(fn));
    return;
  }
  auto* parent = detail::sim_current_task();
  auto name = parent->name + "." + std::to_string(++parent->children);
  sim_ = std::make_shared<SimJoin>();
  sim_->task = detail::t_sim->spawn(std::move(name), std::move(fn));
  detail::sim_sync_point("thread.spawn");
}

thread::thread(thread&& other) noexcept : real_(std::move(other.real_)), sim_(std::move(other.sim_)) {}

thread& thread::operator=(thread&& other) noexcept {
  if (joinable()) std::terminate();
  real_ = std::move(other.real_);
  sim_ = std::move(other.sim_);
  return *this;
}

thread::~thread() {
  if (joinable()) std::terminate();
}

bool thread::joinable() const noexcept { return sim_ != nullptr || real_.joinable(); }

void thread::join() {
  if (!sim_) {
    real_.join();
    return;
  }
  auto* task = sim_->task;
  // Never throws the unwind signal (joins run in destructors): during teardown it just returns.
  constexpr detail::WaitDescribe describe = [](const void* t) {
    return "task '" + static_cast<const detail::SimTask*>(t)->name + "' to finish (join)";
  };
  while (task->state != detail::SimTask::State::done) {
    if (task->joiners.wait("thread.join", {}, -1, false, describe, task) == WaitResult::abandoned) break;
  }
  sim_.reset();
}

void thread::detach() {
  if (!sim_) {
    real_.detach();
    return;
  }
  sim_.reset();
}

// --- this_thread -------------------------------------------------------------------------------

namespace this_thread {

void sleep_for_ns(std::int64_t ns) {
  if (!detail::in_simulation()) {
    if (ns > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
    return;
  }
  if (ns <= 0) {
    detail::sim_sync_point("sleep");
    return;
  }
  detail::WaitList nobody;  // nothing wakes a sleeper but the clock
  static_cast<void>(nobody.wait("sleep", "its sleep to end", ns));
}

void yield() {
  if (!detail::in_simulation()) {
    std::this_thread::yield();
    return;
  }
  detail::sim_sync_point("yield");
}

}  // namespace this_thread

// --- cooperative waiting (wait.hpp) -------------------------------------------------------------

namespace {
detail::SimCore& running_core(const char* what) {
  if (detail::t_sim == nullptr)
    throw SimulationError(std::string("racelab: ") + what + " called outside a simulated task");
  return *detail::t_sim;
}
}  // namespace

WaitResult WaitQueue::wait(const char* point, std::string_view why, std::chrono::nanoseconds timeout) {
  static_cast<void>(running_core("WaitQueue::wait"));
  return list_.wait(point, why, timeout.count() < 0 ? -1 : timeout.count());
}

void WaitQueue::notify_one() noexcept { list_.wake_one(); }

void WaitQueue::notify_all() noexcept { list_.wake_all(); }

WaitResult wait_readable(int fd, const char* point, std::string_view why) {
  return running_core("racelab::wait_readable").wait_readable(fd, point, why);
}

NoThrowScope::NoThrowScope() noexcept : task_(detail::sim_current_task()) {
  if (task_ != nullptr) ++task_->nothrow_depth;
}

NoThrowScope::~NoThrowScope() {
  if (task_ != nullptr) --task_->nothrow_depth;
}

bool abandoned() noexcept { return detail::t_sim != nullptr && detail::t_sim->aborting(); }

}  // namespace racelab
