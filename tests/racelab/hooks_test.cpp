// Hooks on real threads: callbacks, delays, barriers, orders, timeouts, and the airtight scope.
#include <racelab/hooks.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

void window() { RACELAB_POINT("hooks_test.window"); }
void first() { RACELAB_POINT("hooks_test.first"); }
void then() { RACELAB_POINT("hooks_test.then"); }

// A log several threads append to.
struct Log {
  std::mutex mu;
  std::vector<std::string> lines;
  void add(std::string s) {
    std::lock_guard lk(mu);
    lines.push_back(std::move(s));
  }
  std::size_t index(const std::string& s) {
    std::lock_guard lk(mu);
    return static_cast<std::size_t>(std::find(lines.begin(), lines.end(), s) - lines.begin());
  }
};

// Waits (bounded) until `cond` holds; the bound turns a bug into a failure instead of a hang.
template <class Cond>
bool eventually(Cond cond) {
  for (int i = 0; i < 5000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return cond();
}

}  // namespace

// Like before_after: a callback runs once by default, then stays quiet.
TEST(Hooks, AfterRunsOnceByDefault) {
  racelab::Hooks hooks;
  int runs = 0;
  auto ref = hooks.after("hooks_test.window", [&] { ++runs; });
  window();
  window();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(ref.fired(), 1u);
  EXPECT_EQ(hooks.hits("hooks_test.window"), 2u);
}

TEST(Hooks, TimesAndAlways) {
  racelab::Hooks hooks;
  int three = 0, every = 0;
  hooks.after("hooks_test.window", [&] { ++three; }).times(3);
  hooks.before("hooks_test.window", [&] { ++every; }).always();
  for (int i = 0; i < 5; ++i) window();
  EXPECT_EQ(three, 3);
  EXPECT_EQ(every, 5);
}

// Order at one point: before-callbacks, then waits, then after-callbacks.
TEST(Hooks, BeforeRunsBeforeAfter) {
  racelab::Hooks hooks;
  std::vector<std::string> log;
  hooks.after("hooks_test.window", [&] { log.push_back("after"); });
  hooks.before("hooks_test.window", [&] { log.push_back("before"); });
  window();
  EXPECT_EQ(log, (std::vector<std::string>{"before", "after"}));
}

// A callback that hits its own point does not recurse into itself, even with always().
TEST(Hooks, CallbackMayReenterItsOwnPoint) {
  racelab::Hooks hooks;
  int runs = 0;
  hooks
      .after("hooks_test.window",
             [&] {
               ++runs;
               window();
             })
      .always();
  window();
  window();
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(hooks.hits("hooks_test.window"), 4u);
}

// An exception from a callback comes out of the point, in the thread that hit it.
TEST(Hooks, CallbackExceptionPropagates) {
  racelab::Hooks hooks;
  hooks.after("hooks_test.window", [] { throw std::runtime_error("from hook"); });
  EXPECT_THROW(window(), std::runtime_error);
  EXPECT_NO_THROW(window());  // ran once; the scope still works
}

// The delay holds the thread at least that long (a monotonic-clock fact, not a speed assertion).
TEST(Hooks, DelaySleepsAtThePoint) {
  racelab::Hooks hooks;
  hooks.delay("hooks_test.window", 30ms);
  auto start = std::chrono::steady_clock::now();
  window();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
}

// barrier(2): both threads log "arrived" before either logs "left" — in every run.
TEST(Hooks, BarrierReleasesTheGroupTogether) {
  for (int run = 0; run < 20; ++run) {
    racelab::Hooks hooks;
    hooks.barrier("hooks_test.window", 2);
    Log log;
    auto worker = [&](const std::string& name) {
      log.add(name + " arrived");
      window();
      log.add(name + " left");
    };
    std::thread a(worker, "a"), b(worker, "b");
    a.join();
    b.join();
    EXPECT_LT(log.index("a arrived"), log.index("b left"));
    EXPECT_LT(log.index("b arrived"), log.index("a left"));
    EXPECT_EQ(hooks.timeout_count(), 0u);
  }
}

