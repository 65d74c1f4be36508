// The stress harness: a start gate, violations and exceptions counted (never swallowed), gate skew
// statistics taken from one sample per iteration, a time budget, a lost update it must catch in
// every iteration when a barrier forces it, and a thread that cannot start (no terminate, no hang).
#include <racelab/hooks.hpp>
#include <racelab/stress.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace {

// A counter whose read and write are each atomic, but not together.
struct Counter {
  std::atomic<int> value{0};
  void unsafe_increment() {
    int seen = value.load();
    RACELAB_POINT("stress_test.after_read");
    value.store(seen + 1);
  }
};

// The sample the report's percentile q must be: nearest rank over the sorted samples.
std::int64_t nearest_rank(const std::vector<std::int64_t>& sorted, double q) {
  auto rank = static_cast<std::size_t>(std::lround(q * static_cast<double>(sorted.size() - 1)));
  return sorted.at(rank);
}

}  // namespace

// barrier(4) at the window forces all four reads before any write: a lost update in 100% of runs.
TEST(Stress, CatchesAForcedLostUpdateEveryIteration) {
  racelab::Hooks hooks;
  hooks.barrier("stress_test.after_read", 4);
  Counter c;
  auto report = racelab::stress(
      racelab::StressOptions{.threads = 4, .iterations = 50}, [&] { c.value = 0; },
      [&](int) { c.unsafe_increment(); }, [&] { return c.value == 4; });
  EXPECT_EQ(report.iterations(), 50);
  EXPECT_EQ(report.violations(), 50) << report;
  EXPECT_EQ(report.first_violation(), "iteration 0: check() returned false");
  EXPECT_EQ(hooks.hits("stress_test.after_read"), 200u);
  EXPECT_EQ(hooks.timeout_count(), 0u);
}

// Each (thread index, label) pair is seen exactly once per iteration, and the report counts what ran.
TEST(Stress, EveryThreadRunsOncePerIterationWithItsIndexAndLabel) {
  std::mutex mu;
  std::multiset<std::string> seen;
  int setups = 0, checks = 0;
  auto report = racelab::stress(
      racelab::StressOptions{.threads = 3, .iterations = 10}, [&] { ++setups; },
      [&](int i) {
        std::lock_guard lk(mu);
        seen.insert(std::to_string(i) + "/" + racelab::thread_label());
      },
      [&] {
        ++checks;
        return true;
      });
  EXPECT_TRUE(report.ok()) << report;
  EXPECT_EQ(report.iterations(), 10);
  EXPECT_EQ(report.threads(), 3);
  EXPECT_EQ(setups, 10);
  EXPECT_EQ(checks, 10);
  EXPECT_EQ(seen.count("0/t0"), 10u);
  EXPECT_EQ(seen.count("1/t1"), 10u);
  EXPECT_EQ(seen.count("2/t2"), 10u);
  EXPECT_EQ(seen.size(), 30u);  // threads x iterations bodies, and no other pair
}

// The percentiles are read from exactly one skew per iteration, at nearest rank over sorted samples.
TEST(Stress, GateSkewPercentilesComeFromOneSamplePerIteration) {
  auto report = racelab::stress(
      racelab::StressOptions{.threads = 3, .iterations = 40}, [] {}, [](int) {}, [] { return true; });
  const auto& skews = report.gate_skews_ns();
  ASSERT_EQ(skews.size(), 40u);
  EXPECT_TRUE(std::is_sorted(skews.begin(), skews.end()));
  EXPECT_GE(skews.front(), 0);  // a skew is last minus first start of one iteration
  EXPECT_EQ(report.gate_skew_ns_p50(), nearest_rank(skews, 0.50));
  EXPECT_EQ(report.gate_skew_ns_p99(), nearest_rank(skews, 0.99));
  EXPECT_EQ(report.gate_skew_ns_max(), skews.back());
}

// With one thread the first and the last start are the same start: every skew is exactly 0.
TEST(Stress, OneThreadHasZeroGateSkew) {
  auto report = racelab::stress(
      racelab::StressOptions{.threads = 1, .iterations = 5}, [] {}, [](int) {}, [] { return true; });
  EXPECT_EQ(report.gate_skews_ns(), std::vector<std::int64_t>(5, 0));
  EXPECT_EQ(report.gate_skew_ns_max(), 0);
}

// Thread 1 throws in each of 5 iterations: 5 errors, each with its iteration, thread, type, message.
TEST(Stress, ExceptionsAreRecordedNotSwallowed) {
  auto report = racelab::stress(
      racelab::StressOptions{.threads = 2, .iterations = 5}, [] {},
      [](int i) {
        if (i == 1) throw std::out_of_range("thread one fails");
      },
      [] { return true; });
  EXPECT_FALSE(report.ok());
  ASSERT_EQ(report.errors().size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(report.errors()[i].iteration, i);
    EXPECT_EQ(report.errors()[i].thread, 1);
  }
  EXPECT_EQ(report.errors()[0].type, "std::out_of_range");
  EXPECT_EQ(report.errors()[0].message, "thread one fails");
  std::ostringstream out;
  out << report;
  EXPECT_NE(out.str().find("first exception: iteration 0, t1: std::out_of_range: thread one fails"),
            std::string::npos)
      << out.str();
}

