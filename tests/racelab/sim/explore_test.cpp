// explore(): minimal schedules and timelines, the serial-order oracle, verification of
// determinism, PCT on a depth-2 bug, environment overrides, and the GoogleTest glue's story.
// Every explore() here passes `.use_env = false`, except in the Env suite, which first clears every
// RACELAB_* variable explore() reads and sets only the ones it tests, so that a RACELAB_SEED (or
// SCHEDULE, RUNS, STRATEGY, VERIFY) in the caller's environment cannot change any result.
#include <racelab/testing/gtest.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "bank_model.hpp"

using sim_test::Store;

namespace {

void unsafe_bank(racelab::Simulation& sim) {
  Store s;
  sim_test::spawn_transfers(sim, s, false);
  static_cast<void>(sim.run());
  RACELAB_ASSERT(s.balance[1] >= 0);
}

// Sets (or, for nullptr, unsets) an environment variable for one scope; restores what was there.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const char* value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str()); old != nullptr) previous_ = old;
    if (value != nullptr)
      ::setenv(name_.c_str(), value, 1);
    else
      ::unsetenv(name_.c_str());
  }
  ~ScopedEnv() {
    if (previous_)
      ::setenv(name_.c_str(), previous_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> previous_;
};

// Every variable explore() reads, unset for the life of an Env test (and restored after it).
class Env : public testing::Test {
  ScopedEnv seed_{"RACELAB_SEED", nullptr}, schedule_{"RACELAB_SCHEDULE", nullptr},
      runs_{"RACELAB_RUNS", nullptr}, strategy_{"RACELAB_STRATEGY", nullptr},
      verify_{"RACELAB_VERIFY", nullptr}, jobs_{"RACELAB_JOBS", nullptr};
};

// A body with no race: every schedule passes.
void quiet(racelab::Simulation& sim) {
  sim.spawn("A", [] { RACELAB_POINT("quiet.step"); });
  sim.spawn("B", [] { RACELAB_POINT("quiet.step"); });
  static_cast<void>(sim.run());
}

// The first seed from 0 on for which one run of unsafe_bank fails (or passes), ignoring the env.
std::uint64_t first_seed_that(bool fails) {
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    auto r = racelab::explore({.runs = 1, .seed = seed, .minimize = false, .use_env = false}, unsafe_bank);
    if (r.failed() == fails) return seed;
  }
  ADD_FAILURE() << "no seed below 100 " << (fails ? "fails" : "passes");
  return 0;
}

}  // namespace

// The failure comes back with a seed, a shrunk schedule and the Thread A / Thread B picture.
TEST(Explore, FindsTheOverdraftAndShrinksIt) {
  auto r = racelab::explore({.runs = 100, .use_env = false}, unsafe_bank);
  ASSERT_TRUE(r.failed());
  auto minimal = racelab::Schedule::parse(r.schedule()).entries.size();
  auto original = racelab::Schedule::from_trace(r.original().trace()).entries.size();
  EXPECT_LE(minimal, original);
  EXPECT_LE(minimal, 3u) << r;  // start one, switch once inside its window, switch back at its end
  std::ostringstream story;
  story << r;
  EXPECT_NE(story.str().find("seed " + std::to_string(r.seed()) + " fails"), std::string::npos)
      << story.str();
  EXPECT_NE(story.str().find("RACELAB_ASSERT(s.balance[1] >= 0)"), std::string::npos);
  EXPECT_NE(story.str().find("| A "), std::string::npos) << story.str();
  EXPECT_NE(story.str().find("RACELAB_SEED="), std::string::npos);
  EXPECT_EQ(r.outcome().trace().chrome_json().rfind("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", 0), 0u);
  // The minimal schedule replays the failure exactly.
  auto again = racelab::explore({.schedule = r.schedule(), .use_env = false}, unsafe_bank);
  ASSERT_TRUE(again.failed());
  EXPECT_EQ(again.outcome().trace().text(), r.outcome().trace().text());
}

