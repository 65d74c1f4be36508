// Teardown ends and says who misbehaved; crash injection never throws where C++ cannot take it;
// racelab::mutex reports misuse instead of guessing. Each test stops a run early (another task
// fails) while a task sits in the situation under test, then checks how the run ended.
#include <racelab/racelab.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Fails the run at virtual time `at`, after the other tasks are parked where the test wants them.
void fail_at(racelab::Simulation& sim, std::chrono::milliseconds at) {
  sim.spawn("failer", [at] {
    racelab::this_thread::sleep_for(at);
    throw std::runtime_error("the failure that stops the run");
  });
}

struct Joiner {
  racelab::thread& t;
  ~Joiner() { t.join(); }
};

}  // namespace

// A join in a destructor, reached while the task unwinds during teardown, returns instead of
// spinning (it used to loop on a wait that returned at once); the run ends with the real failure.
TEST(Teardown, JoinInADestructorEnds) {
  racelab::Simulation sim({.seed = 1});
  sim.spawn("parent", [] {
    racelab::thread child([] { racelab::this_thread::sleep_for(100ms); });
    Joiner joiner{child};
    racelab::this_thread::sleep_for(50ms);  // parked here when the run stops; unwinding joins
  });
  fail_at(sim, 10ms);
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure);
  EXPECT_NE(out.message().find("failer"), std::string::npos) << out;
  EXPECT_EQ(out.message().find("teardown:"), std::string::npos) << out;  // nobody misbehaved
}

// A task that swallows racelab's unwind signal and goes on is given up after a bounded number of
// operations, and the outcome names it (it used to spin forever without switching out).
TEST(Teardown, ATaskThatSwallowsTheUnwindSignalIsNamed) {
  racelab::Simulation sim({.seed = 1});
  sim.spawn("stubborn", [] {
    for (;;) {
      try {
        racelab::this_thread::sleep_for(1ms);
      } catch (...) {  // also catches the unwind signal: a bug in the task
      }
    }
  });
  fail_at(sim, 5ms);
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure);
  EXPECT_NE(out.message().find("teardown: task 'stubborn' did not end"), std::string::npos) << out;
}

// A condition-variable wait with a predicate inside a destructor during teardown does not spin.
TEST(Teardown, PredicateWaitInADestructorEnds) {
  struct Waiter {
    racelab::mutex& m;
    racelab::condition_variable& cv;
    ~Waiter() {
      std::unique_lock lock(m);
      cv.wait(lock, [] { return false; });  // never true: only teardown can end it
    }
  };
  auto m = std::make_shared<racelab::mutex>();
  auto cv = std::make_shared<racelab::condition_variable>();
  racelab::Simulation sim({.seed = 2});
  sim.spawn("waiter", [m, cv] {
    racelab::NoThrowScope in_destructor_code;  // the destructor below must not be thrown into
    Waiter w{*m, *cv};
  });
  fail_at(sim, 5ms);
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure) << out;
  EXPECT_NE(out.message().find("failer"), std::string::npos) << out;
}

// Unlocking a mutex the task does not hold fails the run with both names (it used to pass, or
// unlock the std::mutex inside, which is undefined behaviour).
TEST(Teardown, UnlockByANonOwnerIsReported) {
  auto m = std::make_shared<racelab::mutex>("accounts");
  racelab::Simulation sim({.seed = 3, .strategy = "dfs:0"});
  sim.spawn("A", [m] {
    m->lock();
    racelab::this_thread::sleep_for(10ms);
    m->unlock();
  });
  sim.spawn("B", [m] {
    racelab::this_thread::sleep_for(1ms);
    m->unlock();  // B never locked it
  });
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure) << out;
  EXPECT_NE(out.message().find("'accounts' unlocked by task 'B', which does not hold it (held by 'A')"),
            std::string::npos)
      << out;
}

