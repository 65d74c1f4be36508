// Hook specs (RACELAB_HOOKS, Hooks::arm): valid specs arm real actions; every malformed one is
// rejected with a message naming the bad part, and arms nothing.
#include <racelab/hooks.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <ostream>
#include <string>
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
  const char* name;  // the test's name: Malformed/HookSpecRejects.NamesTheBadPart/<name>
  const char* spec;
  const char* names;  // what the message must mention
};
void PrintTo(const BadSpec& bad, std::ostream* out) { *out << '"' << bad.spec << '"'; }

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
    testing::Values(BadSpec{"no_equals", "spec_test.window", "missing '='"},
                    BadSpec{"unknown_action", "spec_test.window=sleep:1ms", "unknown action 'sleep'"},
                    BadSpec{"delay_without_unit", "spec_test.window=delay:200", "needs a unit"},
                    BadSpec{"delay_not_a_number", "spec_test.window=delay:fast",
                            "does not start with a number"},
                    BadSpec{"delay_negative", "spec_test.window=delay:-5ms", "is negative"},
                    BadSpec{"delay_unknown_unit", "spec_test.window=delay:5h", "needs a unit"},
                    BadSpec{"delay_overflow", "spec_test.window=delay:99999999999999999999ms", "too large"},
                    BadSpec{"delay_over_a_day", "spec_test.window=delay:100000m", "longer than a day"},
                    BadSpec{"barrier_zero", "spec_test.window=barrier:0", "not a positive integer"},
                    BadSpec{"barrier_not_a_number", "spec_test.window=barrier:two", "'two'"},
                    BadSpec{"barrier_too_many_arguments", "spec_test.window=barrier:2:5s:9", "takes 1 or 2"},
                    BadSpec{"bad_point_name", "bad name!=delay:1ms", "bad point name 'bad name!'"},
                    BadSpec{"bad_point_name_suffix", "spec_test.window:during=delay:1ms", "bad point name"},
                    BadSpec{"order_empty_point", "spec_test.window=order:", "bad point name ''"},
                    BadSpec{"delay_without_argument", "spec_test.window=delay", "takes 1 argument"}),
    [](const testing::TestParamInfo<BadSpec>& p) { return std::string(p.param.name); });