// Even iterations (by setup count) fail with a message: 2 of 4, and the first one is quoted.
TEST(Stress, StringCheckCarriesTheMessage) {
  int iteration = 0;
  auto report = racelab::stress(
      racelab::StressOptions{.threads = 1, .iterations = 4}, [&] { ++iteration; }, [](int) {},
      [&]() -> std::string {
        return iteration % 2 == 0 ? "even iteration " + std::to_string(iteration) : "";
      });
  EXPECT_EQ(report.violations(), 2);
  EXPECT_DOUBLE_EQ(report.violation_rate(), 0.5);
  EXPECT_EQ(report.first_violation(), "iteration 1: even iteration 2");
}

// The body runs until the monotonic clock is past the budget, so no second iteration may start:
// at most one runs (none if the caller was descheduled past the budget), and the report says so.
TEST(Stress, TimeBudgetStopsEarlyAndSaysSo) {
  constexpr auto kBudget = std::chrono::milliseconds(20);
  int setups = 0;
  std::chrono::steady_clock::time_point setup_at;
  auto report = racelab::stress(
      racelab::StressOptions{.threads = 2, .iterations = 1'000'000, .time_budget = kBudget},
      [&] {
        ++setups;
        setup_at = std::chrono::steady_clock::now();
      },
      [&](int) {
        while (std::chrono::steady_clock::now() - setup_at <= kBudget) std::this_thread::yield();
      },
      [] { return true; });
  EXPECT_TRUE(report.budget_exhausted());
  EXPECT_LE(setups, 1);
  EXPECT_EQ(report.iterations(), setups);
  EXPECT_NE(report.summary().find("time budget reached"), std::string::npos) << report;
}

// Each option that cannot run is refused with StressOptionsError before any thread starts.
TEST(Stress, RejectsOptionsThatCannotRun) {
  int setups = 0;
  auto run = [&](racelab::StressOptions o) {
    return racelab::stress(
        o, [&] { ++setups; }, [](int) {}, [] { return true; });
  };
  EXPECT_THROW(run({.threads = 0}), racelab::StressOptionsError);
  EXPECT_THROW(run({.iterations = 0}), racelab::StressOptionsError);
  EXPECT_THROW(run({.time_budget = std::chrono::milliseconds(-1)}), racelab::StressOptionsError);
  EXPECT_THROW(run({.join_warning = std::chrono::milliseconds(0)}), racelab::StressOptionsError);
  EXPECT_EQ(setups, 0);
}

// The Nth thread start fails (a test seam throws what std::thread's constructor throws at the
// thread limit): stress() releases and joins the threads already started, none of which runs the
// body of the broken iteration, then throws system_error naming the thread. A hang shows as the
// ctest timeout; std::terminate as a crash.
class StressThreadStart : public testing::TestWithParam<int> {};

TEST_P(StressThreadStart, FailureReleasesStartedThreadsAndThrows) {
  constexpr int kThreads = 4;
  const int failing_start = GetParam();  // counted over the whole run: 6 is t2 of iteration 1
  const int iteration = failing_start / kThreads, thread = failing_start % kThreads;
  std::atomic<int> starts{0}, exited{0}, bodies{0};
  int setups = 0, checks = 0;
  racelab::detail::ScopedStressThreadStart seam([&](int index, std::function<void()> run) {
    EXPECT_EQ(index, starts.load() % kThreads);
    if (starts.load() == failing_start)
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                              "pthread_create");
    ++starts;
    return std::thread([run = std::move(run), &exited] {
      run();
      ++exited;
    });
  });
  try {
    static_cast<void>(racelab::stress(
        racelab::StressOptions{.threads = kThreads, .iterations = 3}, [&] { ++setups; },
        [&](int) { ++bodies; },
        [&] {
          ++checks;
          return true;
        }));
    FAIL() << "stress() returned although thread start " << failing_start << " failed";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::resource_unavailable_try_again);
    const std::string what = e.what();
    EXPECT_NE(what.find("t" + std::to_string(thread) + " of 4"), std::string::npos) << what;
    EXPECT_NE(what.find("iteration " + std::to_string(iteration)), std::string::npos) << what;
  }
  EXPECT_EQ(starts, failing_start);
  EXPECT_EQ(exited, failing_start);         // every started thread finished: it was joined, not abandoned
  EXPECT_EQ(bodies, iteration * kThreads);  // the broken iteration's threads never ran the body
  EXPECT_EQ(setups, iteration + 1);
  EXPECT_EQ(checks, iteration);
}

INSTANTIATE_TEST_SUITE_P(Stress, StressThreadStart, testing::Values(0, 3, 6),
                         [](const testing::TestParamInfo<int>& p) {
                           return "start_" + std::to_string(p.param);
                         });
