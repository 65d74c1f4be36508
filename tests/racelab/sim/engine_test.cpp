// The scheduler's mechanics: DFS enumeration counts, deadlocks, livelocks, the virtual clock,
// sync primitives, task exceptions, crash injection, misuse.
#include <racelab/racelab.hpp>

#include <gtest/gtest.h>

#include <set>

using namespace std::chrono_literals;

namespace {

void step_one() { RACELAB_POINT("engine.one"); }
void step_two() { RACELAB_POINT("engine.two"); }

// Runs a DFS to exhaustion over two tasks that each pass `points` points; returns the number of
// schedules and the set of distinct orders in which the tasks' points were passed.
std::pair<int, std::set<std::string>> enumerate(int points, const std::string& strategy) {
  std::set<std::string> orders;
  auto report = racelab::explore(
      {.runs = 100'000, .strategy = strategy, .use_env = false, .jobs = 1},  // `orders` is shared
      [&](racelab::Simulation& sim) {
        auto order = std::make_shared<std::string>();
        for (const char* name : {"A", "B"}) {
          sim.spawn(name, [order, name, points] {
            for (int i = 0; i < points; ++i) {
              i == 0 ? step_one() : step_two();
              *order += name;
            }
          });
        }
        static_cast<void>(sim.run());
        orders.insert(*order);
      });
  EXPECT_TRUE(report.complete()) << report;
  return {report.runs(), orders};
}

}  // namespace

// Every task is paused at its start and at each point. Two tasks of two steps each (the start and
// one point) have C(4,2) = 6 interleavings; DFS enumerates each exactly once.
TEST(Dfs, TwoTasksTwoStepsEnumerateSixInterleavings) {
  auto [runs, orders] = enumerate(1, "dfs");
  EXPECT_EQ(runs, 6);
}

// Two tasks passing two points each: three steps per task, C(6,3) = 20 interleavings, all distinct
// in the order the points' effects happen (6 orders of the appends AABB, ABAB, ...).
TEST(Dfs, TwoTasksThreeStepsEnumerateTwenty) {
  auto [runs, orders] = enumerate(2, "dfs");
  EXPECT_EQ(runs, 20);
  EXPECT_EQ(orders.size(), 6u);  // every order of the four appends is reached
}

// A preemption bound of 0 leaves only the serial orders: A then B, and B then A.
TEST(Dfs, PreemptionBoundZeroLeavesSerialOrders) {
  auto [runs, orders] = enumerate(2, "dfs:0");
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(orders, (std::set<std::string>{"AABB", "BBAA"}));
}

// Two mutexes taken in opposite order: DFS finds the deadlock and names both waits.
TEST(Deadlock, OppositeLockOrderIsFoundAndExplained) {
  auto report =
      racelab::explore({.runs = 1000, .strategy = "dfs:2", .use_env = false}, [](racelab::Simulation& sim) {
        auto m1 = std::make_shared<racelab::mutex>("m1");
        auto m2 = std::make_shared<racelab::mutex>("m2");
        sim.spawn("A", [=] {
          std::lock_guard a(*m1);
          std::lock_guard b(*m2);
        });
        sim.spawn("B", [=] {
          std::lock_guard b(*m2);
          std::lock_guard a(*m1);
        });
        static_cast<void>(sim.run());
      });
  ASSERT_TRUE(report.failed());
  const auto& out = report.outcome();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::deadlock);
  EXPECT_NE(out.message().find("A waits at mutex.lock: mutex 'm2' held by B"), std::string::npos)
      << out.message();
  EXPECT_NE(out.message().find("B waits at mutex.lock: mutex 'm1' held by A"), std::string::npos)
      << out.message();
}

// The same two tasks with one lock order never deadlock, over every schedule.
TEST(Deadlock, ConsistentLockOrderSurvivesFullDfs) {
  auto report =
      racelab::explore({.runs = 100'000, .strategy = "dfs", .use_env = false}, [](racelab::Simulation& sim) {
        auto m1 = std::make_shared<racelab::mutex>("m1");
        auto m2 = std::make_shared<racelab::mutex>("m2");
        for (const char* name : {"A", "B"}) {
          sim.spawn(name, [=] {
            std::lock_guard a(*m1);
            std::lock_guard b(*m2);
          });
        }
        static_cast<void>(sim.run());
      });
  EXPECT_FALSE(report.failed()) << report;
  EXPECT_TRUE(report.complete());
}

