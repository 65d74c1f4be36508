// racelab/sim/sync.hpp — drop-in synchronisation types that the simulation can schedule.
//
// Outside a simulation each type behaves as its std counterpart (and costs one thread-local load
// more). Inside a simulated task every operation is a scheduling point, and blocking blocks the
// task, not the thread: the scheduler runs someone else, reports a deadlock when nobody can run,
// and advances a virtual clock for sleeps and timeouts.
//
//   racelab::mutex m;                 // racelab::mutex m{"accounts"} names it in deadlock reports
//   racelab::atomic<int> hits{0};
//   racelab::thread t([&] { std::lock_guard lock(m); hits.fetch_add(1); });
//   t.join();
//
// Memory ordering: outside a simulation the std types give their usual guarantees (atomic<T>
// forwards the order you pass). Inside one, tasks run one at a time on one thread, so every
// operation is sequentially consistent; the simulation explores interleavings, not weak-memory
// reorderings.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "racelab/sim/wait.hpp"

namespace racelab {

namespace detail {
// A scheduling decision at a sync operation. `_nothrow`: for operations that run in destructors
// (unlock, notify): during teardown it returns instead of throwing the unwind signal.
void sim_sync_point(const char* point);
void sim_sync_point_nothrow(const char* point) noexcept;
SimTask* sim_current_task() noexcept;
const std::string& sim_task_name(const SimTask* task) noexcept;
}  // namespace detail

class mutex {
 public:
  mutex() = default;
  explicit mutex(const char* name) : name_(name) {}
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;
  void lock();
  bool try_lock();
  void unlock();

 private:
  friend class condition_variable;
  bool release();  // sim only: unlock without a scheduling point; false if not the owner
  std::mutex real_;
  const char* name_ = "mutex";
  detail::SimTask* owner_ = nullptr;
  detail::WaitList waiters_;
};

class shared_mutex {
 public:
  shared_mutex() = default;
  explicit shared_mutex(const char* name) : name_(name) {}
  shared_mutex(const shared_mutex&) = delete;
  shared_mutex& operator=(const shared_mutex&) = delete;
  void lock();
  bool try_lock();
  void unlock();
  void lock_shared();
  bool try_lock_shared();
  void unlock_shared();

 private:
  std::shared_mutex real_;
  const char* name_ = "shared_mutex";
  detail::SimTask* writer_ = nullptr;
  std::vector<detail::SimTask*> readers_;
  detail::WaitList waiters_;
};

class condition_variable {
 public:
  void notify_one();
  void notify_all();
  void wait(std::unique_lock<racelab::mutex>& lock);
  template <class Pred>
  void wait(std::unique_lock<racelab::mutex>& lock, Pred pred) {
    while (!pred()) {
      wait(lock);
      if (abandoned()) return;  // teardown, where this task may not throw: stop waiting
    }
  }
  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<racelab::mutex>& lock, std::chrono::duration<Rep, Period> d) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    return wait_for_ns(lock, ns < 0 ? 0 : ns);
  }
  template <class Rep, class Period, class Pred>
  bool wait_for(std::unique_lock<racelab::mutex>& lock, std::chrono::duration<Rep, Period> d, Pred pred) {
    // Outside a simulation the deadline is real time; inside, virtual time.
    const auto total = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    const auto start = now_ns();
    while (!pred()) {
      auto left = total - (now_ns() - start);
      if (left <= 0 || wait_for_ns(lock, left) == std::cv_status::timeout || abandoned()) return pred();
    }
    return true;
  }

 private:
  std::cv_status wait_for_ns(std::unique_lock<racelab::mutex>& lock, std::int64_t ns);  // ns < 0: forever
  static std::int64_t now_ns();
  std::condition_variable_any real_;
  detail::WaitList waiters_;
};

template <class T>
class atomic {
 public:
  constexpr atomic() noexcept = default;
  constexpr atomic(T value) noexcept : v_(value) {}  // NOLINT: implicit, as std::atomic
  atomic(const atomic&) = delete;
  atomic& operator=(const atomic&) = delete;

  T load(std::memory_order order = std::memory_order_seq_cst) const {
    point("atomic.load");
    return v_.load(order);
  }
  void store(T value, std::memory_order order = std::memory_order_seq_cst) {
    point("atomic.store");
    v_.store(value, order);
  }
  T exchange(T value, std::memory_order order = std::memory_order_seq_cst) {
    point("atomic.exchange");
    return v_.exchange(value, order);
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order order = std::memory_order_seq_cst) {
    point("atomic.compare_exchange");
    return v_.compare_exchange_strong(expected, desired, order);
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order order = std::memory_order_seq_cst) {
    point("atomic.compare_exchange");
    return v_.compare_exchange_weak(expected, desired, order);
  }
  T fetch_add(T arg, std::memory_order order = std::memory_order_seq_cst) {
    point("atomic.fetch_add");
    return v_.fetch_add(arg, order);
  }
  T fetch_sub(T arg, std::memory_order order = std::memory_order_seq_cst) {
    point("atomic.fetch_sub");
    return v_.fetch_sub(arg, order);
  }
  operator T() const { return load(); }  // NOLINT: implicit, as std::atomic
  T operator=(T value) {
    store(value);
    return value;
  }
  T operator++() { return fetch_add(1) + 1; }
  T operator--() { return fetch_sub(1) - 1; }
  T operator++(int) { return fetch_add(1); }
  T operator--(int) { return fetch_sub(1); }

 private:
  static void point(const char* name) {
    if (detail::in_simulation()) detail::sim_sync_point(name);
  }
  std::atomic<T> v_{};
};

// std::thread outside a simulation; inside one, a new task named "<parent>.<n>".
class thread {
 public:
  thread() noexcept = default;
  template <class F, class... Args>
  explicit thread(F&& f, Args&&... args)
      : thread(std::function<void()>([fn = std::forward<F>(f), ... a = std::forward<Args>(args)]() mutable {
                 std::invoke(fn, a...);
               }),
               0) {}
  thread(thread&&) noexcept;
  thread& operator=(thread&&) noexcept;
  ~thread();  // like std::thread: terminates if still joinable
  bool joinable() const noexcept;
  void join();
  void detach();

 private:
  struct SimJoin;
  thread(std::function<void()> fn, int);
  std::thread real_;
  std::shared_ptr<SimJoin> sim_;
};

namespace this_thread {
// Real sleep outside a simulation; inside, the task waits while virtual time advances.
void sleep_for_ns(std::int64_t ns);
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  sleep_for_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}
void yield();
// True on a task of a running simulation. Code that would otherwise draw on randomness or real
// time of its own (a retry's jitter, say) asks this, so the seed keeps owning every choice.
inline bool simulated() noexcept { return detail::in_simulation(); }
}  // namespace this_thread

}  // namespace racelab
