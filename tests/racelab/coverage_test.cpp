// Coverage over real simulated runs: windows entered or not under forced schedules, per-run
// counting, exact merging (also past the exact cap, and through JSON), strict JSON reading,
// never-reached points by family, and warnings.
#include <racelab/coverage.hpp>
#include <racelab/racelab.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <set>

namespace {

// A: two points; B: one. Under `schedule` (empty: the seed decides).
racelab::Trace two_tasks(const std::string& schedule, std::uint64_t seed = 0) {
  racelab::Simulation sim({.seed = seed, .schedule = schedule});
  sim.spawn("A", [] {
    RACELAB_POINT("covtest.a1");
    RACELAB_POINT("covtest.a2");
  });
  sim.spawn("B", [] { RACELAB_POINT("covtest.b1"); });
  auto out = sim.run();
  EXPECT_TRUE(out.ok()) << out;
  return out.trace();
}

// A passes covtest.loop → covtest.loop_end five times; B has one point.
racelab::Trace loop(const std::string& schedule) {
  racelab::Simulation sim({.schedule = schedule});
  sim.spawn("A", [] {
    for (int i = 0; i < 5; ++i) {
      RACELAB_POINT("covtest.loop");
      RACELAB_POINT("covtest.loop_end");
    }
  });
  sim.spawn("B", [] { RACELAB_POINT("covtest.b1"); });
  auto out = sim.run();
  EXPECT_TRUE(out.ok()) << out;
  return out.trace();
}

// Three tasks of six points under the random strategy: millions of possible schedules.
racelab::Trace three_tasks(std::uint64_t seed) {
  racelab::Simulation sim({.seed = seed});
  for (const char* name : {"A", "B", "C"}) {
    sim.spawn(name, [] {
      for (int i = 0; i < 3; ++i) {
        RACELAB_POINT("covtest.read");
        RACELAB_POINT("covtest.write");
      }
    });
  }
  return sim.run().trace();
}

// Never called: registered all the same, in a family that runs reach and in one they do not.
[[maybe_unused]] void never_called() {
  RACELAB_POINT("covtest.never");
  RACELAB_POINT("covother.never");
}

// A copy: windows() returns a fresh vector, so a pointer into it would dangle.
std::optional<racelab::WindowStat> find(const std::vector<racelab::WindowStat>& ws, const std::string& task,
                                        const std::string& from, const std::string& to) {
  for (const auto& w : ws)
    if (w.task == task && w.from == from && w.to == to) return w;
  return std::nullopt;
}

const std::string kSerial = "racelab-schedule/1: *>A A@end#1>B";
const std::string kCutIn = "racelab-schedule/1: *>A A@covtest.a1#1>B B@end#1>A";

}  // namespace

// A serial schedule never enters A's window a1 → a2; switching to B at a1 enters it, by B.
TEST(Coverage, WindowEnteredOnlyWhenTheScheduleCutsIn) {
  racelab::Coverage serial;
  serial.add(two_tasks(kSerial));
  auto w = find(serial.windows(), "A", "covtest.a1", "covtest.a2");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->runs, 1u);
  EXPECT_EQ(w->entered, 0u);
  EXPECT_TRUE(w->by.empty());

  racelab::Coverage cut;
  cut.add(two_tasks(kCutIn));
  w = find(cut.windows(), "A", "covtest.a1", "covtest.a2");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->entered, 1u);
  EXPECT_EQ(w->by, (std::vector<std::pair<std::string, std::uint64_t>>{{"B", 1}}));
  EXPECT_EQ(serial.windows().size(), 1u);  // B's single point makes no window
}

// A window met five times in a run and entered once counts one run, one entry.
TEST(Coverage, CountsRunsNotOccurrences) {
  racelab::Coverage cov;
  cov.add(loop("racelab-schedule/1: *>A A@covtest.loop#3>B B@end#1>A"));
  auto ws = cov.windows();
  auto w = find(ws, "A", "covtest.loop", "covtest.loop_end");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->runs, 1u);
  EXPECT_EQ(w->entered, 1u);
  auto back = find(ws, "A", "covtest.loop_end", "covtest.loop");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->runs, 1u);
  EXPECT_EQ(back->entered, 0u);

  cov.add(loop("racelab-schedule/1: *>A A@end#1>B"));
  w = find(cov.windows(), "A", "covtest.loop", "covtest.loop_end");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->runs, 2u);
  EXPECT_EQ(w->entered, 1u);
  EXPECT_EQ(cov.runs(), 2u);
  EXPECT_EQ(cov.distinct_schedules(), 2u);
}

