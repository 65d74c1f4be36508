// The runtime state a C++ thread owns implicitly is per task once tasks are fibers: the caught-
// exception stack, std::uncaught_exceptions() and the innermost PointLog are saved and restored on
// every switch (detail/fiber.hpp). Each test switches tasks where that state is live.
//
// The seeds are a loop rather than TEST_P parameters: each test is a few hundred tiny runs, and one
// count of wrong seeds ("wrong in 0 of 200") says more than 200 separate ctest entries.
#include <racelab/racelab.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kSeeds = 200;

// Runs `body(name)` as tasks "A" and "B" of one simulation under `seed`; returns what each returned.
template <class Body>
std::pair<std::string, std::string> run_pair(std::uint64_t seed, Body body) {
  std::pair<std::string, std::string> got{"(did not run)", "(did not run)"};
  racelab::Simulation sim(racelab::SimOptions{.seed = seed});
  sim.spawn("A", [&] { got.first = body("A"); });
  sim.spawn("B", [&] { got.second = body("B"); });
  auto outcome = sim.run();
  EXPECT_TRUE(outcome.ok()) << "seed " << seed << ": " << outcome;
  return got;
}

std::vector<std::string> names(const racelab::PointLog& log) {
  std::vector<std::string> out;
  for (const auto& e : log.entries()) out.emplace_back(e.point);
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Throws, and inside the handler lets the other task run (and throw and catch its own) before
// `throw;` rethrows. Returns what the rethrow delivered.
std::string rethrow_after_switch(const std::string& name) {
  try {
    throw std::runtime_error("from " + name);
  } catch (const std::exception&) {
    RACELAB_POINT("task_state.in_catch");
    racelab::this_thread::sleep_for(1ms);  // both tasks are in their handlers before either wakes
    try {
      throw;
    } catch (const std::exception& e) {
      return e.what();
    }
  }
}

// Like rethrow_after_switch, with std::current_exception(): the handler's exception must be the
// same object after the switch as before it.
std::string current_exception_after_switch(const std::string& name) {
  try {
    throw std::runtime_error("from " + name);
  } catch (const std::exception&) {
    const std::exception_ptr before = std::current_exception();
    RACELAB_POINT("task_state.in_catch");
    racelab::this_thread::sleep_for(1ms);
    const std::exception_ptr after = std::current_exception();
    if (after == nullptr) return "(no current exception)";
    try {
      std::rethrow_exception(after);
    } catch (const std::exception& e) {
      return after == before ? std::string(e.what()) : "(another exception) " + std::string(e.what());
    }
  }
}

// Runs `body` as tasks A and B over every seed; "" if each always got "from <its name>", else how
// many seeds went wrong and what the first one saw.
template <class Body>
std::string wrong_seeds(Body body) {
  std::uint64_t wrong = 0;
  std::string first;
  for (std::uint64_t seed = 0; seed < kSeeds; ++seed) {
    auto [a, b] = run_pair(seed, body);
    if ((a != "from A" || b != "from B") && wrong++ == 0)
      first = "seed " + std::to_string(seed) + ": A got '" + a + "', B got '" + b + "'";
  }
  if (wrong == 0) return "";
  return "wrong in " + std::to_string(wrong) + " of " + std::to_string(kSeeds) + " seeds; first: " + first;
}

}  // namespace

// Two tasks each rethrow inside a handler after a switch into the other's handler; expects each
// to get its own exception back, in 200 of 200 seeds.
TEST(TaskState, EachTaskRethrowsItsOwnException) { EXPECT_EQ(wrong_seeds(rethrow_after_switch), ""); }

// std::current_exception() in a handler is the task's own exception after a switch into the
// other task's handler; expects the same exception_ptr before and after, in 200 of 200 seeds.
TEST(TaskState, CurrentExceptionSurvivesASwitch) {
  EXPECT_EQ(wrong_seeds(current_exception_after_switch), "");
}

namespace {

// What the unwinding task and the bystander saw.
struct UnwindSeen {
  int in_destructor_before = -1;  // A, in a destructor run by unwinding, before it switched out
  int in_destructor_after = -1;   // A, same destructor, after it was switched back in
  int bystander = -1;             // B, while A was switched out mid-unwind
  bool bystander_in_window = false;
  std::string a_caught;
};

// A destructor that switches out mid-unwind: a point, then a 1 ms sleep.
struct SwitchesOutInDestructor {
  UnwindSeen& seen;
  bool& unwinding;
  ~SwitchesOutInDestructor() {
    seen.in_destructor_before = std::uncaught_exceptions();
    unwinding = true;
    RACELAB_POINT("task_state.unwinding");
    racelab::this_thread::sleep_for(1ms);
    seen.in_destructor_after = std::uncaught_exceptions();
    unwinding = false;
  }
};

}  // namespace