// One run per seed over seeds 0..19: some fail and some pass (the race is neither always nor never).
TEST(Explore, ReportsSeedNOfTwentyLikeResonate) {
  int failing = 0;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    auto r = racelab::explore({.runs = 1, .seed = seed, .minimize = false, .use_env = false}, unsafe_bank);
    failing += r.failed();
  }
  EXPECT_GT(failing, 0);
  EXPECT_LT(failing, 20);
}

// The serial-order oracle accepts both valid serial outcomes (Resonate's example wrongly flags
// one of them) and rejects the overdraft, which no serial order produces.
TEST(Serializable, AcceptsEverySerialOutcomeAndRejectsTheRace) {
  auto body = [](bool locked) {
    return [locked](racelab::Simulation& sim) {
      auto s = std::make_shared<Store>();
      sim_test::spawn_transfers(sim, *s, locked);
      sim.check_serializable([s] { return s->state(); });
      static_cast<void>(sim.run());
    };
  };
  auto green = racelab::explore({.runs = 300, .use_env = false}, body(true));
  EXPECT_FALSE(green.failed()) << green;
  auto red = racelab::explore({.runs = 300, .use_env = false}, body(false));
  ASSERT_TRUE(red.failed());
  const auto& msg = red.outcome().message();
  EXPECT_NE(msg.find("not serializable"), std::string::npos) << msg;
  EXPECT_NE(msg.find("account 1 = 0, account 2 = 100   (A, B)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("account 1 = 30, account 2 = 70   (B, A)"), std::string::npos) << msg;
}

// A body that depends on state outside the simulation is caught by verification.
TEST(Verify, ReportsNonDeterminism) {
  static int calls = 0;
  calls = 0;
  auto r = racelab::explore(
      {.runs = 50, .verify = true, .use_env = false, .jobs = 1}, [](racelab::Simulation& sim) {
        const bool odd = (++calls % 2) == 1;  // a hidden input that changes from run to run
        Store s;
        sim_test::spawn_transfers(sim, s, odd);
        sim.spawn("C", [odd] {
          if (odd) RACELAB_POINT("verify.extra");
        });
        static_cast<void>(sim.run());
        RACELAB_ASSERT(s.balance[1] >= 0);
      });
  ASSERT_TRUE(r.failed());
  EXPECT_TRUE(r.nondeterministic());
  ASSERT_FALSE(r.notes().empty());
  EXPECT_NE(r.notes()[0].find("non-deterministic"), std::string::npos) << r.notes()[0];
}

// verify re-runs a deterministic failure and says it replayed identically, not non-deterministic.
TEST(Verify, ConfirmsADeterministicFailure) {
  auto r = racelab::explore({.runs = 100, .verify = true, .use_env = false}, unsafe_bank);
  ASSERT_TRUE(r.failed());
  EXPECT_FALSE(r.nondeterministic());
  EXPECT_EQ(r.notes(), std::vector<std::string>{"verified: the failure replays identically"});
}

// A depth-2 ordering bug: B's read must fall after A's first write and before A's second.
// PCT with depth 2 finds it; a schedule of depth 1 (no priority change) cannot.
TEST(Pct, FindsADepthTwoOrderingBug) {
  auto body = [](racelab::Simulation& sim) {
    auto state = std::make_shared<int>(0);
    auto seen = std::make_shared<int>(-1);
    sim.spawn("A", [=] {
      for (int i = 0; i < 8; ++i) RACELAB_POINT("pct.a_work");
      *state = 1;
      RACELAB_POINT("pct.a_between");
      *state = 2;
    });
    sim.spawn("B", [=] {
      for (int i = 0; i < 8; ++i) RACELAB_POINT("pct.b_work");
      *seen = *state;
    });
    static_cast<void>(sim.run());
    RACELAB_ASSERT(*seen != 1);
  };
  auto r = racelab::explore({.runs = 500, .strategy = "pct:2:20", .use_env = false}, body);
  ASSERT_TRUE(r.failed());
  auto depth1 = racelab::explore({.runs = 200, .strategy = "pct:1", .use_env = false}, body);
  EXPECT_FALSE(depth1.failed()) << depth1;
}

// RACELAB_SEED=N replaces `.runs = 1000, .seed = 0` by one run of seed N: a failing N fails with
// that seed, and a passing N passes, though the options alone would find the failure.
TEST_F(Env, SeedRunsOnlyThatSeed) {
  const auto failing = first_seed_that(true), passing = first_seed_that(false);
  ASSERT_TRUE(racelab::explore({.runs = 1000, .seed = 0, .use_env = false}, unsafe_bank).failed());
  {
    ScopedEnv seed("RACELAB_SEED", std::to_string(failing).c_str());
    auto r = racelab::explore({.runs = 1000, .seed = 0}, unsafe_bank);
    EXPECT_EQ(r.runs(), 1);
    ASSERT_TRUE(r.failed());
    EXPECT_EQ(r.seed(), failing);
  }
  {
    ScopedEnv seed("RACELAB_SEED", std::to_string(passing).c_str());
    auto r = racelab::explore({.runs = 1000, .seed = 0}, unsafe_bank);
    EXPECT_EQ(r.runs(), 1);
    EXPECT_FALSE(r.failed()) << r;
  }
}

// RACELAB_RUNS and RACELAB_STRATEGY override the options: 3 PCT runs of a race-free body, not 1000
// random ones.
TEST_F(Env, RunsAndStrategyOverrideTheOptions) {
  ScopedEnv runs("RACELAB_RUNS", "3");
  ScopedEnv strategy("RACELAB_STRATEGY", "pct:2:20");
  auto r = racelab::explore({.runs = 1000, .strategy = "random"}, quiet);
  EXPECT_FALSE(r.failed()) << r;
  EXPECT_EQ(r.runs(), 3);
  EXPECT_EQ(r.strategy(), "pct:2:20");
}

// with_environment() gives the options explore() runs with, so a tool can record the search it ran:
// the variables applied once (use_env then false), nothing applied when use_env is false.
TEST_F(Env, WithEnvironmentGivesTheOptionsRun) {
  ScopedEnv runs("RACELAB_RUNS", "7"), strategy("RACELAB_STRATEGY", "pct:2"), jobs("RACELAB_JOBS", "3");
  const auto o = racelab::with_environment({.runs = 1000, .strategy = "random", .seed = 9});
  EXPECT_EQ(o.runs, 7);
  EXPECT_EQ(o.strategy, "pct:2");
  EXPECT_EQ(o.jobs, 3);
  EXPECT_EQ(o.seed, 9u);
  EXPECT_FALSE(o.use_env);
  const auto kept = racelab::with_environment({.runs = 1000, .use_env = false});
  EXPECT_EQ(kept.runs, 1000);
  ScopedEnv seed("RACELAB_SEED", "12");
  const auto one = racelab::with_environment({.runs = 1000});
  EXPECT_EQ(one.seed, 12u);
  EXPECT_EQ(one.runs, 1);
  ScopedEnv bad("RACELAB_RUNS", "many");
  EXPECT_THROW(static_cast<void>(racelab::with_environment({})), racelab::ExploreOptionsError);
}

// RACELAB_SCHEDULE replays exactly one schedule: a failing one found without the environment.
TEST_F(Env, ScheduleReplaysThatSchedule) {
  auto found = racelab::explore({.runs = 100, .use_env = false}, unsafe_bank);
  ASSERT_TRUE(found.failed());
  ScopedEnv schedule("RACELAB_SCHEDULE", found.schedule().c_str());
  auto r = racelab::explore({.runs = 1000}, unsafe_bank);
  EXPECT_EQ(r.runs(), 1);
  EXPECT_EQ(r.strategy(), "replay");
  ASSERT_TRUE(r.failed());
  EXPECT_EQ(r.outcome().trace().text(), found.outcome().trace().text());
}

// With `.use_env = false` a RACELAB_SEED of a passing seed (and RACELAB_RUNS=1) is ignored: the
// 100 runs from seed 0 still find the overdraft, which that seed alone would not.
TEST_F(Env, UseEnvFalseIgnoresTheEnvironment) {
  const auto passing = first_seed_that(false);
  ScopedEnv seed("RACELAB_SEED", std::to_string(passing).c_str());
  ScopedEnv runs("RACELAB_RUNS", "1");
  EXPECT_FALSE(racelab::explore({.runs = 100}, unsafe_bank).failed());  // honoured: one passing run
  auto r = racelab::explore({.runs = 100, .use_env = false}, unsafe_bank);
  ASSERT_TRUE(r.failed()) << r;
  EXPECT_NE(r.seed(), passing);
}

// A malformed RACELAB_SEED or RACELAB_STRATEGY is refused with ExploreOptionsError quoting the value.
TEST_F(Env, BadValuesAreNamed) {
  {
    ScopedEnv seed("RACELAB_SEED", "seven");
    EXPECT_THROW(racelab::explore({}, unsafe_bank), racelab::ExploreOptionsError);
  }
  {
    ScopedEnv strategy("RACELAB_STRATEGY", "pct:x");
    try {
      racelab::explore({}, unsafe_bank);
      FAIL();
    } catch (const racelab::ExploreOptionsError& e) {
      EXPECT_NE(std::string(e.what()).find("'pct:x'"), std::string::npos) << e.what();
    }
  }
}

// The GoogleTest assertion's failure message is the story: seed, timeline and the replay command;
// RACELAB_EXPECT_FAILURE passes on the same red body.
TEST(GTestGlue, FailureMessageCarriesSeedTimelineAndReplayCommand) {
  EXPECT_NONFATAL_FAILURE(RACELAB_EXPECT_NO_FAILURE({.runs = 100, .use_env = false}, unsafe_bank),
                          "--gtest_filter='GTestGlue.FailureMessageCarriesSeedTimelineAndReplayCommand'");
  EXPECT_NONFATAL_FAILURE(RACELAB_EXPECT_NO_FAILURE({.runs = 100, .use_env = false}, unsafe_bank),
                          "RACELAB_SEED=");
  EXPECT_NONFATAL_FAILURE(RACELAB_EXPECT_NO_FAILURE({.runs = 100, .use_env = false}, unsafe_bank),
                          "bank.check");
  RACELAB_EXPECT_FAILURE({.runs = 100, .use_env = false}, unsafe_bank);
}

// --- jobs and shards -----------------------------------------------------------------------------

TEST_F(Env, JobsComeFromTheEnvironment) {
  ScopedEnv jobs("RACELAB_JOBS", "3");
  EXPECT_EQ(racelab::explore({.runs = 10}, quiet).jobs(), 3);
  ScopedEnv bad("RACELAB_JOBS", "many");
  EXPECT_THROW(racelab::explore({.runs = 10}, quiet), racelab::ExploreOptionsError);
}

TEST(Jobs, BadJobsAndShardsAreRefused) {
  EXPECT_THROW(racelab::explore({.use_env = false, .jobs = -1}, quiet), racelab::ExploreOptionsError);
  for (racelab::ExploreShard bad : {racelab::ExploreShard{2, 2}, {-1, 2}, {0, 0}})
    EXPECT_THROW(racelab::explore({.use_env = false, .shard = bad}, quiet), racelab::ExploreOptionsError)
        << bad.index << "/" << bad.count;
}

// A body that throws before it runs the simulation is a broken test: explore() rethrows it on the
// calling thread, whichever worker ran it, and every worker stops.
TEST(Jobs, ABrokenBodyThrowsOnTheCallingThread) {
  auto broken = [](racelab::Simulation&) { throw std::runtime_error("the fixture could not start"); };
  for (int jobs : {1, 2, 4}) {
    try {
      static_cast<void>(racelab::explore({.runs = 1000, .use_env = false, .jobs = jobs}, broken));
      ADD_FAILURE() << "no exception with " << jobs << " jobs";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "the fixture could not start");
    }
  }
}

// The same failing run, the same count and the same minimal schedule for every number of workers;
// and the shards of a random search split its runs exactly.
TEST(Jobs, OneAnswerForTheBank) {
  const auto one = racelab::explore({.runs = 1000, .seed = 5, .use_env = false, .jobs = 1}, unsafe_bank);
  ASSERT_TRUE(one.failed());
  for (int jobs : {2, 3, 8}) {
    const auto r = racelab::explore({.runs = 1000, .seed = 5, .use_env = false, .jobs = jobs}, unsafe_bank);
    EXPECT_EQ(r.runs(), one.runs()) << jobs;
    EXPECT_EQ(r.seed(), one.seed()) << jobs;
    EXPECT_EQ(r.schedule(), one.schedule()) << jobs;
    EXPECT_EQ(r.jobs(), jobs);
  }
  std::uint64_t runs = 0;
  for (int k = 0; k < 4; ++k)
    runs += static_cast<std::uint64_t>(
        racelab::explore({.runs = 1000, .use_env = false, .jobs = 2, .shard = {k, 4}}, quiet).runs());
  EXPECT_EQ(runs, 1000u);
  EXPECT_EQ(racelab::explore({.runs = 1001, .use_env = false, .shard = {0, 4}}, quiet).runs(), 251);
}

// One worker runs no more of a DFS than its limit can count: a body is a program process under
// racelab run and a round of a database under racelab sql, so --runs 1 is one run, not a
// subtree's worth; and the keys it never ran are not filed (the search is not complete).
TEST(Jobs, OneWorkerRunsNoMoreOfADfsThanItsLimit) {
  for (const char* strategy : {"dfs", "dfs:1"}) {
    for (int limit : {1, 2, 5}) {
      int bodies = 0;
      const auto r = racelab::explore({.runs = limit, .strategy = strategy, .use_env = false, .jobs = 1},
                                      [&](racelab::Simulation& sim) {
                                        ++bodies;
                                        for (const char* name : {"A", "B", "C"})
                                          sim.spawn(name, [] {
                                            for (int i = 0; i < 3; ++i) RACELAB_POINT("limit.step");
                                          });
                                        static_cast<void>(sim.run());
                                      });
      EXPECT_EQ(r.runs(), limit) << strategy;
      EXPECT_EQ(bodies, limit) << strategy << " --runs " << limit;
      EXPECT_FALSE(r.complete()) << strategy;
    }
  }
}

// A DFS whose lowest keys run slowly, so that the worker below lags and the ones above run ahead
// past the limit (and past the first failure): for every limit and number of workers, the counted
// runs, completeness, the first failure and the coverage are one worker's. The test checks that
// runs past the limit were made (and dropped), or it would prove nothing about them.
TEST(Jobs, ADfsWhoseUpperWorkersRunAheadGivesOneWorkersAnswer) {
  std::atomic<int> bodies = 0;
  auto body = [&](bool failing) {
    return [&bodies, failing](racelab::Simulation& sim) {
      ++bodies;
      const std::vector<std::uint32_t>* key = racelab::detail::explore_run_key();
      if (key != nullptr && (key->empty() || (*key)[0] == 0))
        std::this_thread::sleep_for(std::chrono::microseconds(40));
      auto order = std::make_shared<std::string>();
      for (const char* name : {"A", "B", "C"})
        sim.spawn(name, [order, name] {
          RACELAB_POINT("ahead.first");
          RACELAB_POINT("ahead.second");
          *order += name;
        });
      static_cast<void>(sim.run());
      if (failing) RACELAB_ASSERT(*order != "CBA" && *order != "BCA");
    };
  };
  const auto whole =
      racelab::explore({.runs = 100000, .strategy = "dfs", .use_env = false, .jobs = 1}, body(false));
  ASSERT_TRUE(whole.complete());
  ASSERT_GT(whole.runs(), 300);
  int past_the_limit = 0;
  for (bool failing : {false, true}) {
    for (int limit : {3, 40, 250, whole.runs() - 1, whole.runs()}) {
      racelab::ExploreOptions o{
          .runs = limit, .strategy = "dfs", .minimize = false, .use_env = false, .jobs = 1};
      const auto one = racelab::explore(o, body(failing));
      for (int jobs : {2, 4}) {
        o.jobs = jobs;
        bodies = 0;
        const auto r = racelab::explore(o, body(failing));
        const std::string what = "limit " + std::to_string(limit) + ", " + std::to_string(jobs) + " jobs" +
                                 (failing ? ", failing" : "");
        EXPECT_EQ(r.runs(), one.runs()) << what;
        EXPECT_EQ(r.complete(), one.complete()) << what;
        EXPECT_EQ(r.failed(), one.failed()) << what;
        EXPECT_EQ(r.run_key(), one.run_key()) << what;
        if (one.failed() && r.failed()) {
          EXPECT_EQ(r.original().trace().text(), one.original().trace().text()) << what;
        }
        EXPECT_TRUE(r.coverage() == one.coverage())
            << what << ": " << r.coverage().text() << " vs " << one.coverage().text();
        if (bodies > r.runs() + (r.failed() ? 1 : 0)) ++past_the_limit;
      }
    }
  }
  EXPECT_GT(past_the_limit, 0) << "no search ran past its answer: the test did not reach what it checks";
}

// A driver that keeps one resource per worker (racelab run: a program process each) asks
// detail::explore_worker(): in range, and never two bodies at once on one worker.
TEST(Jobs, EachWorkerRunsOneBodyAtATime) {
  constexpr int kJobs = 3;
  std::array<std::atomic<int>, kJobs> busy{};
  std::array<std::atomic<int>, kJobs> runs{};
  std::atomic<int> out_of_range{0}, overlaps{0};
  auto body = [&](racelab::Simulation& sim) {
    const int w = racelab::detail::explore_worker();
    if (w < 0 || w >= kJobs) {
      ++out_of_range;
      return;
    }
    if (busy[static_cast<std::size_t>(w)].fetch_add(1) != 0) ++overlaps;
    ++runs[static_cast<std::size_t>(w)];
    std::this_thread::sleep_for(std::chrono::microseconds(500));
    sim.spawn("A", [] { RACELAB_POINT("jobs.step"); });
    static_cast<void>(sim.run());
    busy[static_cast<std::size_t>(w)].fetch_sub(1);
  };
  const auto r = racelab::explore({.runs = 120, .use_env = false, .jobs = kJobs}, body);
  EXPECT_EQ(r.runs(), 120);
  EXPECT_EQ(out_of_range.load(), 0);
  EXPECT_EQ(overlaps.load(), 0);
  int used = 0;
  for (const auto& n : runs) used += n.load() > 0 ? 1 : 0;
  EXPECT_GE(used, 2) << "the runs all went to one worker";
  EXPECT_EQ(racelab::detail::explore_worker(), 0);  // the calling thread, after the search
}

// explore() keeps its helper threads between searches; a forked child has none of them, and its
// searches start their own instead of waiting for threads that are not there.
TEST(Jobs, ASearchInAForkedChildRuns) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer does not let a forked child of a threaded process start threads";
#else
  auto body = [](racelab::Simulation& sim) {
    sim.spawn("A", [] { RACELAB_POINT("jobs.step"); });
    sim.spawn("B", [] { RACELAB_POINT("jobs.step"); });
    static_cast<void>(sim.run());
  };
  ASSERT_EQ(racelab::explore({.runs = 200, .use_env = false, .jobs = 3}, body).runs(), 200);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(20);  // a search waiting for the parent's threads would hang: die instead
    const auto r = racelab::explore({.runs = 200, .use_env = false, .jobs = 3}, body);
    _exit(r.runs() == 200 && !r.failed() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
#endif
}

// Kept helper threads are reused: search after search takes the same ones, so the process does
// not gather threads.
TEST(Jobs, SearchesReuseTheirHelperThreads) {
  auto threads = [] {
    int n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) ++n;
    return n;
  };
  auto body = [](racelab::Simulation& sim) {
    sim.spawn("A", [] { RACELAB_POINT("jobs.step"); });
    static_cast<void>(sim.run());
  };
  static_cast<void>(racelab::explore({.runs = 10, .use_env = false, .jobs = 3}, body));
  const int before = threads();
  for (int i = 0; i < 300; ++i)
    static_cast<void>(racelab::explore({.runs = 4, .use_env = false, .jobs = 3}, body));
  EXPECT_EQ(threads(), before);
}