// Distinct schedules: the same schedule twice counts once; the exact count equals the number of
// distinct racelab-schedule texts.
TEST(Coverage, DistinctSchedulesMatchScheduleTexts) {
  racelab::Coverage cov;
  std::set<std::string> texts;
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    auto trace = three_tasks(seed);
    texts.insert(racelab::Schedule::from_trace(trace).text());
    cov.add(trace);
  }
  cov.add(three_tasks(0));
  EXPECT_TRUE(cov.distinct_exact());
  EXPECT_EQ(cov.distinct_schedules(), texts.size());
  EXPECT_EQ(cov.runs(), 301u);
}

// Property: any split of the runs over any number of Coverages, merged in any order (directly
// or through JSON), equals one Coverage fed every run; past 4096 schedules too, where the count
// becomes an estimate within 3% of the truth.
TEST(Coverage, MergeEqualsOneCoverageOfAllRuns) {
  for (std::size_t total : {200u, 6000u}) {
    std::vector<racelab::Trace> traces;
    std::set<std::string> texts;
    racelab::Coverage all;
    for (std::uint64_t seed = 0; seed < total; ++seed) {
      traces.push_back(three_tasks(seed * 7919));
      texts.insert(racelab::Schedule::from_trace(traces.back()).text());
      all.add(traces.back());
    }
    const bool big = texts.size() > racelab::Coverage::kExactSchedulesMax;
    EXPECT_EQ(all.distinct_exact(), !big);
    if (big) {
      EXPECT_NEAR(static_cast<double>(all.distinct_schedules()), static_cast<double>(texts.size()),
                  0.03 * static_cast<double>(texts.size()));
    } else {
      EXPECT_EQ(all.distinct_schedules(), texts.size());
    }
    for (std::uint64_t split_seed = 0; split_seed < 6; ++split_seed) {
      std::mt19937_64 random(split_seed);
      std::vector<racelab::Coverage> parts(1 + random() % 8);
      for (const auto& t : traces) parts[random() % parts.size()].add(t);
      std::shuffle(parts.begin(), parts.end(), random);
      racelab::Coverage merged;
      for (const auto& p : parts) {
        if (split_seed % 2 == 0)
          merged.merge(p);
        else
          merged.merge(racelab::Coverage::from_json(p.json()));
      }
      EXPECT_EQ(merged.runs(), all.runs());
      EXPECT_EQ(merged.distinct_schedules(), all.distinct_schedules());
      EXPECT_EQ(merged.windows(), all.windows());
      EXPECT_TRUE(merged == all) << "total " << total << ", split " << split_seed;
    }
  }
}

// json() → from_json() gives back an equal Coverage, exact and estimated alike.
TEST(Coverage, JsonRoundTrip) {
  racelab::Coverage small, big;
  small.add(two_tasks(kCutIn));
  small.add(two_tasks(kSerial));
  for (std::uint64_t seed = 0; seed < 5000; ++seed) big.add(three_tasks(seed));
  ASSERT_FALSE(big.distinct_exact());
  for (const auto* cov : {&small, &big}) {
    auto back = racelab::Coverage::from_json(cov->json());
    EXPECT_TRUE(back == *cov);
    EXPECT_EQ(back.json(), cov->json());
    EXPECT_EQ(back.text(), cov->text());
    EXPECT_EQ(back.windows(), cov->windows());
    EXPECT_EQ(back.points_reached(), cov->points_reached());
  }
  EXPECT_FALSE(small == racelab::Coverage());
}

