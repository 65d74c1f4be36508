// Hook specs (RACELAB_HOOKS, Hooks::arm): valid specs arm real actions; every malformed one is
// rejected with a message naming the bad part, and arms nothing.
#include <racelab/hooks.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace {
void spec_point() { RACELAB_POINT("spec_test.window"); }
void spec_first() { RACELAB_POINT("spec_test.first"); }
}  // namespace

TEST(HookSpec, ArmsDelayBarrierAndOrder) {
  racelab::Hooks hooks;
  hooks.arm(
      "spec_test.window=delay:1ms; spec_test.window=barrier:2:5s;spec_test.window=order:spec_test.first");
  std::thread a(spec_point), b(spec_point);
  spec_first();
  a.join();
  b.join();
  EXPECT_EQ(hooks.hits("spec_test.window"), 2u);
  EXPECT_EQ(hooks.timeout_count(), 0u);
}

struct BadSpec {
  const char* spec;
  const char* names;  // what the message must mention
};

class HookSpecRejects : public testing::TestWithParam<BadSpec> {};

TEST_P(HookSpecRejects, NamesTheBadPart) {
  racelab::Hooks hooks;
  try {
    hooks.arm(std::string("spec_test.window=delay:1ms;") + GetParam().spec);
    FAIL() << "accepted: " << GetParam().spec;
  } catch (const racelab::HookSpecError& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().names), std::string::npos) << e.what();
  }
  spec_point();  // nothing was armed, not even the valid first entry: no delay, no barrier
  EXPECT_EQ(hooks.timeout_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, HookSpecRejects,
    testing::Values(BadSpec{"spec_test.window", "missing '='"},
                    BadSpec{"spec_test.window=sleep:1ms", "unknown action 'sleep'"},
                    BadSpec{"spec_test.window=delay:200", "needs a unit"},
                    BadSpec{"spec_test.window=delay:fast", "does not start with a number"},
                    BadSpec{"spec_test.window=delay:-5ms", "is negative"},
                    BadSpec{"spec_test.window=delay:5h", "needs a unit"},
                    BadSpec{"spec_test.window=delay:99999999999999999999ms", "too large"},
                    BadSpec{"spec_test.window=delay:100000m", "longer than a day"},
                    BadSpec{"spec_test.window=barrier:0", "not a positive integer"},
                    BadSpec{"spec_test.window=barrier:two", "'two'"},
                    BadSpec{"spec_test.window=barrier:2:5s:9", "takes 1 or 2"},
                    BadSpec{"bad name!=delay:1ms", "bad point name 'bad name!'"},
                    BadSpec{"spec_test.window:during=delay:1ms", "bad point name"},
                    BadSpec{"spec_test.window=order:", "bad point name ''"},
                    BadSpec{"spec_test.window=delay", "takes 1 argument"}));