// Two tasks spinning on a flag nobody sets: the step limit ends the run and says where they are.
TEST(StepLimit, LivelockEndsInAReportedOutcome) {
  racelab::Simulation sim({.max_steps = 500});
  racelab::atomic<bool> flag{false};
  sim.spawn("A", [&] {
    while (!flag.load()) {
    }
  });
  sim.spawn("B", [&] {
    while (!flag.load()) racelab::this_thread::yield();
  });
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::step_limit);
  EXPECT_NE(out.message().find("A at atomic.load"), std::string::npos) << out.message();
}

// Sleeps use a virtual clock: five simulated seconds pass at once, in order of deadline.
TEST(VirtualClock, SleepsAdvanceSimulatedTime) {
  racelab::Simulation sim;
  std::vector<std::string> woke;
  sim.spawn("slow", [&] {
    racelab::this_thread::sleep_for(5s);
    woke.push_back("slow@" + std::to_string(racelab::Simulation::current()->now().count()));
  });
  sim.spawn("fast", [&] {
    racelab::this_thread::sleep_for(2ms);
    woke.push_back("fast@" + std::to_string(racelab::Simulation::current()->now().count()));
  });
  auto out = sim.run();
  ASSERT_TRUE(out.ok()) << out;
  EXPECT_EQ(woke, (std::vector<std::string>{"fast@2000000", "slow@5000000000"}));
  EXPECT_EQ(sim.now(), 5s);
}

// A condition variable wait times out in virtual time when nobody notifies; a notify wakes it.
TEST(ConditionVariable, WaitForTimesOutOrIsNotified) {
  racelab::Simulation sim;
  racelab::mutex m;
  racelab::condition_variable cv;
  bool ready = false;
  std::string timed, notified;
  sim.spawn("waiter", [&] {
    std::unique_lock lock(m);
    timed = cv.wait_for(lock, 100ms) == std::cv_status::timeout ? "timeout" : "woken";
    notified = cv.wait_for(lock, 10s, [&] { return ready; }) ? "ready" : "gave up";
  });
  sim.spawn("notifier", [&] {
    racelab::this_thread::sleep_for(1s);
    std::lock_guard lock(m);
    ready = true;
    cv.notify_one();
  });
  auto out = sim.run();
  ASSERT_TRUE(out.ok()) << out;
  EXPECT_EQ(timed, "timeout");
  EXPECT_EQ(notified, "ready");
  EXPECT_EQ(sim.now(), 1s);
}

// racelab::thread inside a simulation is a task; join blocks the task, not the thread.
TEST(Thread, SpawnsAndJoinsTasks) {
  racelab::Simulation sim({.seed = 4});
  racelab::atomic<int> sum{0};
  sim.spawn("main", [&] {
    racelab::thread a([&] { sum.fetch_add(1); }), b([&] { sum.fetch_add(2); });
    a.join();
    b.join();
    RACELAB_ASSERT(sum.load() == 3);
  });
  auto out = sim.run();
  ASSERT_TRUE(out.ok()) << out;
  EXPECT_EQ(out.trace().tasks(), (std::vector<std::string>{"main", "main.1", "main.2"}));
}

// Outside a simulation the same types are std's: real threads, real locks.
TEST(Sync, BehaveAsStdOutsideASimulation) {
  racelab::mutex m;
  racelab::atomic<int> n{0};
  int plain = 0;
  racelab::thread t([&] {
    for (int i = 0; i < 1000; ++i) {
      std::lock_guard lock(m);
      ++plain;
      n.fetch_add(1);
    }
  });
  for (int i = 0; i < 1000; ++i) {
    std::lock_guard lock(m);
    ++plain;
  }
  t.join();
  EXPECT_EQ(plain, 2000);
  EXPECT_EQ(n.load(), 1000);
}

// An exception escaping a task fails the run with the task's name, type and message.
TEST(Failure, TaskExceptionNamesTheTask) {
  racelab::Simulation sim;
  sim.spawn("worker", [] { throw std::out_of_range("index 7"); });
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure);
  EXPECT_EQ(out.message(), "task 'worker' threw std::out_of_range: index 7");
}

TEST(Failure, AssertNamesExpressionAndPlace) {
  racelab::Simulation sim;
  int x = 1;
  sim.spawn("checker", [&] { RACELAB_ASSERT(x == 2); });
  auto out = sim.run();
  EXPECT_NE(out.message().find("task 'checker': RACELAB_ASSERT(x == 2) failed at engine_test.cpp:"),
            std::string::npos)
      << out.message();
}

