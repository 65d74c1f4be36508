// racelab's drop-in sync types: std behaviour outside a simulation, scheduling points inside one.
#include "racelab/sim/sync.hpp"

#include <system_error>

#include "racelab/sim/core.hpp"

namespace racelab {
namespace {

std::string held_by(const char* what, const char* name, const detail::SimTask* owner) {
  return std::string(what) + " '" + name + "' held by " +
         (owner != nullptr ? detail::sim_task_name(owner) : "?");
}

}  // namespace

// --- mutex -------------------------------------------------------------------------------------

void mutex::lock() {
  if (!detail::in_simulation()) {
    real_.lock();
    return;
  }
  detail::sim_sync_point("mutex.lock");
  auto* me = detail::sim_current_task();
  if (owner_ == me)
    throw std::system_error(std::make_error_code(std::errc::resource_deadlock_would_occur),
                            "racelab::mutex '" + std::string(name_) + "' locked twice by task '" +
                                detail::sim_task_name(me) + "'");
  while (owner_ != nullptr && !detail::sim_unwinding())
    waiters_.wait("mutex.lock", held_by("mutex", name_, owner_));
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
  if (owner_ == nullptr) {
    real_.unlock();
    return;
  }
  release();
  detail::sim_sync_point("mutex.unlock");
}

void mutex::release() {
  owner_ = nullptr;
  waiters_.wake_all();  // they re-contend; the scheduler decides who wins
}

// --- shared_mutex ------------------------------------------------------------------------------

void shared_mutex::lock() {
  if (!detail::in_simulation()) {
    real_.lock();
    return;
  }
  detail::sim_sync_point("shared_mutex.lock");
  auto* me = detail::sim_current_task();
  while (writer_ != nullptr || readers_ > 0)
    waiters_.wait("shared_mutex.lock", writer_ != nullptr
                                           ? held_by("shared_mutex", name_, writer_)
                                           : "shared_mutex '" + std::string(name_) + "' held by " +
                                                 std::to_string(readers_) + " reader(s)");
  writer_ = me;
}

bool shared_mutex::try_lock() {
  if (!detail::in_simulation()) return real_.try_lock();
  detail::sim_sync_point("shared_mutex.try_lock");
  if (writer_ != nullptr || readers_ > 0) return false;
  writer_ = detail::sim_current_task();
  return true;
}

void shared_mutex::unlock() {
  if (writer_ == nullptr) {
    real_.unlock();
    return;
  }
  writer_ = nullptr;
  waiters_.wake_all();
  detail::sim_sync_point("shared_mutex.unlock");
}

void shared_mutex::lock_shared() {
  if (!detail::in_simulation()) {
    real_.lock_shared();
    return;
  }
  detail::sim_sync_point("shared_mutex.lock_shared");
  while (writer_ != nullptr)
    waiters_.wait("shared_mutex.lock_shared", held_by("shared_mutex", name_, writer_));
  ++readers_;
}

bool shared_mutex::try_lock_shared() {
  if (!detail::in_simulation()) return real_.try_lock_shared();
  detail::sim_sync_point("shared_mutex.try_lock_shared");
  if (writer_ != nullptr) return false;
  ++readers_;
  return true;
}

void shared_mutex::unlock_shared() {
  if (readers_ == 0) {
    real_.unlock_shared();
    return;
  }
  if (--readers_ == 0) waiters_.wake_all();
  detail::sim_sync_point("shared_mutex.unlock_shared");
}

// --- condition_variable ------------------------------------------------------------------------

void condition_variable::notify_one() {
  if (!detail::in_simulation()) {
    real_.notify_one();
    return;
  }
  waiters_.wake_one();
  detail::sim_sync_point("condition_variable.notify");
}

void condition_variable::notify_all() {
  if (!detail::in_simulation()) {
    real_.notify_all();
    return;
  }
  waiters_.wake_all();
  detail::sim_sync_point("condition_variable.notify");
}

void condition_variable::wait(std::unique_lock<racelab::mutex>& lock) {
  if (!detail::in_simulation()) {
    real_.wait(lock);
    return;
  }
  // Release and start waiting with no scheduling point in between, so no notify can fall between.
  lock.mutex()->release();
  try {
    waiters_.wait("condition_variable.wait", "a notify on a condition_variable");
  } catch (...) {
    lock.release();  // unwinding an abandoned task: the mutex is no longer ours
    throw;
  }
  lock.mutex()->lock();
}

std::cv_status condition_variable::wait_for_ns(std::unique_lock<racelab::mutex>& lock, std::int64_t ns) {
  if (!detail::in_simulation()) return real_.wait_for(lock, std::chrono::nanoseconds(ns));
  lock.mutex()->release();
  bool woken = false;
  try {
    woken = waiters_.wait("condition_variable.wait", "a notify on a condition_variable (or its timeout)",
                          ns < 0 ? 0 : ns);
  } catch (...) {
    lock.release();
    throw;
  }
  lock.mutex()->lock();
  return woken ? std::cv_status::no_timeout : std::cv_status::timeout;
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
  while (task->state != detail::SimTask::State::done)
    task->joiners.wait("thread.join", "task '" + task->name + "' to finish (join)");
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
  nobody.wait("sleep", "its sleep to end", ns);
}

void yield() {
  if (!detail::in_simulation()) {
    std::this_thread::yield();
    return;
  }
  detail::sim_sync_point("yield");
}

}  // namespace this_thread
}  // namespace racelab
