// Replay keeps its promise: a run's schedule text replays it step for step under any seed, a
// schedule that does not fit is a divergence (never a failure, never minimised), DFS with crash
// injection is a proof over crash placements, and the self-check catches code that is not a
// function of its choices.
#include <racelab/racelab.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <stdexcept>

using namespace std::chrono_literals;

namespace {

racelab::Outcome run_sleepers(racelab::SimOptions options) {
  racelab::Simulation sim(std::move(options));
  for (const char* name : {"A", "B"}) {
    sim.spawn(name, [] {
      racelab::this_thread::sleep_for(1ms);
      RACELAB_POINT("replay.between_sleeps");
      racelab::this_thread::sleep_for(1ms);
    });
  }
  return sim.run();
}

}  // namespace

// A task that blocks when nobody else can run still counts that arrival: seeds 0-49 each replay
// from their schedule under another seed to the same trace (23 of them diverged before).
TEST(Replay, BlockWithNobodyElseRunnableStillReplays) {
  int replayed = 0;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    auto first = run_sleepers({.seed = seed});
    ASSERT_TRUE(first.ok()) << first;
    auto again = run_sleepers({.seed = seed + 1000, .schedule = first.schedule()});
    ASSERT_EQ(again.kind(), racelab::OutcomeKind::ok) << "seed " << seed << ": " << again;
    EXPECT_EQ(again.trace().text(), first.trace().text()) << "seed " << seed;
    ++replayed;
  }
  EXPECT_EQ(replayed, 50);
}

// A schedule naming a task the program does not have is a divergence: its own kind, not a
// failure of the program, and explore() neither verifies nor minimises it.
TEST(Replay, ScheduleFromAnotherProgramIsADivergenceNotAFailure) {
  const std::string foreign = "racelab-schedule/1: *>Z";
  auto body = [](racelab::Simulation& sim) {
    sim.spawn("A", [] { RACELAB_POINT("replay.a"); });
    static_cast<void>(sim.run());
  };
  auto report = racelab::explore({.schedule = foreign, .use_env = false}, body);
  ASSERT_TRUE(report.failed());
  EXPECT_EQ(report.outcome().kind(), racelab::OutcomeKind::diverged) << report;
  EXPECT_TRUE(report.outcome().diverged());
  EXPECT_NE(report.outcome().message().find("'Z'"), std::string::npos) << report.outcome().message();
}

// Same for explore()'s search: a failing run found by random search is replayed from its
// schedule before it is reported (the self-check runs without RACELAB_VERIFY).
TEST(Replay, EveryReportedFailureWasReplayedFromItsSchedule) {
  auto report = racelab::explore({.runs = 500, .use_env = false}, [](racelab::Simulation& sim) {
    auto balance = std::make_shared<int>(100);
    for (const char* name : {"A", "B"}) {
      sim.spawn(name, [balance] {
        int seen = *balance;
        racelab::this_thread::sleep_for(1ms);  // the window includes a wait
        RACELAB_POINT("replay.after_read");
        if (seen >= 60) *balance = seen - 60;
      });
    }
    static_cast<void>(sim.run());
    RACELAB_ASSERT(*balance == 40 || *balance == -20);  // a lost update leaves 40
    RACELAB_ASSERT(*balance != 40);
  });
  ASSERT_TRUE(report.failed()) << report;
  EXPECT_FALSE(report.nondeterministic()) << report;
  bool verified = false;
  for (const auto& note : report.notes()) verified = verified || note.starts_with("verified:");
  EXPECT_TRUE(verified) << report;
  // The minimal schedule replays strictly to a failure.
  auto again =
      racelab::explore({.schedule = report.schedule(), .use_env = false}, [](racelab::Simulation& sim) {
        auto balance = std::make_shared<int>(100);
        for (const char* name : {"A", "B"}) {
          sim.spawn(name, [balance] {
            int seen = *balance;
            racelab::this_thread::sleep_for(1ms);
            RACELAB_POINT("replay.after_read");
            if (seen >= 60) *balance = seen - 60;
          });
        }
        static_cast<void>(sim.run());
        RACELAB_ASSERT(*balance != 40);
      });
  EXPECT_TRUE(again.failed());
  EXPECT_EQ(again.outcome().kind(), racelab::OutcomeKind::failure) << again;
}

namespace {

// Money moved in two steps; a crash between them destroys it.
struct Books {
  int a = 100;
  int b = 0;
};

void move_money(Books& books, int amount) {
  books.a -= amount;
  RACELAB_POINT("replay.between_debit_and_credit");
  books.b += amount;
}

}  // namespace

