// Hooks on real threads: callbacks, delays, barriers, orders, timeouts, and the airtight scope.
#include <racelab/hooks.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <stop_token>
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

// Waits until `cond` holds, yielding; false after 10 s, so a bug fails the test instead of hanging
// it. The conditions polled are facts the hooks engine publishes under its mutex in the same
// critical section in which a thread starts to wait: `hits(p) == n` (with no `before` callback on p)
// or `fired() == n` of a delay means n threads are parked there (or already past), not merely "soon".
// No test waits for time to pass: this is the only wait, and it waits for a condition.
template <class Cond>
bool wait_until(Cond cond) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

// Like before_after, a callback runs once by default: two hits, one run, fired() 1, hits() 2.
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

// times(3) and always() over 5 hits: the counted callback runs 3 times, the other 5.
TEST(Hooks, TimesAndAlways) {
  racelab::Hooks hooks;
  int three = 0, every = 0;
  auto counted = hooks.after("hooks_test.window", [&] { ++three; }).times(3);
  hooks.before("hooks_test.window", [&] { ++every; }).always();
  for (int i = 0; i < 5; ++i) window();
  EXPECT_EQ(three, 3);
  EXPECT_EQ(counted.fired(), 3u);
  EXPECT_EQ(every, 5);
}

// Order at one point: a before-callback logs before an after-callback armed earlier than it.
TEST(Hooks, BeforeRunsBeforeAfter) {
  racelab::Hooks hooks;
  std::vector<std::string> log;
  hooks.after("hooks_test.window", [&] { log.push_back("after"); });
  hooks.before("hooks_test.window", [&] { log.push_back("before"); });
  window();
  EXPECT_EQ(log, (std::vector<std::string>{"before", "after"}));
}

// A callback that hits its own point does not recurse into itself, even with always(): 2 runs, 4 hits.
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

// An exception from a callback comes out of the point, in the thread that hit it; the scope survives.
TEST(Hooks, CallbackExceptionPropagates) {
  racelab::Hooks hooks;
  hooks.after("hooks_test.window", [] { throw std::runtime_error("from hook"); });
  EXPECT_THROW(window(), std::runtime_error);
  EXPECT_NO_THROW(window());  // ran once; the scope still works
}

// A delay fires on every hit by default and ends on its own (a delay that never ended would show
// as the ctest timeout); the after-callbacks run once per hit, after it. Holding: see
// DestructorWakesDelayedThreads, where a one-hour delay provably holds its thread.
TEST(Hooks, DelayFiresOnEveryHitAndExpiresOnItsOwn) {
  racelab::Hooks hooks;
  auto delay = hooks.delay("hooks_test.window", 1ms);
  int after = 0;
  hooks.after("hooks_test.window", [&] { ++after; }).always();
  for (int i = 0; i < 3; ++i) window();
  EXPECT_EQ(delay.fired(), 3u);
  EXPECT_EQ(after, 3);
  EXPECT_EQ(hooks.hits("hooks_test.window"), 3u);
}