// detail::explore_run_key() names the search run a body is in: {i} for random run i on any
// worker, every key once; nullptr outside the search (PCT's probe, minimisation, the caller).
TEST(Jobs, RunKeyNamesTheSearchRun) {
  std::mutex mu;
  std::vector<std::vector<std::uint32_t>> keys;
  int keyless = 0;
  auto body = [&](racelab::Simulation& sim) {
    const auto* key = racelab::detail::explore_run_key();
    {
      std::lock_guard lock(mu);
      if (key != nullptr)
        keys.push_back(*key);
      else
        ++keyless;
    }
    sim.spawn("A", [] { RACELAB_POINT("jobs.key"); });
    static_cast<void>(sim.run());
  };
  const auto r = racelab::explore({.runs = 50, .strategy = "pct:1", .use_env = false, .jobs = 3}, body);
  EXPECT_EQ(r.runs(), 50);
  std::sort(keys.begin(), keys.end());
  ASSERT_EQ(keys.size(), 50u);
  for (std::uint32_t i = 0; i < 50; ++i) EXPECT_EQ(keys[i], std::vector<std::uint32_t>{i});
  EXPECT_EQ(keyless, 1);  // PCT's probe, on the calling thread
  EXPECT_EQ(racelab::detail::explore_run_key(), nullptr);
}