// Task A throws and its destructor switches out mid-unwind; task B, polling every 100 us of virtual
// time, looks while A sleeps in that destructor. Expects A to count 1 throughout and B to count 0,
// with B inside the window, in 200 of 200 seeds.
TEST(TaskState, UncaughtExceptionsCountsOnlyTheTasksOwn) {
  std::uint64_t wrong = 0;
  std::string first_wrong;
  for (std::uint64_t seed = 0; seed < kSeeds; ++seed) {
    UnwindSeen seen;
    bool unwinding = false;
    racelab::Simulation sim(racelab::SimOptions{.seed = seed});
    sim.spawn("A", [&] {
      try {
        SwitchesOutInDestructor guard{seen, unwinding};
        throw std::runtime_error("A unwinds");
      } catch (const std::exception& e) {
        seen.a_caught = e.what();
      }
    });
    sim.spawn("B", [&] {
      for (int i = 0; i < 100 && !unwinding; ++i) racelab::this_thread::sleep_for(100us);
      seen.bystander_in_window = unwinding;
      seen.bystander = std::uncaught_exceptions();
    });
    auto outcome = sim.run();
    EXPECT_TRUE(outcome.ok()) << "seed " << seed << ": " << outcome;
    const bool right = seen.in_destructor_before == 1 && seen.in_destructor_after == 1 &&
                       seen.bystander == 0 && seen.bystander_in_window && seen.a_caught == "A unwinds";
    if (!right && wrong++ == 0) {
      first_wrong = "seed " + std::to_string(seed) + ": A in its destructor " +
                    std::to_string(seen.in_destructor_before) + " then " +
                    std::to_string(seen.in_destructor_after) + ", B " + std::to_string(seen.bystander) +
                    (seen.bystander_in_window ? "" : " (outside the window)") + ", A caught '" +
                    seen.a_caught + "'";
    }
  }
  EXPECT_EQ(wrong, 0u) << "wrong in " << wrong << " of " << kSeeds << " seeds; first: " << first_wrong;
}

// A opens a log at 0 ms and closes it at 1 ms; B opens one at 0.1 ms and closes it at 2 ms, so the
// two close out of order. Expects each log to hold exactly its task's points, and the log around
// run() the points no task log claimed; nothing dangles afterwards (ASan checks the last points).
TEST(TaskState, PointLogsClosedOutOfOrderRecordOnlyTheirOwnTask) {
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    racelab::PointLog around_run;
    std::vector<std::string> a_log, b_log;
    racelab::Simulation sim(racelab::SimOptions{.seed = seed});
    sim.spawn("A", [&] {
      RACELAB_POINT("task_state.a_outside");
      {
        racelab::PointLog log;
        RACELAB_POINT("task_state.a_1");
        racelab::this_thread::sleep_for(1ms);
        RACELAB_POINT("task_state.a_2");
        a_log = names(log);
      }
      RACELAB_POINT("task_state.a_after");
    });
    sim.spawn("B", [&] {
      racelab::this_thread::sleep_for(100us);
      RACELAB_POINT("task_state.b_outside");
      {
        racelab::PointLog log;
        RACELAB_POINT("task_state.b_1");
        racelab::this_thread::sleep_for(1900us);
        RACELAB_POINT("task_state.b_2");
        b_log = names(log);
      }
      RACELAB_POINT("task_state.b_after");
    });
    auto outcome = sim.run();
    ASSERT_TRUE(outcome.ok()) << "seed " << seed << ": " << outcome;
    EXPECT_EQ(a_log, (std::vector<std::string>{"task_state.a_1", "task_state.a_2"})) << "seed " << seed;
    EXPECT_EQ(b_log, (std::vector<std::string>{"task_state.b_1", "task_state.b_2"})) << "seed " << seed;
    RACELAB_POINT("task_state.after_run");
    EXPECT_EQ(sorted(names(around_run)),
              (std::vector<std::string>{"task_state.a_after", "task_state.a_outside", "task_state.after_run",
                                        "task_state.b_after", "task_state.b_outside"}))
        << "seed " << seed;
  }
  EXPECT_FALSE(racelab::detail::armed());  // every log and run disarmed what it armed
}

// A task spawned while its parent has a log open starts with no log of its own: the parent's log
// does not see the child's points; the log around run() does.
TEST(TaskState, AChildTaskIsNotRecordedInItsParentsLog) {
  racelab::PointLog around_run;
  std::vector<std::string> parent_log;
  racelab::Simulation sim(racelab::SimOptions{.seed = 3});
  sim.spawn("parent", [&] {
    racelab::PointLog log;
    RACELAB_POINT("task_state.parent");
    racelab::thread child([] { RACELAB_POINT("task_state.child"); });
    child.join();
    parent_log = names(log);
  });
  auto outcome = sim.run();
  ASSERT_TRUE(outcome.ok()) << outcome;
  EXPECT_EQ(parent_log, (std::vector<std::string>{"task_state.parent"}));
  EXPECT_EQ(names(around_run), (std::vector<std::string>{"task_state.child"}));
}
