// The real-thread stress harness. See racelab/stress.hpp.
#include "racelab/stress.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <ostream>
#include <sstream>
#include <system_error>
#include <thread>
#include <typeinfo>

#include <cxxabi.h>

#include "racelab/point.hpp"

namespace racelab {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

StressError describe(std::exception_ptr error, int iteration, int thread) {
  StressError out{iteration, thread, "unknown", "a non-std exception"};
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    int status = 0;
    char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
    out.type = status == 0 && name != nullptr ? name : typeid(e).name();
    std::free(name);
    out.message = e.what();
  } catch (...) {
  }
  return out;
}

thread_local const detail::ScopedStressThreadStart::Start* t_thread_start = nullptr;

// Thread `thread` of `n` could not be started (we are in the handler of that exception): open the
// gate with `abandoned` set, so the threads already started leave without running the body, join
// them, and throw. A std::system_error keeps its code and gains where it happened; anything else is
// rethrown unchanged. Runs on the harness thread only. `abandoned` is stored (relaxed) before the
// release store to `go`, so every thread that acquires `go` sees it.
[[noreturn]] void abandon_iteration(std::vector<std::thread>& started, std::atomic<bool>& abandoned,
                                    std::atomic<bool>& go, int iteration, int thread, int n) {
  abandoned.store(true, std::memory_order_relaxed);
  go.store(true, std::memory_order_release);
  for (auto& th : started) th.join();
  try {
    throw;
  } catch (const std::system_error& e) {
    throw std::system_error(e.code(), "racelab::stress: could not start thread t" + std::to_string(thread) +
                                          " of " + std::to_string(n) + " in iteration " +
                                          std::to_string(iteration) + " (" + std::to_string(started.size()) +
                                          " started thread(s) released without running body, and joined)");
  }
}

}  // namespace

namespace detail {

ScopedStressThreadStart::ScopedStressThreadStart(Start start)
    : start_(std::move(start)), previous_(t_thread_start) {
  t_thread_start = &start_;
}

ScopedStressThreadStart::~ScopedStressThreadStart() { t_thread_start = previous_; }

const ScopedStressThreadStart::Start* ScopedStressThreadStart::current() { return t_thread_start; }

}  // namespace detail

// One iteration at a time: start the threads, open the gate, wait for them, check.
class StressRunner {
 public:
  StressRunner(const StressOptions& options, const std::function<void(int)>& body)
      : options_(options), body_(body) {}

  void iteration(int index, StressReport& report) {
    const int n = options_.threads;
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::atomic<bool> abandoned{false};  // a thread could not start: leave the gate, skip the body
    std::vector<std::int64_t> start_ns(n, 0);
    std::vector<std::exception_ptr> errors(n);
    std::vector<char> finished(n, 0);
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;

    const auto* seam = detail::ScopedStressThreadStart::current();
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (int t = 0; t < n; ++t) {
      auto run = [&, t] {
        // append, not "t" + std::to_string(t): GCC 12 at -O3 reports a false -Wrestrict inside
        // the inlined operator+(const char*, std::string&&).
        std::string label = "t";
        label.append(std::to_string(t));
        set_thread_label(std::move(label));
        ready.fetch_add(1, std::memory_order_acq_rel);
        // The gate: spin (yielding, so a 2-core machine can run 4 threads) until it opens.
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        if (abandoned.load(std::memory_order_relaxed)) return;  // ordered by the acquire of `go`
        start_ns[t] = now_ns();
        try {
          body_(t);
        } catch (...) {
          errors[t] = std::current_exception();
        }
        std::lock_guard lk(mu);
        finished[t] = 1;
        ++done;
        cv.notify_all();
      };
      try {
        threads.push_back(seam != nullptr ? (*seam)(t, run) : std::thread(run));  // reserved: no realloc
      } catch (...) {
        abandon_iteration(threads, abandoned, go, index, t, n);
      }
    }
    while (ready.load(std::memory_order_acquire) < n) std::this_thread::yield();
    go.store(true, std::memory_order_release);

    {
      std::unique_lock lk(mu);
      while (!cv.wait_for(lk, options_.join_warning, [&] { return done == n; })) {
        std::string stuck;
        for (int t = 0; t < n; ++t)
          if (!finished[t]) stuck += " t" + std::to_string(t);
        std::fprintf(stderr, "racelab: stress iteration %d: still waiting for%s after %lld ms\n", index,
                     stuck.c_str(), static_cast<long long>(options_.join_warning.count()));
      }
    }
    for (auto& th : threads) th.join();

    auto [lo, hi] = std::minmax_element(start_ns.begin(), start_ns.end());
    report.skews_ns_.push_back(*hi - *lo);
    for (int t = 0; t < n; ++t)
      if (errors[t]) report.errors_.push_back(describe(errors[t], index, t));
  }

 private:
  const StressOptions& options_;
  const std::function<void(int)>& body_;
};

StressReport run_stress(const StressOptions& options, const std::function<void()>& setup,
                        const std::function<void(int)>& body, const std::function<std::string()>& check) {
  if (options.threads < 1) throw StressOptionsError("racelab::stress: threads must be >= 1");
  if (options.iterations < 1) throw StressOptionsError("racelab::stress: iterations must be >= 1");
  if (options.time_budget.count() < 0)
    throw StressOptionsError("racelab::stress: time_budget must be >= 0 (0 means no budget)");
  if (options.join_warning.count() <= 0)
    throw StressOptionsError("racelab::stress: join_warning must be positive");

  StressReport report;
  report.threads_ = options.threads;
  StressRunner runner(options, body);
  const auto start = Clock::now();
  for (int i = 0; i < options.iterations; ++i) {
    if (options.time_budget.count() > 0 && Clock::now() - start >= options.time_budget) {
      report.budget_exhausted_ = true;
      break;
    }
    setup();
    runner.iteration(i, report);
    ++report.iterations_;
    std::string verdict = check();
    if (!verdict.empty()) {
      if (report.violations_ == 0)
        report.first_violation_ = "iteration " + std::to_string(i) + ": " + verdict;
      ++report.violations_;
    }
  }
  report.elapsed_seconds_ = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(report.skews_ns_.begin(), report.skews_ns_.end());
  return report;
}

std::int64_t StressReport::percentile(double q) const {
  if (skews_ns_.empty()) return 0;
  auto rank = static_cast<std::size_t>(q * static_cast<double>(skews_ns_.size() - 1) + 0.5);
  return skews_ns_[std::min(rank, skews_ns_.size() - 1)];
}

std::string StressReport::summary() const {
  std::ostringstream out;
  out << "stress: " << iterations_ << " iterations x " << threads_ << " threads";
  if (budget_exhausted_) out << " (time budget reached)";
  out << ", " << violations_ << " violation(s)";
  if (iterations_ > 0) {
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.1f", 100.0 * violation_rate());
    out << " (" << rate << "%)";
  }
  out << ", " << errors_.size() << " exception(s)";
  out << "; gate skew p50 " << static_cast<double>(gate_skew_ns_p50()) / 1000.0 << " us, p99 "
      << static_cast<double>(gate_skew_ns_p99()) / 1000.0 << " us; "
      << static_cast<long long>(iterations_per_second()) << " iterations/s";
  if (!first_violation_.empty()) out << "\n  first violation: " << first_violation_;
  if (!errors_.empty()) {
    const auto& e = errors_.front();
    out << "\n  first exception: iteration " << e.iteration << ", t" << e.thread << ": " << e.type << ": "
        << e.message;
  }
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const StressReport& report) { return out << report.summary(); }

}  // namespace racelab