// An abandoned run unwinds its tasks: destructors run, locks are released, nothing leaks (ASan).
TEST(Failure, RemainingTasksUnwindWhenARunStops) {
  auto destroyed = std::make_shared<int>(0);
  {
    racelab::Simulation sim;
    racelab::mutex m;
    sim.spawn("holder", [&, destroyed] {
      struct Guard {
        std::shared_ptr<int> n;
        ~Guard() { ++*n; }
      } g{destroyed};
      std::lock_guard lock(m);
      racelab::this_thread::sleep_for(1h);
    });
    sim.spawn("failer", [] {
      racelab::this_thread::sleep_for(1s);  // by then the holder sleeps with the lock held
      throw std::runtime_error("stop");
    });
    auto out = sim.run();
    EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure);
  }
  EXPECT_EQ(*destroyed, 1);
}

// Crash injection: debit and credit as two writes lose money when a crash falls between them;
// one combined write never does.
TEST(Crash, InjectedCrashExposesAPartialUpdate) {
  auto body = [](bool two_writes) {
    return [two_writes](racelab::Simulation& sim) {
      auto accounts = std::make_shared<std::array<std::int64_t, 2>>(std::array<std::int64_t, 2>{100, 0});
      for (const char* name : {"A", "B"}) {
        sim.spawn(name, [=] {
          if (two_writes) {
            (*accounts)[0] -= 10;
            RACELAB_POINT("money.between_debit_and_credit");
            (*accounts)[1] += 10;
          } else {
            RACELAB_POINT("money.before_transfer");
            (*accounts)[0] -= 10, (*accounts)[1] += 10;
          }
        });
      }
      static_cast<void>(sim.run());
      RACELAB_ASSERT((*accounts)[0] + (*accounts)[1] == 100);
    };
  };
  auto red = racelab::explore(
      {.runs = 200, .crash_probability = 0.3, .crash_points = "money.*", .use_env = false}, body(true));
  ASSERT_TRUE(red.failed());
  EXPECT_NE(red.outcome().trace().timeline().find("CRASH at money.between_debit_and_credit"),
            std::string::npos);
  EXPECT_NE(red.schedule().find("!crash"), std::string::npos);
  auto green = racelab::explore(
      {.runs = 200, .crash_probability = 0.3, .crash_points = "money.*", .use_env = false}, body(false));
  EXPECT_FALSE(green.failed()) << green;
}

TEST(Misuse, IsRejectedWithTheFix) {
  racelab::Simulation sim;
  EXPECT_THROW(sim.spawn("has space", [] {}), racelab::SimulationError);
  EXPECT_THROW(sim.spawn("a>b", [] {}), racelab::SimulationError);
  sim.spawn("A", [] {});
  EXPECT_THROW(sim.spawn("A", [] {}), racelab::SimulationError);
  static_cast<void>(sim.run());
  EXPECT_THROW(static_cast<void>(sim.run()), racelab::SimulationError);
  EXPECT_THROW(sim.spawn("late", [] {}), racelab::SimulationError);
  EXPECT_THROW(racelab::Simulation({.strategy = "bfs"}), racelab::SimulationError);
  EXPECT_THROW(racelab::Simulation({.strategy = "pct:0"}), racelab::SimulationError);
  EXPECT_THROW(racelab::Simulation({.crash_probability = 2}), racelab::SimulationError);
  EXPECT_THROW(racelab::Simulation({.max_steps = 0}), racelab::SimulationError);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
// A task that overflows its stack hits the guard page and is named, instead of corrupting memory.
TEST(StackOverflowDeathTest, IsReportedByTaskName) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // Deep enough to overflow 64 KiB, bounded so the compiler sees no infinite recursion.
  auto recurse = [](auto&& self, int depth) -> int {
    volatile char buffer[1024];
    buffer[0] = static_cast<char>(depth);
    RACELAB_POINT("engine.recurse");
    return depth > 100'000 ? 0 : self(self, depth + 1) + buffer[0];
  };
  EXPECT_DEATH(
      {
        racelab::Simulation sim({.stack_size = 64 * 1024});
        sim.spawn("deep", [&] { recurse(recurse, 0); });
        static_cast<void>(sim.run());
      },
      "task 'deep' overflowed its 64 KiB stack");
}
#endif
