// Points: registration before main, hit counting only while armed, RACELAB_CALL's pair of points.
#include <racelab/hooks.hpp>
#include <racelab/point.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

std::optional<racelab::PointInfo> find_point(const std::string& name) {
  for (auto& p : racelab::points())
    if (p.name == name) return p;
  return std::nullopt;
}

[[maybe_unused]] void never_called() { RACELAB_POINT("point_test.never_reached"); }

void reached() { RACELAB_POINT("point_test.reached"); }

template <class T>
void in_template() {
  RACELAB_POINT("point_test.in_template");
}

int answer() { return 42; }
int global = 0;
int& ref_to_global() { return global; }

}  // namespace

// A point is listed with file:line before it ever runs: a user can discover where races can be provoked.
TEST(Point, RegisteredBeforeFirstHit) {
  auto p = find_point("point_test.never_reached");
  ASSERT_TRUE(p.has_value());
  EXPECT_NE(p->file.find("point_test.cpp"), std::string::npos);
  EXPECT_GT(p->line, 0);
  EXPECT_EQ(p->hits, 0u);
}

// Hits advance only while something is armed, so production code pays nothing for them.
TEST(Point, CountsHitsOnlyWhileArmed) {
  auto before = find_point("point_test.reached")->hits;
  reached();
  EXPECT_EQ(find_point("point_test.reached")->hits, before);
  {
    racelab::Hooks hooks;
    reached();
    reached();
    EXPECT_EQ(hooks.hits("point_test.reached"), 2u);
  }
  EXPECT_EQ(find_point("point_test.reached")->hits, before + 2);
}

// Each thread counts its hits on its own; points() sums the threads still running and those that
// have exited, so none is lost or counted twice.
TEST(Point, HitsOfEveryThreadAreSummed) {
  auto before = find_point("point_test.reached")->hits;
  racelab::Hooks hooks;
  std::atomic<bool> release{false};
  std::atomic<int> hit{0};
  std::thread exited([] {
    for (int i = 0; i < 100; ++i) reached();
  });
  exited.join();
  std::thread running([&] {
    for (int i = 0; i < 50; ++i) reached();
    hit = 1;
    while (!release) std::this_thread::yield();
  });
  while (hit == 0) std::this_thread::yield();
  reached();
  EXPECT_EQ(find_point("point_test.reached")->hits, before + 151);  // one thread still running
  release = true;
  running.join();
  EXPECT_EQ(find_point("point_test.reached")->hits, before + 151);  // and after it exited
}

// A point in a template is one site per instantiation, listed once by name.
TEST(Point, TemplateInstantiationsShareTheName) {
  in_template<int>();
  in_template<double>();
  auto p = find_point("point_test.in_template");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->sites, 2);
}

// RACELAB_CALL fires name:before, evaluates, fires name:after, and returns the value unchanged.
TEST(Point, CallFiresBeforeAndAfterAroundTheCall) {
  std::vector<std::string> log;
  racelab::Hooks hooks;
  hooks.before("point_test.answer", [&] { log.push_back("before"); });
  hooks.after("point_test.answer", [&] { log.push_back("after"); });
  int v = RACELAB_CALL("point_test.answer", (log.push_back("call"), answer()));
  EXPECT_EQ(v, 42);
  EXPECT_EQ(log, (std::vector<std::string>{"before", "call", "after"}));
  EXPECT_EQ(hooks.hits("point_test.answer:before"), 1u);
  EXPECT_EQ(hooks.hits("point_test.answer:after"), 1u);
}

TEST(Point, CallKeepsReferencesAndVoid) {
  int& r = RACELAB_CALL("point_test.ref", ref_to_global());
  EXPECT_EQ(&r, &global);
  int calls = 0;
  RACELAB_CALL("point_test.void", static_cast<void>(++calls));
  EXPECT_EQ(calls, 1);
}

// `after` means "after the call returned": a throwing call fires :before only.
TEST(Point, CallThatThrowsSkipsAfter) {
  racelab::Hooks hooks;
  auto thrower = []() -> int { throw std::runtime_error("boom"); };
  EXPECT_THROW(static_cast<void>(RACELAB_CALL("point_test.throws", thrower())), std::runtime_error);
  EXPECT_EQ(hooks.hits("point_test.throws:before"), 1u);
  EXPECT_EQ(hooks.hits("point_test.throws:after"), 0u);
}

TEST(Point, ThreadLabels) {
  racelab::set_thread_label("main-under-test");
  EXPECT_EQ(racelab::thread_label(), "main-under-test");
  std::string other;
  std::thread([&] { other = racelab::thread_label(); }).join();
  EXPECT_EQ(other.rfind("thread-", 0), 0u) << other;
}
