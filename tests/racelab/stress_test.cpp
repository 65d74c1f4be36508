// The stress harness: a start gate, violations and exceptions counted (never swallowed), skew and
// throughput measured, and a lost update it must catch in every iteration when a barrier forces it.
#include <racelab/hooks.hpp>
#include <racelab/stress.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>

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

TEST(Stress, EveryThreadRunsOncePerIterationWithItsIndexAndLabel) {
  std::mutex mu;
  std::multiset<std::string> seen;
  auto report = racelab::stress(
      racelab::StressOptions{.threads = 3, .iterations = 10}, [] {},
      [&](int i) {
        std::lock_guard lk(mu);
        seen.insert(std::to_string(i) + "/" + racelab::thread_label());
      },
      [] { return true; });
  EXPECT_TRUE(report.ok()) << report;
  EXPECT_EQ(seen.count("0/t0"), 10u);
  EXPECT_EQ(seen.count("2/t2"), 10u);
  EXPECT_EQ(seen.size(), 30u);
  EXPECT_GE(report.gate_skew_ns_p99(), report.gate_skew_ns_p50());
  EXPECT_GE(report.gate_skew_ns_p50(), 0);
  EXPECT_GT(report.iterations_per_second(), 0.0);
}

TEST(Stress, ExceptionsAreRecordedNotSwallowed) {
  auto report = racelab::stress(
      racelab::StressOptions{.threads = 2, .iterations = 5}, [] {},
      [](int i) {
        if (i == 1) throw std::out_of_range("thread one fails");
      },
      [] { return true; });
  EXPECT_FALSE(report.ok());
  ASSERT_EQ(report.errors().size(), 5u);
  EXPECT_EQ(report.errors()[0].thread, 1);
  EXPECT_EQ(report.errors()[0].type, "std::out_of_range");
  EXPECT_EQ(report.errors()[0].message, "thread one fails");
  std::ostringstream out;
  out << report;
  EXPECT_NE(out.str().find("first exception: iteration 0, t1: std::out_of_range: thread one fails"),
            std::string::npos)
      << out.str();
}

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

TEST(Stress, TimeBudgetStopsEarlyAndSaysSo) {
  auto report = racelab::stress(
      racelab::StressOptions{
          .threads = 2, .iterations = 1'000'000, .time_budget = std::chrono::milliseconds(20)},
      [] {}, [](int) {}, [] { return true; });
  EXPECT_TRUE(report.budget_exhausted());
  EXPECT_LT(report.iterations(), 1'000'000);
  EXPECT_NE(report.summary().find("time budget reached"), std::string::npos);
}

TEST(Stress, RejectsOptionsThatCannotRun) {
  auto run = [](racelab::StressOptions o) {
    return racelab::stress(
        o, [] {}, [](int) {}, [] { return true; });
  };
  EXPECT_THROW(run({.threads = 0}), racelab::StressOptionsError);
  EXPECT_THROW(run({.iterations = 0}), racelab::StressOptionsError);
  EXPECT_THROW(run({.time_budget = std::chrono::milliseconds(-1)}), racelab::StressOptionsError);
}