// explore_jobs(): the number given, one per usable CPU for 0, a clear error below 0.
TEST(Jobs, ExploreJobsResolvesZeroAndRejectsNegatives) {
  EXPECT_EQ(racelab::explore_jobs(3, false), 3);
  EXPECT_GE(racelab::explore_jobs(0, false), 1);
  EXPECT_THROW(static_cast<void>(racelab::explore_jobs(-1, false)), racelab::ExploreOptionsError);
}

// A DFS is complete only when every schedule of the tree was counted: stopping one short of the
// tree is not complete, for any number of workers.
TEST(Jobs, DfsOneShortOfTheTreeIsNotComplete) {
  auto body = [](racelab::Simulation& sim) {
    for (const char* name : {"A", "B"})
      sim.spawn(name, [] {
        RACELAB_POINT("jobs.first");
        RACELAB_POINT("jobs.second");
      });
    static_cast<void>(sim.run());
  };
  const auto whole = racelab::explore({.runs = 100000, .strategy = "dfs", .use_env = false, .jobs = 1}, body);
  ASSERT_TRUE(whole.complete());
  ASSERT_GT(whole.runs(), 2);
  for (int jobs : {1, 2, 4}) {
    const auto exact =
        racelab::explore({.runs = whole.runs(), .strategy = "dfs", .use_env = false, .jobs = jobs}, body);
    EXPECT_TRUE(exact.complete()) << jobs;
    EXPECT_EQ(exact.runs(), whole.runs()) << jobs;
    const auto short_one =
        racelab::explore({.runs = whole.runs() - 1, .strategy = "dfs", .use_env = false, .jobs = jobs}, body);
    EXPECT_FALSE(short_one.complete()) << jobs;
    EXPECT_EQ(short_one.runs(), whole.runs() - 1) << jobs;
  }
}

