// Kept helper threads for explore(). See workers.hpp.
#include "workers.hpp"

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace racelab::detail {
namespace {

// One kept thread: parked on `wake` until it is given a job, then back to the idle list.
struct Worker {
  std::condition_variable wake;
  std::function<void()> job;        // under Pool::mu_
  std::atomic<bool> given = false;  // job is set: what a thread that just finished one spins on
};

class Pool {
 public:
  // Leaked on purpose: detached threads still use it while the process exits.
  static Pool*& instance() {
    static Pool* pool = make();
    return pool;
  }

  // A parked thread, or a new one. Throws std::system_error when none can be started.
  Worker* take() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        Worker* w = idle_.back();
        idle_.pop_back();
        return w;
      }
    }
    auto* w = new Worker;  // its thread's, for the life of the process
    try {
      std::thread([this, w] { serve(w); }).detach();
    } catch (...) {
      delete w;
      throw;
    }
    return w;
  }

  void put_back(Worker* w) {
    std::lock_guard lock(mu_);
    idle_.push_back(w);
  }

  void give(Worker* w, std::function<void()> job) {
    std::lock_guard lock(mu_);
    w->job = std::move(job);
    w->given.store(true, std::memory_order_release);
    w->wake.notify_one();
  }

 private:
  static Pool* make() {
    // The child of a fork has none of the parent's threads: it starts with a pool of its own (the
    // parent's, whose mutex another thread may have held at the fork, is left alone).
    pthread_atfork(nullptr, nullptr, [] { instance() = new Pool; });
    return new Pool;
  }

  // A thread that has just finished a job spins a little before it parks: searches often come
  // back to back (a test's explore() calls, racelab run's --time chunks), and waking a parked
  // thread costs a good part of a short search.
  void serve(Worker* w) {
    std::unique_lock lock(mu_);
    for (;;) {
      w->wake.wait(lock, [w] { return static_cast<bool>(w->job); });
      std::function<void()> job = std::move(w->job);
      w->job = nullptr;
      w->given.store(false, std::memory_order_relaxed);
      lock.unlock();
      job();  // run_on_workers puts `w` back on the idle list once every job has returned
      job = nullptr;
      for (int i = 0; i < kSpins && !w->given.load(std::memory_order_acquire); ++i) cpu_relax();
      lock.lock();
    }
  }

  static constexpr int kSpins = 2000;  // pause instructions: about 50 µs on this machine kind (28 ns each)

  std::mutex mu_;
  std::vector<Worker*> idle_;
};

}  // namespace

void run_on_workers(int n, const std::function<void(int)>& work) {
  Pool* pool = Pool::instance();
  std::vector<Worker*> helpers;
  try {
    for (int i = 1; i < n; ++i) helpers.push_back(pool->take());
  } catch (...) {  // nothing has started: give back the threads taken, then say why
    for (Worker* w : helpers) pool->put_back(w);
    throw;
  }
  std::mutex mu;
  std::condition_variable finished;
  int running = static_cast<int>(helpers.size());
  // Every job is made before the first is given: a job that cannot be made (no memory) must not
  // leave others running against this frame.
  std::vector<std::function<void()>> jobs;
  try {
    for (std::size_t i = 0; i < helpers.size(); ++i)
      jobs.emplace_back([&, i] {
        work(static_cast<int>(i) + 1);
        std::lock_guard lock(mu);
        if (--running == 0) finished.notify_all();
      });
  } catch (...) {
    for (Worker* w : helpers) pool->put_back(w);
    throw;
  }
  for (std::size_t i = 0; i < helpers.size(); ++i) pool->give(helpers[i], std::move(jobs[i]));
  work(0);
  {
    std::unique_lock lock(mu);
    finished.wait(lock, [&] { return running == 0; });
  }
  // Back to the idle list only now, so the next search finds them idle instead of starting more.
  for (Worker* w : helpers) pool->put_back(w);
}

}  // namespace racelab::detail
