// With RACELAB_DISABLE (this file is compiled with it) points vanish: not registered, never fired,
// and RACELAB_CALL is just the expression.
#include <racelab/hooks.hpp>
#include <racelab/point.hpp>

#include <gtest/gtest.h>

namespace {
int disabled_call() { return 7; }
}  // namespace

TEST(PointDisabled, CompiledOut) {
  racelab::Hooks hooks;
  int fired = 0;
  hooks.after("point_disabled.call", [&] { ++fired; }).always();
  RACELAB_POINT("point_disabled.plain");
  EXPECT_EQ(RACELAB_CALL("point_disabled.call", disabled_call()), 7);
  EXPECT_EQ(fired, 0);
  for (const auto& p : racelab::points())
    EXPECT_EQ(p.name.rfind("point_disabled.", 0), std::string::npos) << p.name;
}
