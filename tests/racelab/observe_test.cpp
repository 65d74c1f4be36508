// PointLog: a thread's record of the points it passed, for traces.
#include <racelab/observe.hpp>
#include <racelab/point.hpp>
#include <racelab/sim/simulation.hpp>

#include <gtest/gtest.h>

#include <algorithm>

#include <string>
#include <thread>
#include <vector>

namespace {

std::vector<std::string> names(const racelab::PointLog& log) {
  std::vector<std::string> out;
  for (const auto& e : log.entries()) out.emplace_back(e.point);
  return out;
}

void step(int n) {
  RACELAB_POINT("observe_test.first");
  if (n > 0) RACELAB_POINT("observe_test.second");
}

}  // namespace

TEST(PointLog, RecordsThisThreadsPointsInOrderWithTimes) {
  racelab::PointLog log;
  step(1);
  racelab::Point("observe_test.runtime").hit();
  step(0);
  EXPECT_EQ(names(log), (std::vector<std::string>{"observe_test.first", "observe_test.second",
                                                  "observe_test.runtime", "observe_test.first"}));
  for (std::size_t i = 1; i < log.entries().size(); ++i)
    EXPECT_LE(log.entries()[i - 1].at, log.entries()[i].at);
}

TEST(PointLog, IgnoresOtherThreads) {
  racelab::PointLog log;
  std::thread other([] { step(1); });
  other.join();
  step(0);
  EXPECT_EQ(names(log), (std::vector<std::string>{"observe_test.first"}));
}

TEST(PointLog, TheInnermostLogRecordsAndTheOuterResumes) {
  racelab::PointLog outer;
  step(0);
  {
    racelab::PointLog inner;
    step(1);
    EXPECT_EQ(names(inner), (std::vector<std::string>{"observe_test.first", "observe_test.second"}));
  }
  step(0);
  EXPECT_EQ(names(outer), (std::vector<std::string>{"observe_test.first", "observe_test.first"}));
}

TEST(PointLog, ArmsThePointsOnlyWhileItLives) {
  ASSERT_FALSE(racelab::detail::armed());
  {
    racelab::PointLog log;
    EXPECT_TRUE(racelab::detail::armed());
  }
  EXPECT_FALSE(racelab::detail::armed());
  step(1);  // nothing records, nothing breaks
}

TEST(PointLog, RecordsTheSimulatedTasksInTheOrderTheyRan) {
  racelab::PointLog log;
  racelab::Simulation sim({.seed = 7});
  sim.spawn("A", [] { step(0); });
  sim.spawn("B", [] { step(1); });
  auto outcome = sim.run();
  ASSERT_TRUE(outcome.ok()) << outcome.message();
  auto got = names(log);
  EXPECT_EQ(std::count(got.begin(), got.end(), "observe_test.first"), 2);
  EXPECT_EQ(std::count(got.begin(), got.end(), "observe_test.second"), 1);
  // Same seed, same order.
  racelab::PointLog again;
  racelab::Simulation replay({.seed = 7});
  replay.spawn("A", [] { step(0); });
  replay.spawn("B", [] { step(1); });
  ASSERT_TRUE(replay.run().ok());
  EXPECT_EQ(names(again), got);
}
