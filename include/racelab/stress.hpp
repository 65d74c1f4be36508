// racelab/stress.hpp — hammer code with real threads released at the same instant.
//
// Each iteration runs `setup()`, starts `threads` threads, parks them at a start gate until every
// one is ready, releases them together (the Rails "wait_for_it" gate), runs `body(thread_index)`
// on each, joins, and asks `check()` whether the invariant held.
//
//   auto report = racelab::stress(racelab::StressOptions{.threads = 4, .iterations = 500},
//       [&] { shop.reset(/*quantity=*/3); },
//       [&](int i) { shop.buy(customer[i]); },
//       [&] { return shop.sold() <= 3; });
//   EXPECT_EQ(report.violations(), 0) << report;
//
// `check` returns bool (false = violation) or std::string (non-empty = violation, the message).
// Exceptions escaping `body` are never swallowed: each is recorded with its thread and iteration,
// and makes `ok()` false. Threads are labelled `t0`, `t1`, … (see racelab::thread_label()).
// The gate skew is the time between the first and the last thread entering `body`: a measure of how
// simultaneous the start really was. A thread still running `join_warning` after the others is
// reported on stderr (by label) while the harness keeps waiting: a stuck body cannot be abandoned.
//
// If a thread cannot be started (std::thread's constructor throws std::system_error, e.g. EAGAIN at
// the process's thread limit), the threads already started for that iteration leave the gate
// without running `body` and are joined; then stress() throws std::system_error with the same code,
// naming the thread and the iteration. `check` is not called for that iteration and no report is
// returned. Any other exception from starting a thread is rethrown unchanged, after the same cleanup.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace racelab {

struct StressOptions {
  int threads = 4;
  int iterations = 100;
  // Stop starting new iterations after this long (0: no budget). The report says how many ran.
  std::chrono::milliseconds time_budget{0};
  // Report threads that have not finished their body this long after the gate opened.
  std::chrono::milliseconds join_warning{10'000};
};

// An exception that escaped `body`.
struct StressError {
  int iteration = 0;
  int thread = 0;
  std::string type;  // "std::runtime_error" or "unknown" for non-std exceptions
  std::string message;
};

class StressReport {
 public:
  int iterations() const { return iterations_; }
  int threads() const { return threads_; }
  int violations() const { return violations_; }
  double violation_rate() const { return iterations_ == 0 ? 0.0 : double(violations_) / iterations_; }
  const std::string& first_violation() const { return first_violation_; }  // "" if none
  const std::vector<StressError>& errors() const { return errors_; }
  bool ok() const { return violations_ == 0 && errors_.empty(); }
  bool budget_exhausted() const { return budget_exhausted_; }

  std::int64_t gate_skew_ns_p50() const { return percentile(0.50); }
  std::int64_t gate_skew_ns_p99() const { return percentile(0.99); }
  std::int64_t gate_skew_ns_max() const { return percentile(1.0); }
  // One gate skew per iteration that ran, sorted ascending: the samples the percentiles come from.
  const std::vector<std::int64_t>& gate_skews_ns() const { return skews_ns_; }
  double elapsed_seconds() const { return elapsed_seconds_; }
  double iterations_per_second() const { return elapsed_seconds_ > 0 ? iterations_ / elapsed_seconds_ : 0.0; }
  std::string summary() const;

 private:
  friend class StressRunner;
  friend StressReport run_stress(const StressOptions&, const std::function<void()>&,
                                 const std::function<void(int)>&, const std::function<std::string()>&);
  std::int64_t percentile(double q) const;

  int iterations_ = 0;
  int threads_ = 0;
  int violations_ = 0;
  std::string first_violation_;
  std::vector<StressError> errors_;
  std::vector<std::int64_t> skews_ns_;  // sorted once the run ends
  double elapsed_seconds_ = 0;
  bool budget_exhausted_ = false;
};

std::ostream& operator<<(std::ostream& out, const StressReport& report);

// Thrown for options that cannot run (no threads, no iterations).
class StressOptionsError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {

// Test seam, not API. While one of these lives, stress() calls made on *this* thread start each
// worker with `start(thread_index, run)` instead of `std::thread(run)`, so a test can make thread k
// fail to start exactly as std::thread's constructor would (by throwing). It is thread-local and
// scoped, so it never reaches another test, nor a stress() running on another thread. `start` must
// return a thread that runs `run` (or throw); the harness joins it.
class ScopedStressThreadStart {
 public:
  using Start = std::function<std::thread(int thread_index, std::function<void()> run)>;
  explicit ScopedStressThreadStart(Start start);
  ~ScopedStressThreadStart();
  ScopedStressThreadStart(const ScopedStressThreadStart&) = delete;
  ScopedStressThreadStart& operator=(const ScopedStressThreadStart&) = delete;

  // The innermost seam alive on the calling thread, or nullptr (the harness uses std::thread).
  static const Start* current();

 private:
  Start start_;
  const Start* previous_;
};

}  // namespace detail

// The type-erased engine behind stress(). `check` answers "" when the invariant holds.
StressReport run_stress(const StressOptions& options, const std::function<void()>& setup,
                        const std::function<void(int)>& body, const std::function<std::string()>& check);

template <class Setup, class Body, class Check>
StressReport stress(const StressOptions& options, Setup&& setup, Body&& body, Check&& check) {
  using Result = std::invoke_result_t<Check&>;
  std::function<std::string()> verdict;
  if constexpr (std::is_convertible_v<Result, std::string>) {
    verdict = [&check]() -> std::string { return check(); };
  } else {
    static_assert(std::is_convertible_v<Result, bool>, "check must return bool or std::string");
    verdict = [&check]() -> std::string {
      return static_cast<bool>(check()) ? std::string() : std::string("check() returned false");
    };
  }
  return run_stress(options, std::function<void()>(std::ref(setup)), std::function<void(int)>(std::ref(body)),
                    verdict);
}

}  // namespace racelab