// Every group of `count` arrivals is a new barrier: 4 threads, count 2 -> two groups.
TEST(Hooks, BarrierServesEveryGroup) {
  racelab::Hooks hooks;
  auto ref = hooks.barrier("hooks_test.window", 2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(window);
  for (auto& t : threads) t.join();
  EXPECT_EQ(ref.fired(), 2u);
  EXPECT_EQ(hooks.timeout_count(), 0u);
}

// A lone arrival is released after the timeout, the timeout is recorded with the thread and the
// point, and the count starts afresh: the next two arrivals pass together with no new timeout.
TEST(Hooks, BarrierTimeoutReleasesNamesWaitersAndKeepsCountRight) {
  racelab::Hooks hooks;
  hooks.barrier("hooks_test.window", 2, 50ms);
  std::thread([] {
    racelab::set_thread_label("lonely");
    window();
  }).join();
  ASSERT_EQ(hooks.timeout_count(), 1u);
  auto t = hooks.timeouts().front();
  EXPECT_EQ(t.kind, "barrier");
  EXPECT_EQ(t.point, "hooks_test.window");
  EXPECT_EQ(t.waiting, std::vector<std::string>{"lonely"});
  EXPECT_NE(t.message.find("1 of 2"), std::string::npos) << t.message;
  EXPECT_NE(t.message.find("lonely"), std::string::npos) << t.message;

  std::thread a(window), b(window);
  a.join();
  b.join();
  EXPECT_EQ(hooks.timeout_count(), 1u);
}

// order(first, then): `then` is reached first but waits until `first` has been passed.
TEST(Hooks, OrderMakesThenWaitForFirst) {
  racelab::Hooks hooks;
  hooks.order("hooks_test.first", "hooks_test.then");
  Log log;
  std::thread waiter([&] {
    then();
    log.add("then passed");
  });
  ASSERT_TRUE(eventually([&] { return hooks.hits("hooks_test.then") == 1; }));
  log.add("first starting");
  first();
  waiter.join();
  EXPECT_LT(log.index("first starting"), log.index("then passed"));
  EXPECT_EQ(hooks.timeout_count(), 0u);
}

TEST(Hooks, OrderTimeoutIsReported) {
  racelab::Hooks hooks;
  hooks.order("hooks_test.first", "hooks_test.then", 30ms);
  then();
  ASSERT_EQ(hooks.timeout_count(), 1u);
  EXPECT_EQ(hooks.timeouts()[0].kind, "order");
  EXPECT_NE(hooks.timeouts()[0].message.find("hooks_test.first"), std::string::npos);
}

// on_thread: only the named thread is held; others pass freely.
TEST(Hooks, OnThreadFiltersByLabel) {
  racelab::Hooks hooks;
  int runs = 0;
  hooks.after("hooks_test.window", [&] { ++runs; }).always().on_thread("B");
  racelab::set_thread_label("A");
  window();
  std::thread([] {
    racelab::set_thread_label("B");
    window();
  }).join();
  EXPECT_EQ(runs, 1);
}

// Airtight, part 1: the destructor wakes a thread sleeping in a delay (here, for an hour).
TEST(Hooks, DestructorWakesDelayedThreads) {
  auto hooks = std::make_unique<racelab::Hooks>();
  hooks->delay("hooks_test.window", std::chrono::hours(1));
  std::thread sleeper(window);
  ASSERT_TRUE(eventually([&] { return hooks->hits("hooks_test.window") == 1; }));
  hooks.reset();
  sleeper.join();  // would hang for an hour if the scope were not airtight
}

// Airtight, part 2: the destructor waits for a callback in flight, and no callback runs afterwards.
TEST(Hooks, NoCallbackRunsAfterTheScopeEnds) {
  std::atomic<int> runs{0};
  std::atomic<bool> in_callback{false}, callback_done{false}, stop{false};
  auto hooks = std::make_unique<racelab::Hooks>();
  hooks
      ->after("hooks_test.window",
              [&] {
                in_callback = true;
                std::this_thread::sleep_for(50ms);
                ++runs;
                callback_done = true;
              })
      .times(1);
  hooks->after("hooks_test.window", [&] { ++runs; }).always();
  std::thread hammer([&] {
    while (!stop) window();
  });
  ASSERT_TRUE(eventually([&] { return in_callback.load(); }));
  hooks.reset();
  EXPECT_TRUE(callback_done);  // the slow callback finished before the destructor returned
  int seen = runs;
  std::this_thread::sleep_for(20ms);
  stop = true;
  hammer.join();
  EXPECT_EQ(runs, seen);
}

// Airtight, part 3: threads waiting at a barrier are released by the destructor, not the timeout.
TEST(Hooks, DestructorReleasesBarrierWaiters) {
  auto hooks = std::make_unique<racelab::Hooks>();
  hooks->barrier("hooks_test.window", 3, std::chrono::hours(1));
  std::thread a(window), b(window);
  ASSERT_TRUE(eventually([&] { return hooks->hits("hooks_test.window") == 2; }));
  hooks.reset();
  a.join();
  b.join();
}

// A callback may end its own scope without deadlocking.
TEST(Hooks, CallbackMayDestroyItsOwnScope) {
  auto hooks = std::make_unique<racelab::Hooks>();
  hooks->after("hooks_test.window", [&] { hooks.reset(); });
  window();
  EXPECT_EQ(hooks, nullptr);
}

// Arming and disarming while other threads run through the point is safe (run under TSan too).
TEST(Hooks, ArmAndDisarmWhileThreadsRun) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&] {
      while (!stop) window();
    });
  std::atomic<int> runs{0};
  for (int i = 0; i < 200; ++i) {
    racelab::Hooks hooks;
    hooks.after("hooks_test.window", [&] { ++runs; }).always();
    hooks.delay("hooks_test.window", std::chrono::microseconds(10));
  }
  stop = true;
  for (auto& t : threads) t.join();
  SUCCEED() << runs << " callbacks ran";
}

// A test whose window was never reached fails instead of passing vacuously, and a typo is named.
TEST(Hooks, ExpectHitFailsWhenTheWindowWasMissed) {
  racelab::Hooks hooks;
  window();
  EXPECT_NO_THROW(hooks.expect_hit("hooks_test.window"));
  EXPECT_THROW(hooks.expect_hit("hooks_test.window", 2), racelab::WindowNotEntered);
  try {
    hooks.expect_hit("hooks_test.windwo");
    FAIL() << "expected WindowNotEntered";
  } catch (const racelab::WindowNotEntered& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("was hit 0 time(s)"), std::string::npos) << what;
    EXPECT_NE(what.find("Did you mean 'hooks_test.window'"), std::string::npos) << what;
  }
}

TEST(Hooks, MisuseIsRejected) {
  racelab::Hooks hooks;
  EXPECT_THROW(hooks.barrier("hooks_test.window", 0), std::invalid_argument);
  EXPECT_THROW(hooks.barrier("hooks_test.window", 2, 0ms), std::invalid_argument);
  EXPECT_THROW(hooks.delay("hooks_test.window", -1ms), std::invalid_argument);
  EXPECT_THROW(hooks.order("hooks_test.first", "hooks_test.first"), std::invalid_argument);
  EXPECT_THROW(hooks.after("hooks_test.window", [] {}).times(-1), std::invalid_argument);
}