// During teardown a lock on a mutex held by another (abandoned) task returns without it instead
// of taking it from its owner; the owner's unlock still releases it, so a mutex that outlives the
// run is free and consistent afterwards (before, the owner's unlock unlocked an unlocked
// std::mutex, which ThreadSanitizer reports).
TEST(Teardown, LockDuringTeardownDoesNotStealAHeldMutex) {
  static racelab::mutex shared{"shared"};
  struct LocksInDestructor {
    bool* got_it_while_held;
    bool* owner_holds;
    ~LocksInDestructor() {
      shared.lock();
      *got_it_while_held = *owner_holds;
      shared.unlock();
    }
  };
  bool got_it_while_held = false;
  bool owner_holds = false;
  {
    racelab::Simulation sim({.seed = 4, .strategy = "dfs:0"});
    sim.spawn("unwinder", [&] {  // task 0: torn down first
      racelab::this_thread::sleep_for(1ms);
      LocksInDestructor d{&got_it_while_held, &owner_holds};
      throw std::runtime_error("unwinding through a lock");
    });
    sim.spawn("owner", [&] {
      std::lock_guard lock(shared);
      owner_holds = true;
      racelab::this_thread::sleep_for(100ms);
      owner_holds = false;
    });
    fail_at(sim, 5ms);
    auto out = sim.run();
    EXPECT_FALSE(out.ok());
    EXPECT_NE(out.message().find("failer"), std::string::npos) << out;
  }
  // The unwinder was parked in lock() while the owner held it; teardown let it go on, and its
  // destructor saw the owner still holding (so the lock returned without the mutex).
  EXPECT_TRUE(got_it_while_held);
  racelab::Simulation again({.seed = 5});
  again.spawn("later", [] {
    ASSERT_TRUE(shared.try_lock());
    shared.unlock();
  });
  EXPECT_TRUE(again.run().ok());
  ASSERT_TRUE(shared.try_lock());  // and outside a simulation
  shared.unlock();
}

// A point reached in a destructor while the task unwinds is never a crash point (throwing there
// would terminate the process); the run fails with the task's own exception.
TEST(Teardown, NoCrashIsInjectedWhileUnwinding) {
  struct PointInDestructor {
    ~PointInDestructor() { RACELAB_POINT("teardown.in_destructor"); }
  };
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    racelab::Simulation sim(
        {.seed = seed, .crash_probability = 1.0, .crash_points = "teardown.in_destructor"});
    sim.spawn("A", [] {
      PointInDestructor d;
      throw std::runtime_error("from A");
    });
    auto out = sim.run();
    EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure) << out;
    EXPECT_NE(out.message().find("from A"), std::string::npos) << out;
  }
}

// Inside a NoThrowScope (a destructor not reached by unwinding, a C callback) no crash is injected
// either; outside it, with probability 1, the same point crashes.
TEST(Teardown, NoThrowScopeSuppressesCrashes) {
  auto run = [](bool scoped) {
    racelab::Simulation sim({.seed = 1, .crash_probability = 1.0, .crash_points = "teardown.scoped"});
    auto reached_after = std::make_shared<bool>(false);
    sim.spawn("A", [scoped, reached_after] {
      if (scoped) {
        racelab::NoThrowScope scope;
        RACELAB_POINT("teardown.scoped");
      } else {
        RACELAB_POINT("teardown.scoped");
      }
      *reached_after = true;
    });
    auto out = sim.run();
    EXPECT_TRUE(out.ok()) << out;  // a crash ends the task, not the run
    return *reached_after;
  };
  EXPECT_TRUE(run(true));
  EXPECT_FALSE(run(false));
}

