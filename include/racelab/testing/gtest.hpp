// racelab/testing/gtest.hpp — GoogleTest glue for simulations.
//
// Seed-parameterised suites (pytest.mark.parametrize over seeds, as Resonate's DST does) and
// explore assertions whose failure message is the whole story: the seed, the minimal timeline and
// the exact command that replays the failure.
//
//   class Bank : public testing::TestWithParam<std::uint64_t> {};
//   TEST_P(Bank, TransfersConserveMoney) {
//     racelab::Simulation sim({.seed = GetParam()});
//     ...
//   }
//   INSTANTIATE_TEST_SUITE_P(Seeds, Bank, racelab::testing::seeds(20));   // 0..19, or RACELAB_SEED
//
//   RACELAB_EXPECT_NO_FAILURE({.runs = 1000, .strategy = "pct:2"}, [&](racelab::Simulation& sim) { ... });
//   RACELAB_EXPECT_FAILURE({.strategy = "dfs:2"}, body);    // red tests: a failure must be found
//
// GoogleTest's sharding (GTEST_TOTAL_SHARDS, GTEST_SHARD_INDEX) splits a seed-parameterised suite
// across shards, one seed per test instance. RACELAB_SEED / RACELAB_SCHEDULE / RACELAB_RUNS /
// RACELAB_STRATEGY / RACELAB_VERIFY apply to every explore() (see racelab/explore.hpp).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "racelab/explore.hpp"

namespace racelab::testing {

// Seeds first..first+count-1, or only RACELAB_SEED when it is set (to replay one failing seed).
inline ::testing::internal::ParamGenerator<std::uint64_t> seeds(std::uint64_t count,
                                                                std::uint64_t first = 0) {
  std::vector<std::uint64_t> values;
  if (const char* env = std::getenv("RACELAB_SEED"); env != nullptr && *env != '\0') {
    values.push_back(std::strtoull(env, nullptr, 10));
  } else {
    for (std::uint64_t s = first; s < first + count; ++s) values.push_back(s);
  }
  return ::testing::ValuesIn(values);
}

// The command that re-runs the current test with the report's failure.
inline std::string replay_command(const Report& report) {
  std::string test;
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info())
    test = std::string(info->test_suite_name()) + "." + info->name();
  std::string binary = "<test binary>";
  char path[4096];
  if (auto n = ::readlink("/proc/self/exe", path, sizeof path - 1); n > 0)
    binary.assign(path, static_cast<std::size_t>(n));
  std::string env = report.seed_replays() ? "RACELAB_SEED=" + std::to_string(report.seed())
                                          : "RACELAB_SCHEDULE='" + report.schedule() + "'";
  return env + " " + binary + " --gtest_filter='" + test + "'";
}

inline std::string story(const Report& report) {
  std::ostringstream out;
  out << report << "  run again: " << replay_command(report) << '\n';
  return out.str();
}

}  // namespace racelab::testing

// RACELAB_EXPECT_NO_FAILURE(options, body): explores and fails the test (non-fatally) with the
// story if any run fails. The arguments are explore()'s; braced options may contain commas.
#define RACELAB_EXPECT_NO_FAILURE(...)                                                         \
  do {                                                                                         \
    const ::racelab::Report racelab_report_ = ::racelab::explore(__VA_ARGS__);                 \
    if (racelab_report_.failed()) ADD_FAILURE() << ::racelab::testing::story(racelab_report_); \
  } while (0)

// The red half of a red/green pair: fails the test unless exploration finds a failure.
#define RACELAB_EXPECT_FAILURE(...)                                                                  \
  do {                                                                                               \
    const ::racelab::Report racelab_report_ = ::racelab::explore(__VA_ARGS__);                       \
    if (!racelab_report_.failed())                                                                   \
      ADD_FAILURE() << "expected exploration to find a failure, but: " << racelab_report_.summary(); \
  } while (0)