// With crash injection on, DFS takes crashing at a crashable point as one more choice: it finds
// the crash between debit and credit by itself, and the same search run twice is identical
// (the crash placement no longer comes from the per-run seed).
TEST(Replay, DfsExploresCrashPlacementsAsChoices) {
  auto search = [] {
    return racelab::explore({.runs = 10'000,
                             .strategy = "dfs",
                             .crash_probability = 0.5,
                             .crash_points = "replay.between_debit_and_credit",
                             .minimize = false,
                             .use_env = false},
                            [](racelab::Simulation& sim) {
                              auto books = std::make_shared<Books>();
                              sim.spawn("A", [books] { move_money(*books, 30); });
                              static_cast<void>(sim.run());
                              RACELAB_ASSERT(books->a + books->b == 100);
                            });
  };
  auto first = search();
  ASSERT_TRUE(first.failed()) << first;
  EXPECT_NE(first.schedule().find("!crash"), std::string::npos) << first;
  auto second = search();
  EXPECT_EQ(second.runs(), first.runs());
  EXPECT_EQ(second.schedule(), first.schedule());
}

// The safe version under the same search: every schedule, every crash placement, no loss; the
// count is the proof's size (2 interleavings x crash or not at each of the 2 points, pruned by
// the crash ending a task).
TEST(Replay, DfsWithCrashesIsCompleteAndDeterministic) {
  auto search = [] {
    std::set<std::string> schedules;
    auto report =
        racelab::explore({.runs = 10'000,
                          .strategy = "dfs",
                          .crash_probability = 0.5,
                          .crash_points = "replay.commit",
                          .use_env = false,
                          .jobs = 1},  // `schedules` is shared
                         [&](racelab::Simulation& sim) {
                           auto books = std::make_shared<Books>();
                           for (const char* name : {"A", "B"}) {
                             sim.spawn(name, [books] {
                               RACELAB_POINT("replay.commit");  // crash before the write: nothing lost
                               books->a -= 10;
                               books->b += 10;
                             });
                           }
                           auto out = sim.run();
                           schedules.insert(out.schedule());
                           RACELAB_ASSERT(books->a + books->b == 100);
                         });
    return std::pair{report, schedules.size()};
  };
  auto [first, distinct] = search();
  ASSERT_FALSE(first.failed()) << first;
  EXPECT_TRUE(first.complete());
  EXPECT_EQ(static_cast<std::size_t>(first.runs()), distinct);  // each schedule once
  auto [second, distinct_again] = search();
  EXPECT_EQ(second.runs(), first.runs());
  EXPECT_GT(first.runs(), 6);  // more than the 6 interleavings without crashes
}

// A body whose behaviour changes from run to run (state outside the simulation) offers DFS other
// choices when it re-executes a prefix: reported as non-determinism, not as a proof.
TEST(Replay, DfsReportsAChangedEnabledSetAsDivergence) {
  auto runs = std::make_shared<int>(0);
  auto report = racelab::explore(
      {.runs = 1000, .strategy = "dfs", .use_env = false, .jobs = 1}, [runs](racelab::Simulation& sim) {
        const bool third = ++*runs > 1;  // the re-execution has a task the first run did not have
        sim.spawn("A", [] { RACELAB_POINT("replay.x"); });
        sim.spawn("B", [] { RACELAB_POINT("replay.x"); });
        if (third) sim.spawn("C", [] { RACELAB_POINT("replay.x"); });
        static_cast<void>(sim.run());
      });
  EXPECT_FALSE(report.complete()) << report;
  ASSERT_TRUE(report.failed()) << report;
  EXPECT_EQ(report.original().kind(), racelab::OutcomeKind::diverged) << report;
  EXPECT_TRUE(report.nondeterministic());
}

// RACELAB_VERIFY's extra: passing runs are replayed too, and a body that passes but is not a
// function of its choices is caught at the first differing step.
TEST(Replay, VerifyReplaysPassingRuns) {
  auto flip = std::make_shared<int>(0);
  auto body = [flip](racelab::Simulation& sim) {
    const bool extra = (++*flip % 2) == 0;  // every other run takes another path
    sim.spawn("A", [extra] {
      RACELAB_POINT("replay.one");
      if (extra) RACELAB_POINT("replay.two");
    });
    static_cast<void>(sim.run());
  };
  auto plain = racelab::explore({.runs = 20, .use_env = false, .jobs = 1}, body);
  EXPECT_FALSE(plain.failed()) << plain;  // every run passes
  auto verified = racelab::explore({.runs = 20, .verify = true, .use_env = false, .jobs = 1}, body);
  EXPECT_TRUE(verified.nondeterministic()) << verified;
  EXPECT_TRUE(verified.failed());
}

// Same seed, same code: 10,000 runs of a 3-task PCT scenario (locks, a sleep, points) give one
// distinct trace, on a core that is reused run after run.
TEST(Replay, SameSeedGivesOneTraceOverTenThousandRuns) {
  std::set<std::string> traces;
  for (int run = 0; run < 10'000; ++run) {
    auto m = std::make_shared<racelab::mutex>();
    auto balance = std::make_shared<int>(100);
    racelab::Simulation sim({.seed = 42, .strategy = "pct:3:30"});
    for (const char* name : {"A", "B", "C"}) {
      sim.spawn(name, [m, balance] {
        int seen = *balance;
        RACELAB_POINT("replay.pct_read");
        racelab::this_thread::sleep_for(1ms);
        std::lock_guard lock(*m);
        *balance = seen - 10;
      });
    }
    traces.insert(sim.run().trace().text());
  }
  EXPECT_EQ(traces.size(), 1u);
}