// The public cooperative wait: a WaitQueue parks a task until notified, a deadlock names `why`,
// and outside a simulation it refuses with a clear error.
TEST(Teardown, WaitQueueIsTheAdaptersPrimitive) {
  auto queue = std::make_shared<racelab::WaitQueue>();
  auto ready = std::make_shared<bool>(false);
  racelab::Simulation sim({.seed = 1});
  sim.spawn("consumer", [queue, ready] {
    while (!*ready) ASSERT_EQ(queue->wait("pool.acquire", "a free connection"), racelab::WaitResult::woken);
  });
  sim.spawn("producer", [queue, ready] {
    racelab::this_thread::sleep_for(1ms);
    *ready = true;
    queue->notify_one();
  });
  EXPECT_TRUE(sim.run().ok());

  racelab::Simulation stuck({.seed = 1});
  stuck.spawn("consumer", [queue] { static_cast<void>(queue->wait("pool.acquire", "a free connection")); });
  auto out = stuck.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::deadlock);
  EXPECT_NE(out.message().find("consumer waits at pool.acquire: a free connection"), std::string::npos)
      << out;

  EXPECT_THROW(static_cast<void>(queue->wait("pool.acquire", "x")), racelab::SimulationError);
}

// A lock_guard in an ordinary destructor (not unwinding), parked on a contended mutex when the run
// stops, does not terminate the process when the destructor opens a NoThrowScope (racelab cannot
// tell a destructor from other code; docs/simulation.md): the lock returns without the mutex.
TEST(Teardown, ALockInADestructorWithANoThrowScopeDoesNotTerminate) {
  struct Registry {
    racelab::mutex& m;
    ~Registry() {
      racelab::NoThrowScope in_destructor;
      std::lock_guard lock(m);
    }
  };
  auto m = std::make_shared<racelab::mutex>("registry");
  racelab::Simulation sim({.seed = 1, .strategy = "dfs:0"});
  sim.spawn("closer", [m] {  // task 0: torn down first
    racelab::this_thread::sleep_for(1ms);
    { Registry r{*m}; }  // parked in ~Registry's lock when the run stops
    RACELAB_POINT("teardown.after_registry");
  });
  sim.spawn("holder", [m] {
    std::lock_guard lock(*m);
    racelab::this_thread::sleep_for(100ms);
  });
  fail_at(sim, 5ms);
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure) << out;
  EXPECT_NE(out.message().find("failer"), std::string::npos) << out;
  bool closer_waited = false;
  for (const auto& step : out.trace().steps()) closer_waited = closer_waited || step.point == "mutex.lock";
  EXPECT_TRUE(closer_waited) << out;  // the window: the destructor's lock was contended
}

// Ordinary code parked on a contended lock when the run stops never enters its critical section
// without the mutex: the lock throws the unwind signal (the holder is parked mid-section, its
// invariants broken: here a null pointer the section would dereference).
TEST(Teardown, TeardownNeverEntersACriticalSectionWithoutTheMutex) {
  auto m = std::make_shared<racelab::mutex>("guarded");
  auto value = std::make_shared<int>(7);
  auto ptr = std::make_shared<int*>(value.get());
  auto entered = std::make_shared<int>(0);
  racelab::Simulation sim({.seed = 1, .strategy = "dfs:0"});
  sim.spawn("victim", [m, ptr, entered] {  // task 0: torn down first
    racelab::this_thread::sleep_for(1ms);
    std::lock_guard lock(*m);
    ++*entered;
    ASSERT_NE(*ptr, nullptr);
  });
  sim.spawn("holder", [m, ptr, value] {
    std::lock_guard lock(*m);
    *ptr = nullptr;  // broken until the end of the section
    racelab::this_thread::sleep_for(100ms);
    *ptr = value.get();
  });
  fail_at(sim, 5ms);
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure) << out;
  EXPECT_NE(out.message().find("failer"), std::string::npos) << out;
  EXPECT_EQ(*entered, 0);
}