// Malformed reports are refused with a message naming the problem.
TEST(Coverage, MalformedJsonIsRefused) {
  racelab::Coverage cov;
  cov.add(two_tasks(kCutIn));
  const std::string good = cov.json();
  ASSERT_NO_THROW(racelab::Coverage::from_json(good));
  auto edited = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? text : text.replace(at, from.size(), to);
  };
  const std::string hashes_key = "\"schedule_hashes\": \"";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "unexpected end"},
      {"[]", "is not an object"},
      {good + "x", "text after"},
      {edited("racelab-coverage/1", "racelab-coverage/9"), "format is"},
      {edited("\"runs\": 1,", "\"runs\": -1,"), "unexpected '-'"},
      {edited("\"runs\": 1,", "\"runs\": 1.5,"), "not a whole number"},
      {edited("\"runs\": 1,", ""), "has no 'runs'"},
      {edited("\"runs\": 1,", "\"runs\": 1, \"runs\": 1,"), "twice"},
      {edited("\"runs\": 1,", "\"runs\": 1, \"extra\": 1,"), "'extra', which this version does not know"},
      {edited(hashes_key, hashes_key + "0"), "whole number of 16-digit"},
      {edited(hashes_key, hashes_key + "zzzzzzzzzzzzzzzz"), "hex digit"},
      {edited("\"distinct_schedules\": 1", "\"distinct_schedules\": 2"), "distinct_schedules does not match"},
      {edited("\"from\": \"covtest.a1\"", "\"from\": \"covtest.nowhere\""), "not in points_reached"},
      {edited("\"entered\": 1", "\"entered\": 7"), "more runs than there were"},
      {edited("\"by\": {\"B\": 1}", "\"by\": {\"B\": 9}"), "not a count of runs entered"},
      {edited("\"points_reached\": [", "\"points_reached\": [[[[[[[[[[1]]]]]]]]]], "), "nesting deeper"},
      {edited("\"covtest.b1\"]", "\"covtest.b1\", \"covtest.b1\"]"), "twice"},
  };
  for (const auto& [text, message] : cases) {
    try {
      static_cast<void>(racelab::Coverage::from_json(text));
      ADD_FAILURE() << "accepted: " << text;
    } catch (const racelab::CoverageFormatError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos)
          << e.what() << "\nwanted: " << message;
    }
  }
}

// A registered point of a reached family that no run reached is listed; one of another family is not.
TEST(Coverage, NeverReachedPointsOfReachedFamilies) {
  racelab::Coverage cov;
  cov.add(two_tasks(kSerial));
  auto never = cov.points_never_reached();
  EXPECT_NE(std::find(never.begin(), never.end(), "covtest.never"), never.end());
  EXPECT_EQ(std::find(never.begin(), never.end(), "covother.never"), never.end());
  EXPECT_EQ(std::find(never.begin(), never.end(), "covtest.a1"), never.end());
  auto reached = cov.points_reached();
  EXPECT_EQ(reached, (std::vector<std::string>{"covtest.a1", "covtest.a2", "covtest.b1"}));
  EXPECT_NE(cov.text().find("never: "), std::string::npos) << cov.text();
  EXPECT_NE(cov.text().find("covtest.never"), std::string::npos) << cov.text();
}

// A watched window entered in fewer runs than the threshold warns (and one never reached does);
// above the threshold it is quiet. Point, "->" and "→" forms.
TEST(Coverage, WarnsBelowThresholdOnly) {
  racelab::Coverage cov;
  for (int i = 0; i < 3; ++i) cov.add(two_tasks(kSerial));
  cov.add(two_tasks(kCutIn));  // entered in 1 of 4 runs
  auto below = cov.warnings({"covtest.a1->covtest.a2", "covtest.a1", "covtest.a1→covtest.a2"}, 0.5);
  ASSERT_EQ(below.size(), 3u);
  EXPECT_NE(below[0].find("entered by another task in 1 of the 4 runs"), std::string::npos) << below[0];
  EXPECT_TRUE(cov.warnings({"covtest.a1->covtest.a2", "covtest.a1", "covtest.a1→covtest.a2"}, 0.25).empty());
  auto never = cov.warnings({"covtest.never", "covtest.a2->covtest.a1"}, 0.1);
  ASSERT_EQ(never.size(), 2u);
  EXPECT_NE(never[0].find("never reached"), std::string::npos) << never[0];
  EXPECT_NE(never[1].find("never reached"), std::string::npos) << never[1];
}

// The summary names the counts and the windows, least entered first.
TEST(Coverage, TextSummary) {
  racelab::Coverage cov;
  cov.add(two_tasks(kSerial));
  cov.add(two_tasks(kCutIn));
  std::string text = cov.text();
  EXPECT_EQ(text.rfind("coverage: 2 distinct schedules in 2 runs; 3 of 8 points reached", 0), 0u) << text;
  EXPECT_NE(text.find("covtest.a1 → covtest.a2 of A entered by B in 50% of 2 runs"), std::string::npos)
      << text;
}