// barrier(2): both threads log "arrived" before either logs "left" — in every run.
TEST(Hooks, BarrierReleasesTheGroupTogether) {
  for (int run = 0; run < 20; ++run) {
    racelab::Hooks hooks;
    auto barrier = hooks.barrier("hooks_test.window", 2);
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
    EXPECT_EQ(barrier.fired(), 1u);  // released as a group of two, not one by one
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
  EXPECT_EQ(hooks.hits("hooks_test.window"), 4u);
  EXPECT_EQ(ref.fired(), 2u);
  EXPECT_EQ(hooks.timeout_count(), 0u);
}

// A lone arrival is released after the timeout, the timeout is recorded with the thread and the
// point, and the count starts afresh: the next two arrivals form a group with no new timeout (their
// timeout is raised to 5 s first, so only a stale count, never a slow thread, can time them out).
TEST(Hooks, BarrierTimeoutReleasesNamesWaitersAndKeepsCountRight) {
  racelab::Hooks hooks;
  auto barrier = hooks.barrier("hooks_test.window", 2, 50ms);
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
  EXPECT_EQ(barrier.fired(), 0u);  // a timed-out group is not a released group

  barrier.timeout(racelab::Hooks::kDefaultTimeout);
  std::thread a(window), b(window);
  a.join();
  b.join();
  EXPECT_EQ(barrier.fired(), 1u);
  EXPECT_EQ(hooks.timeout_count(), 1u);
}

// order(first, then): the waiter is parked at `then` (hits() says so) and has not passed it; it
// passes only after `first`, with no timeout.
TEST(Hooks, OrderMakesThenWaitForFirst) {
  Log log;
  std::atomic<bool> then_passed{false};
  std::jthread waiter;  // declared before the scope, so a failed ASSERT ends the scope, then joins
  racelab::Hooks hooks;
  auto order = hooks.order("hooks_test.first", "hooks_test.then");
  waiter = std::jthread([&] {
    then();
    then_passed = true;
    log.add("then passed");
  });
  ASSERT_TRUE(wait_until([&] { return hooks.hits("hooks_test.then") == 1; }));
  EXPECT_FALSE(then_passed);
  log.add("first starting");
  first();
  waiter.join();
  EXPECT_LT(log.index("first starting"), log.index("then passed"));
  EXPECT_EQ(order.fired(), 1u);
  EXPECT_EQ(hooks.timeout_count(), 0u);
}

// An order whose `first` is never passed releases `then` after its timeout and reports the wait.
TEST(Hooks, OrderTimeoutIsReported) {
  racelab::Hooks hooks;
  hooks.order("hooks_test.first", "hooks_test.then", 30ms);
  then();
  ASSERT_EQ(hooks.timeout_count(), 1u);
  EXPECT_EQ(hooks.timeouts()[0].kind, "order");
  EXPECT_EQ(hooks.timeouts()[0].point, "hooks_test.then");
  EXPECT_EQ(hooks.timeouts()[0].waiting, std::vector<std::string>{racelab::thread_label()});
  EXPECT_NE(hooks.timeouts()[0].message.find("hooks_test.first"), std::string::npos);
}

// on_thread("B"): of threads A, B and A again, only B runs the callback; all three hit the point.
TEST(Hooks, OnThreadFiltersByLabel) {
  racelab::Hooks hooks;
  std::vector<std::string> ran;
  hooks.after("hooks_test.window", [&] { ran.push_back(racelab::thread_label()); }).always().on_thread("B");
  for (const char* label : {"A", "B", "A"}) {
    std::thread([label] {
      racelab::set_thread_label(label);
      window();
    }).join();
  }
  EXPECT_EQ(ran, std::vector<std::string>{"B"});
  EXPECT_EQ(hooks.hits("hooks_test.window"), 3u);
}

// Airtight, part 1: a thread parked in a one-hour delay (fired() says so) is held there, and the
// destructor wakes it; were the scope not airtight, the join would outlast the ctest timeout.
TEST(Hooks, DestructorWakesDelayedThreads) {
  std::atomic<bool> returned{false};
  std::jthread sleeper;  // declared before the scope, so a failed ASSERT wakes it, then joins
  auto hooks = std::make_unique<racelab::Hooks>();
  auto delay = hooks->delay("hooks_test.window", std::chrono::hours(1));
  sleeper = std::jthread([&] {
    window();
    returned = true;
  });
  ASSERT_TRUE(wait_until([&] { return delay.fired() == 1; }));
  EXPECT_FALSE(returned);  // held by the delay
  hooks.reset();
  sleeper.join();
  EXPECT_TRUE(returned);
  EXPECT_EQ(delay.fired(), 1u);
}

// Airtight, part 2: ~Hooks waits for a callback in flight, and no callback runs once it returns.
// The slow callback stays in flight until it sees the scope close (re-entering the point stops
// running the `always` counter), so the destructor provably overlapped it; afterwards the hammer
// passes the point 1,000 more times (counted by a second scope) and the counter never moves.
TEST(Hooks, NoCallbackRunsAfterTheScopeEnds) {
  std::atomic<int> counted{0};
  std::atomic<bool> in_callback{false}, saw_close{false}, callback_done{false};
  racelab::Hooks observer;  // outlives `hooks`: keeps the point armed and counts the hammer's hits
  std::jthread hammer;      // declared between the two scopes: joined after `hooks`, before `observer`
  auto hooks = std::make_unique<racelab::Hooks>();
  hooks
      ->after("hooks_test.window",
              [&] {
                in_callback = true;
                const auto deadline = std::chrono::steady_clock::now() + 10s;
                while (std::chrono::steady_clock::now() < deadline) {
                  const int before = counted;
                  window();  // runs the `always` counter while the scope is open
                  if (counted == before) {
                    saw_close = true;
                    break;
                  }
                  std::this_thread::yield();
                }
                callback_done = true;
              })
      .times(1);
  hooks->after("hooks_test.window", [&] { ++counted; }).always();
  hammer = std::jthread([](std::stop_token stop) {
    while (!stop.stop_requested()) window();
  });
  ASSERT_TRUE(wait_until([&] { return in_callback.load(); }));
  hooks.reset();
  EXPECT_TRUE(saw_close);      // the scope closed while the slow callback was in flight ...
  EXPECT_TRUE(callback_done);  // ... and the destructor returned only after it finished
  const int seen = counted;
  const auto hits = observer.hits("hooks_test.window");
  ASSERT_TRUE(wait_until([&] { return observer.hits("hooks_test.window") >= hits + 1000; }));
  hammer.request_stop();
  hammer.join();
  EXPECT_EQ(counted, seen);
}

// Airtight, part 3: two of three parties parked at a barrier with a one-hour timeout (hits() says
// so) are held, then released by the destructor: the group never completed (fired() 0) and the
// timeout is an hour away, so nothing else could have let them go before the ctest timeout.
TEST(Hooks, DestructorReleasesBarrierWaiters) {
  std::atomic<int> returned{0};
  std::jthread a, b;  // declared before the scope, so a failed ASSERT releases them, then joins
  auto hooks = std::make_unique<racelab::Hooks>();
  auto barrier = hooks->barrier("hooks_test.window", 3, std::chrono::hours(1));
  auto party = [&] {
    window();
    ++returned;
  };
  a = std::jthread(party);
  b = std::jthread(party);
  ASSERT_TRUE(wait_until([&] { return hooks->hits("hooks_test.window") == 2; }));
  EXPECT_EQ(returned, 0);
  hooks.reset();
  a.join();
  b.join();
  EXPECT_EQ(returned, 2);
  EXPECT_EQ(barrier.fired(), 0u);
}

// A callback may end its own scope without deadlocking: the point returns and the scope is gone.
TEST(Hooks, CallbackMayDestroyItsOwnScope) {
  auto hooks = std::make_unique<racelab::Hooks>();
  hooks->after("hooks_test.window", [&] { hooks.reset(); });
  window();
  EXPECT_EQ(hooks, nullptr);
}

// Arming and disarming 200 scopes while 3 threads run through the point (run under TSan too):
// every scope sees the point hit, and once it ends its callback has run exactly fired() times and
// never runs again, though the threads keep passing the point.
TEST(Hooks, ArmAndDisarmWhileThreadsRun) {
  constexpr int kScopes = 200;
  std::vector<std::atomic<int>> runs(kScopes);
  std::vector<std::uint64_t> fired(kScopes, 0);
  std::vector<racelab::ActionRef> refs;
  refs.reserve(kScopes);
  std::vector<std::jthread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([](std::stop_token stop) {
      while (!stop.stop_requested()) window();
    });
  for (int i = 0; i < kScopes; ++i) {
    {
      racelab::Hooks hooks;
      refs.push_back(hooks.after("hooks_test.window", [&runs, i] { ++runs[i]; }).always());
      hooks.delay("hooks_test.window", std::chrono::microseconds(10));
      ASSERT_TRUE(wait_until([&] { return hooks.hits("hooks_test.window") > 0; })) << "scope " << i;
    }
    fired[i] = refs.back().fired();
    ASSERT_EQ(static_cast<std::uint64_t>(runs[i]), fired[i]) << "scope " << i;
  }
  // One more armed scope makes the threads take the slow path again while the others stay dead.
  {
    racelab::Hooks last;
    ASSERT_TRUE(wait_until([&] { return last.hits("hooks_test.window") >= 1000; }));
  }
  threads.clear();  // request_stop() and join
  std::uint64_t total = 0;
  for (int i = 0; i < kScopes; ++i) {
    EXPECT_EQ(static_cast<std::uint64_t>(runs[i]), fired[i]) << "scope " << i << " ran after it ended";
    total += fired[i];
  }
  EXPECT_GT(total, 0u);
}

// expect_hit throws WindowNotEntered when a window was hit too rarely, and names a typo's neighbour.
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

// Each malformed arming throws invalid_argument instead of arming something that cannot work.
TEST(Hooks, MisuseIsRejected) {
  racelab::Hooks hooks;
  EXPECT_THROW(hooks.barrier("hooks_test.window", 0), std::invalid_argument);
  EXPECT_THROW(hooks.barrier("hooks_test.window", 2, 0ms), std::invalid_argument);
  EXPECT_THROW(hooks.delay("hooks_test.window", -1ms), std::invalid_argument);
  EXPECT_THROW(hooks.order("hooks_test.first", "hooks_test.first"), std::invalid_argument);
  EXPECT_THROW(hooks.after("hooks_test.window", [] {}).times(-1), std::invalid_argument);
}