// A condition-variable wait on a unique_lock that does not own its mutex fails the run with the
// task's name, instead of returning at once (a predicate loop around it spun forever).
TEST(Teardown, WaitWithoutTheMutexIsReported) {
  auto m = std::make_shared<racelab::mutex>();
  auto cv = std::make_shared<racelab::condition_variable>();
  racelab::Simulation sim({.seed = 1, .max_steps = 1000});
  sim.spawn("A", [m, cv] {
    std::unique_lock lock(*m, std::defer_lock);
    bool ready = false;
    while (!ready) cv->wait(lock);
  });
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure) << out;
  EXPECT_NE(out.message().find("does not own its mutex (task 'A')"), std::string::npos) << out;
}

// What a run's tasks captured dies with its Simulation, although the engine keeps the core for
// the next one: a weak_ptr to a captured object expires when the Simulation is destroyed.
TEST(Teardown, ARunsCapturesDieWithItsSimulation) {
  std::weak_ptr<int> seen;
  {
    auto state = std::make_shared<int>(0);
    seen = state;
    racelab::Simulation sim({.seed = 1});
    sim.spawn("A", [state] { ++*state; });
    ASSERT_TRUE(sim.run().ok());
  }
  EXPECT_TRUE(seen.expired());
  std::weak_ptr<int> failed_capture;
  {
    auto state = std::make_shared<int>(0);
    failed_capture = state;
    racelab::Simulation sim({.seed = 1});
    sim.spawn("A", [state] { throw std::runtime_error("A fails"); });
    sim.spawn("B", [state] { racelab::this_thread::sleep_for(1ms); });
    EXPECT_FALSE(sim.run().ok());
  }
  EXPECT_TRUE(failed_capture.expired());
}

// A core reused on this thread gives the same runs as a fresh one: the same seeds on a new thread
// (which starts with no spare core) produce the same traces.
TEST(Teardown, AReusedCoreRunsAsAFreshOne) {
  auto traces = [] {
    std::vector<std::string> out;
    for (std::uint64_t seed = 0; seed < 30; ++seed) {
      auto m = std::make_shared<racelab::mutex>();
      auto balance = std::make_shared<int>(100);
      racelab::Simulation sim({.seed = seed, .strategy = seed % 2 == 0 ? "random" : "pct:2:20"});
      for (const char* name : {"A", "B", "C"}) {
        sim.spawn(name, [m, balance] {
          std::lock_guard lock(*m);
          int seen = *balance;
          RACELAB_POINT("teardown.reuse");
          racelab::this_thread::sleep_for(1ms);
          *balance = seen - 10;
        });
      }
      out.push_back(sim.run().trace().text());
    }
    return out;
  };
  auto here = traces();
  here = traces();  // the second time on a core this thread has used
  std::vector<std::string> fresh;
  std::thread([&] { fresh = traces(); }).join();
  EXPECT_EQ(here, fresh);
}

namespace {

// Runs one task and expects the run to fail with `expected` in its message.
void expect_failure_naming(const char* task, std::function<void()> body, const std::string& expected) {
  racelab::Simulation sim({.seed = 1});
  sim.spawn(task, std::move(body));
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure) << out;
  EXPECT_NE(out.message().find(expected), std::string::npos) << out;
}

}  // namespace

// A second lock by the task that holds a mutex (a self-deadlock with std::mutex) fails the run,
// naming the mutex and the task; for shared_mutex a shared holder's exclusive lock too.
TEST(Teardown, LockingTwiceIsReported) {
  auto m = std::make_shared<racelab::mutex>("accounts");
  expect_failure_naming(
      "A",
      [m] {
        std::lock_guard first(*m);
        std::lock_guard second(*m);
      },
      "racelab::mutex 'accounts' locked twice by task 'A'");
  auto sm = std::make_shared<racelab::shared_mutex>("ledger");
  expect_failure_naming(
      "B",
      [sm] {
        std::shared_lock reading(*sm);
        std::unique_lock writing(*sm);
      },
      "racelab::shared_mutex 'ledger' locked twice by task 'B'");
}