// Runs that finish out of order (the lower seeds sleep longest) and a body that throws at a
// higher seed than a failure: every number of workers reports the failure at seed 4, never the
// exception; with the exception at a lower seed than the failure, every number rethrows it.
TEST(Jobs, FailuresAndBrokenRunsAreRankedBySeed) {
  auto body = [](std::uint64_t broken) {
    return [broken](racelab::Simulation& sim) {
      const auto seed = sim.options().seed;
      std::this_thread::sleep_for(std::chrono::milliseconds(seed < 8 ? 2 * (8 - seed) : 0));
      if (seed == broken) throw std::runtime_error("the fixture could not start");
      sim.spawn("A", [] { RACELAB_POINT("jobs.step"); });
      static_cast<void>(sim.run());
      RACELAB_ASSERT(seed != 4);
    };
  };
  for (int jobs : {1, 2, 4}) {
    const auto r =
        racelab::explore({.runs = 100, .minimize = false, .use_env = false, .jobs = jobs}, body(7));
    ASSERT_TRUE(r.failed()) << jobs;
    EXPECT_EQ(r.seed(), 4u) << jobs;
    EXPECT_EQ(r.runs(), 5) << jobs;
    EXPECT_THROW(racelab::explore({.runs = 100, .minimize = false, .use_env = false, .jobs = jobs}, body(2)),
                 std::runtime_error)
        << jobs;
  }
}
