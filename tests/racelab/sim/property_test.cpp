// The engine's replay guarantees, checked over thousands of generated task programs
// (scenario_gen.hpp): the same seed gives the same trace; a run's schedule text replays it step for
// step under another seed and strategy; explore()'s minimised schedule still fails the same way;
// every task sees only its own exception state across switches.
//
// Knobs: RACELAB_PROPERTY_SCENARIOS=N checks generator seeds 0..N-1 (explore's property N/5;
// default 2000 and 400, about 3 s for all five tests in a RelWithDebInfo build, a tenth under the
// sanitizers; N=30000 is the long run, about 45 s); RACELAB_PROPERTY_SEED=G checks only seed G and
// prints its program and every run. A violation prints the program, the seeds, the first step
// where two runs part, and the program shrunk to the fewest ops that still violate.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "racelab/sim/strategy.hpp"
#include "scenario_gen.hpp"

using sim_prop::Scenario;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kSanitizerDivisor = 10;  // a sanitized run is ~10x slower; the property is the same
#else
constexpr int kSanitizerDivisor = 1;
#endif
constexpr int kScenarios = 2000 / kSanitizerDivisor;
constexpr std::uint64_t kCoverageScenarios = 666;
constexpr int kStallSeconds = 60;  // one scenario's check takes milliseconds; even shrinking, seconds
constexpr std::uint64_t kMaxSteps = 20'000;  // generated programs need a few hundred
const char* const kStrategies[] = {"random", "pct:3", "dfs"};

// --- knobs and reporting ----------------------------------------------------------------------

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

bool single() { return env("RACELAB_PROPERTY_SEED") != nullptr; }

// Seeds 0..count-1: `default_count`, or RACELAB_PROPERTY_SCENARIOS / `divisor` (explore's property
// costs up to 200 runs a scenario, so it checks a fifth as many); only RACELAB_PROPERTY_SEED if set.
std::vector<std::uint64_t> generator_seeds(int default_count, int divisor) {
  if (const char* one = env("RACELAB_PROPERTY_SEED")) return {std::strtoull(one, nullptr, 10)};
  const char* n = env("RACELAB_PROPERTY_SCENARIOS");
  const auto count = n != nullptr ? std::strtoull(n, nullptr, 10) / static_cast<std::uint64_t>(divisor)
                                  : static_cast<std::uint64_t>(default_count);
  std::vector<std::uint64_t> seeds;
  for (std::uint64_t g = 0; g < count; ++g) seeds.push_back(g);
  return seeds;
}

// The engine seeds for one scenario: spread out, and unrelated to the generator's stream.
std::uint64_t engine_seed(std::uint64_t generator_seed, std::uint64_t i) {
  std::uint64_t z = generator_seed * 8 + i + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (z ^ (z >> 31)) % 1'000'000;
}

// Which program is running, for the two ways a broken engine ends the test without a report:
// std::terminate (a lost exception makes `throw;` terminate) and a hang (the watchdog).
std::mutex g_running_mutex;
std::string g_running;  // the scenario's text

void set_running(const Scenario& sc) {
  std::lock_guard lock(g_running_mutex);
  g_running = sim_prop::describe(sc);
}

[[noreturn]] void die_naming_the_scenario(const std::string& what) {
  std::lock_guard lock(g_running_mutex);
  std::cerr << "\n"
            << what << " while checking " << g_running
            << "(re-run a generated one alone with RACELAB_PROPERTY_SEED=<its number>)" << std::endl;
  std::abort();
}

void on_terminate() { die_naming_the_scenario("std::terminate()"); }

// A real thread that aborts the test, naming the scenario, when one check makes no progress for
// kStallSeconds: a run that hangs must end in a report, not in ctest's timeout. Outside the
// simulation; it only reads g_running.
class Watchdog {
 public:
  Watchdog() : thread_([this] { watch(); }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void progress() {
    std::lock_guard lock(mutex_);
    ++ticks_;
  }

 private:
  void watch() {
    std::unique_lock lock(mutex_);
    for (;;) {
      const auto seen = ticks_;
      if (cv_.wait_for(lock, std::chrono::seconds(kStallSeconds), [&] { return done_ || ticks_ != seen; })) {
        if (done_) return;
        continue;
      }
      die_naming_the_scenario("no progress for " + std::to_string(kStallSeconds) +
                              " s (a hang in the engine?)");
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t ticks_ = 0;
  bool done_ = false;
  std::thread thread_;
};

// "" when the property holds for the scenario; otherwise what broke, with seeds and traces.
using Check = std::function<std::string(const Scenario&)>;

// Checks every generated scenario; on violations reports how many, the first one in full, and
// the smallest violating program the shrinker finds from the smallest violating scenario.
void check_all(const char* property, int default_count, int divisor, const Check& check, int shrink_budget) {
  const auto previous = std::set_terminate(on_terminate);
  Watchdog watchdog;
  auto checked = [&](const Scenario& sc) {
    set_running(sc);
    watchdog.progress();
    return check(sc);
  };
  std::vector<std::uint64_t> bad;
  std::string first_message;
  const auto seeds = generator_seeds(default_count, divisor);
  for (auto g : seeds) {
    const Scenario sc = sim_prop::generate(g);
    if (single()) std::cout << sim_prop::describe(sc) << std::flush;
    auto why = checked(sc);
    if (single()) std::cout << (why.empty() ? "holds\n" : why) << std::endl;
    if (why.empty()) continue;
    if (bad.empty()) first_message = why;
    bad.push_back(g);
  }
  if (bad.empty()) {
    std::set_terminate(previous);
    return;
  }
  const auto smallest = *std::min_element(bad.begin(), bad.end(), [](auto x, auto y) {
    return sim_prop::size(sim_prop::generate(x)) < sim_prop::size(sim_prop::generate(y));
  });
  const Scenario shrunk = sim_prop::shrink(
      sim_prop::generate(smallest), [&](const Scenario& c) { return !checked(c).empty(); }, shrink_budget);
  const std::string shrunk_why = checked(shrunk);
  std::set_terminate(previous);
  std::ostringstream listed;
  for (std::size_t i = 0; i < bad.size() && i < 12; ++i) listed << (i ? ", " : "") << bad[i];
  ADD_FAILURE() << "'" << property << "' is violated by " << bad.size() << " of " << seeds.size()
                << " generated scenarios (generator seeds " << listed.str()
                << (bad.size() > 12 ? ", ..." : "")
                << ")\n\nfirst: " << sim_prop::describe(sim_prop::generate(bad.front())) << first_message
                << "\nsmallest (generator seed " << smallest << ") shrunk to " << sim_prop::size(shrunk)
                << " ops:\n"
                << sim_prop::describe(shrunk) << shrunk_why
                << "\nre-run one: RACELAB_PROPERTY_SEED=" << smallest << " racelab_lib_tests --gtest_filter='"
                << ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() << '.'
                << ::testing::UnitTest::GetInstance()->current_test_info()->name() << "'\n";
}

// --- running a scenario -----------------------------------------------------------------------

// "deadlock: every task is blocked ...", or just "ok".
std::string ending(const racelab::Outcome& o) {
  return std::string(racelab::to_string(o.kind())) + (o.message().empty() ? "" : ": " + o.message());
}

struct Run {
  racelab::Outcome outcome;
  std::string state;             // what the tasks left behind
  std::string exception_errors;  // exception state a task saw that was not its own
  std::string error;             // run() itself threw: a broken engine or a broken generator
};

Run run(const Scenario& sc, racelab::SimOptions options) {
  options.max_steps = kMaxSteps;
  options.crash_probability = sc.crash_probability;
  options.crash_points = sim_prop::kCrashPoints;
  options.faults = sc.faults;
  Run r;
  try {
    racelab::Simulation sim(options);
    auto s = sim_prop::spawn_tasks(sim, sc);
    r.outcome = sim.run();
    r.state = s->text();
    r.exception_errors = s->exception_errors;
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  if (single())
    std::cout << "  run seed " << options.seed << " strategy " << options.strategy
              << (options.schedule.empty() ? "" : " replaying its schedule") << ": " << ending(r.outcome)
              << "\n    " << r.outcome.schedule() << std::endl;
  return r;
}

std::string describe_options(const racelab::SimOptions& o) {
  return "seed " + std::to_string(o.seed) + ", strategy " + o.strategy +
         (o.schedule.empty() ? std::string() : ", schedule '" + o.schedule + "'");
}

// The first line where two traces part, with two lines of context before it.
std::string first_difference(const std::string& a, const std::string& b) {
  auto lines = [](const std::string& text) {
    std::vector<std::string> v;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) v.push_back(line);
    return v;
  };
  const auto la = lines(a), lb = lines(b);
  std::size_t i = 0;
  while (i < la.size() && i < lb.size() && la[i] == lb[i]) ++i;
  if (i == la.size() && i == lb.size()) return "";
  std::string out = "    traces part at step " + std::to_string(i + 1) + ":\n";
  for (std::size_t k = i >= 2 ? i - 2 : 0; k < i; ++k) out += "      both:   " + la[k] + "\n";
  out += "      first:  " + (i < la.size() ? la[i] : "(ended)") + "\n";
  out += "      second: " + (i < lb.size() ? lb[i] : "(ended)") + "\n";
  return out;
}

// "" when the two runs are the same run: trace, kind, message and what the tasks left behind.
std::string compare(const Run& a, const Run& b) {
  std::string out;
  if (!a.error.empty() || !b.error.empty()) out += "    run() threw: '" + a.error + "' / '" + b.error + "'\n";
  if (a.outcome.kind() != b.outcome.kind() || a.outcome.message() != b.outcome.message())
    out += "    outcomes differ:\n      first:  " + ending(a.outcome) +
           "\n      second: " + ending(b.outcome) + "\n";
  out += first_difference(a.outcome.trace().text(), b.outcome.trace().text());
  if (a.state != b.state) out += "    states differ: '" + a.state + "' / '" + b.state + "'\n";
  return out;
}

// --- the properties ---------------------------------------------------------------------------

std::string same_seed_same_trace(const Scenario& sc) {
  for (std::uint64_t i = 0; i < std::size(kStrategies); ++i) {
    const racelab::SimOptions o{.seed = engine_seed(sc.generator_seed, i), .strategy = kStrategies[i]};
    const auto first = run(sc, o), second = run(sc, o);
    if (auto diff = compare(first, second); !diff.empty())
      return "  two runs with " + describe_options(o) + " differ:\n" + diff;
  }
  return "";
}

std::string schedule_replays_under_another_seed(const Scenario& sc) {
  for (std::uint64_t i = 0; i < std::size(kStrategies); ++i) {
    const racelab::SimOptions o{.seed = engine_seed(sc.generator_seed, i), .strategy = kStrategies[i]};
    const auto original = run(sc, o);
    if (original.outcome.diverged() || !original.error.empty())
      return "  the run with " + describe_options(o) + " itself " +
             (original.error.empty() ? "diverged: " + original.outcome.message()
                                     : "threw: " + original.error) +
             "\n";
    const racelab::SimOptions r{.seed = engine_seed(sc.generator_seed, i + 4),
                                .strategy = kStrategies[(i + 1) % std::size(kStrategies)],
                                .schedule = original.outcome.schedule()};
    const auto replay = run(sc, r);
    if (auto diff = compare(original, replay); !diff.empty())
      return "  the run with " + describe_options(o) + " and its replay with " + describe_options(r) +
             " differ:\n" + diff;
  }
  return "";
}

// Only a program with a lost update to find, or locks and waits that may deadlock, can fail.
bool may_fail(const std::vector<sim_prop::Op>& ops, bool ordered) {
  for (const auto& op : ops) {
    if (op.kind == sim_prop::OpKind::racy_add || op.kind == sim_prop::OpKind::check) return true;
    const bool untimed_wait =
        (op.kind == sim_prop::OpKind::cv_wait || op.kind == sim_prop::OpKind::queue_wait) && op.a < 0;
    if (!ordered && (op.kind == sim_prop::OpKind::locked || untimed_wait)) return true;
    if (may_fail(op.body, ordered) || may_fail(op.other, ordered)) return true;
  }
  return false;
}

std::string minimised_schedule_still_fails(const Scenario& sc) {
  if (std::none_of(sc.tasks.begin(), sc.tasks.end(), [&](const auto& t) { return may_fail(t, sc.ordered); }))
    return "";
  auto body = [&sc](racelab::Simulation& sim) {
    auto s = sim_prop::spawn_tasks(sim, sc);
    static_cast<void>(sim.run());
    RACELAB_ASSERT(s->plain == s->completed);  // a lost update the tasks' own checks missed
  };
  const racelab::ExploreOptions options{.runs = 200,
                                        .strategy = "random",
                                        .seed = engine_seed(sc.generator_seed, 7),
                                        .max_steps = kMaxSteps,
                                        .crash_probability = sc.crash_probability,
                                        .crash_points = sim_prop::kCrashPoints,
                                        .faults = sc.faults,
                                        .use_env = false};
  racelab::Report report;
  try {
    report = racelab::explore(options, body);
  } catch (const std::exception& e) {
    return "  explore() threw: " + std::string(e.what()) + "\n";
  }
  if (!report.failed()) return "";
  std::string notes;
  for (const auto& n : report.notes()) notes += "    note: " + n + "\n";
  const auto& found = report.original();
  const auto& minimal = report.outcome();
  if (single()) std::cout << report;
  std::string why;
  if (report.nondeterministic() || notes.find("minimisation skipped") != std::string::npos)
    why += "  explore()'s own replay check failed:\n" + notes;
  if (minimal.kind() != found.kind())
    why += "  minimisation changed the failure: " + std::string(racelab::to_string(found.kind())) + " -> " +
           std::string(racelab::to_string(minimal.kind())) + "\n";
  auto replay_options = options;
  replay_options.schedule = report.schedule();
  replay_options.seed = engine_seed(sc.generator_seed, 9);
  racelab::Report again;
  try {
    again = racelab::explore(replay_options, body);
  } catch (const std::exception& e) {
    return why + "  replaying the minimal schedule threw: " + e.what() + "\n";
  }
  if (!again.failed())
    why += "  the minimal schedule '" + report.schedule() + "' passes when replayed\n";
  else if (again.outcome().kind() != found.kind() || again.outcome().message() != minimal.message())
    why += "  the minimal schedule fails differently when replayed:\n      found:    " + ending(found) +
           "\n      minimal:  " + ending(minimal) + "\n      replayed: " + ending(again.outcome()) + "\n";
  else
    why += first_difference(minimal.trace().text(), again.outcome().trace().text());
  if (!why.empty())
    why = "  explore seed " + std::to_string(options.seed) + " found " +
          std::string(racelab::to_string(found.kind())) + " at run " + std::to_string(report.runs()) +
          "; minimal schedule " + report.schedule() + "\n" + why;
  return why;
}

std::string each_task_keeps_its_own_exception_state(const Scenario& sc) {
  for (std::uint64_t i = 0; i < std::size(kStrategies); ++i) {
    const racelab::SimOptions o{.seed = engine_seed(sc.generator_seed, i), .strategy = kStrategies[i]};
    const auto r = run(sc, o);
    if (!r.exception_errors.empty() || !r.error.empty())
      return "  the run with " + describe_options(o) + " (" + ending(r.outcome) + "):\n" +
             r.exception_errors + r.error + "\n";
  }
  return "";
}

// explore()'s answer does not depend on how many threads run it or how it is sharded: runs,
// completeness and the first failure (its whole trace) are those of one thread. And the DFS it
// runs enumerates exactly the schedules of the sequential strategy, in the same order.
std::string one_answer_for_any_jobs_or_shards(const Scenario& sc) {
  auto body = [&sc](racelab::Simulation& sim) {
    auto s = sim_prop::spawn_tasks(sim, sc);
    static_cast<void>(sim.run());
    RACELAB_ASSERT(s->plain == s->completed);
  };
  std::string why;
  for (const char* strategy : {"random", "dfs:1"}) {
    racelab::ExploreOptions base{.runs = std::string_view(strategy) == "random" ? 60 : 150,
                                 .strategy = strategy,
                                 .seed = engine_seed(sc.generator_seed, 11),
                                 .max_steps = kMaxSteps,
                                 .crash_probability = sc.crash_probability,
                                 .crash_points = sim_prop::kCrashPoints,
                                 .faults = sc.faults,
                                 .minimize = false,
                                 .use_env = false,
                                 .jobs = 1};
    auto describe = [](const racelab::Report& r) {
      return std::to_string(r.runs()) + " runs, " + (r.complete() ? "complete" : "not complete") + ", " +
             (r.failed() ? "fails at run key '" + r.run_key() + "': " + ending(r.original()) : "no failure");
    };
    racelab::Report one;
    try {
      one = racelab::explore(base, body);
      auto three = base;
      three.jobs = 3;
      auto r3 = racelab::explore(three, body);
      if (describe(r3) != describe(one) ||
          (one.failed() && r3.original().trace().text() != one.original().trace().text()))
        why += "  " + std::string(strategy) + ": 1 thread gives " + describe(one) + "; 3 threads give " +
               describe(r3) + "\n";
      if (!(r3.coverage() == one.coverage()))  // the counted runs' coverage, merged from 3 workers
        why += "  " + std::string(strategy) +
               ": 3 threads' coverage differs from 1 thread's: " + r3.coverage().text() + " vs " +
               one.coverage().text() + "\n";
      for (int shard_jobs : {1, 2}) {  // one worker per shard too: its own path through the search
        std::vector<racelab::ShardSummary> shards;
        std::vector<racelab::Report> reports;
        for (int k = 0; k < 3; ++k) {
          auto part = base;
          part.jobs = shard_jobs;
          part.shard = {k, 3};
          reports.push_back(racelab::explore(part, body));
          shards.push_back(racelab::shard_summary(reports.back()));
        }
        const auto merged = racelab::merge_shards(shards);
        const bool merged_failed = merged.first_failure >= 0;
        // A DFS bound applies per shard: a search the bound cut short is not comparable.
        const bool comparable = std::string_view(strategy) == "random" || one.complete() || one.failed();
        if (comparable &&
            (merged.runs != static_cast<std::uint64_t>(one.runs()) || merged_failed != one.failed() ||
             (!one.failed() && merged.complete != one.complete()) ||
             (one.failed() &&
              reports[static_cast<std::size_t>(merged.first_failure)].original().trace().text() !=
                  one.original().trace().text())))
          why += "  " + std::string(strategy) + ": 1 process gives " + describe(one) + "; 3 shards of " +
                 std::to_string(shard_jobs) + " worker(s) merge to " + std::to_string(merged.runs) +
                 " runs, " + (merged.complete ? "complete" : "not complete") +
                 (merged_failed ? ", failing in shard " + std::to_string(merged.first_failure)
                                : ", no failure") +
                 "\n";
      }
    } catch (const std::exception& e) {
      return why + "  explore() threw: " + e.what() + "\n";
    }
    if (std::string_view(strategy) != "dfs:1") continue;
    // The sequential strategy, run by hand: the same schedules, in order, up to the same failure.
    // (explore's own order: one worker runs in key order; the body records each run's schedule.)
    std::vector<std::string> explored, sequential;
    auto recording = [&](racelab::Simulation& sim) {
      auto s = sim_prop::spawn_tasks(sim, sc);
      explored.push_back(sim.run().schedule());
      RACELAB_ASSERT(s->plain == s->completed);
    };
    try {
      static_cast<void>(racelab::explore(base, recording));
    } catch (const std::exception& e) {
      return why + "  explore() threw: " + e.what() + "\n";
    }
    auto dfs = racelab::detail::make_shared_strategy(strategy);
    int runs = 0;
    bool failed = false;
    for (bool more = true; more && runs < base.runs && !failed;) {
      racelab::SimOptions o{.seed = base.seed,
                            .strategy = strategy,
                            .max_steps = base.max_steps,
                            .crash_probability = base.crash_probability,
                            .crash_points = base.crash_points,
                            .faults = base.faults};
      racelab::Simulation sim(o, dfs);
      try {
        body(sim);
      } catch (const racelab::AssertionFailed&) {
        failed = true;
      }
      ++runs;
      sequential.push_back(sim.outcome().schedule());
      failed = failed || !sim.outcome().ok();
      more = dfs->end_run(sim.outcome().steps());
    }
    // explore verifies a failure by replaying it after the search: only the search's runs count.
    explored.resize(std::min(explored.size(), static_cast<std::size_t>(one.runs())));
    if (explored != sequential)
      why += "  the sequential dfs:1 and explore's dfs:1 run different schedules (or in another order)\n";
    if (runs != one.runs() || failed != one.failed())
      why += "  the sequential dfs:1 runs " + std::to_string(runs) + (failed ? " up to a failure" : "") +
             "; explore's gives " + describe(one) + "\n";
  }
  return why;
}

}  // namespace

TEST(GeneratedScenarios, OneAnswerForAnyJobsOrShards) {
  check_all("the same answer for any jobs or shards", kScenarios / 10, 10, one_answer_for_any_jobs_or_shards,
            20);
}

// Same options twice (random, pct:3, dfs; one seed each): the same trace, outcome and final state.
TEST(GeneratedScenarios, SameSeedGivesTheSameRun) {
  check_all("same seed => same trace", kScenarios, 1, same_seed_same_trace, 300);
}

// A run's schedule (random, pct:3, dfs) replayed under another seed and strategy: the same trace.
TEST(GeneratedScenarios, ScheduleReplaysUnderAnotherSeed) {
  check_all("schedule under another seed => same trace", kScenarios, 1, schedule_replays_under_another_seed,
            300);
}

// A failure explore() finds in 200 random runs: its minimal schedule, replayed, fails the same way.
TEST(GeneratedScenarios, MinimisedScheduleStillFails) {
  check_all("minimisation's result still fails", kScenarios / 5, 5, minimised_schedule_still_fails, 40);
}

// Handlers that switch tasks before `throw;` rethrow their own exception; uncaught_exceptions() is 0.
TEST(GeneratedScenarios, EachTaskKeepsItsOwnExceptionState) {
  check_all("each task keeps its own exception state", kScenarios, 1, each_task_keeps_its_own_exception_state,
            300);
}

// 666 scenarios end ok, failed and deadlocked, crash, fail a call, sleep, race, spawn; none hits the
// step limit.
TEST(GeneratedScenarios, CoverEveryOutcome) {
  if (single()) GTEST_SKIP() << "coverage is over many scenarios";
  std::map<std::string, int> seen;
  // Fixed, whatever RACELAB_PROPERTY_SCENARIOS or a sanitizer says: one run each costs microseconds,
  // and fewer scenarios would not show every outcome.
  for (std::uint64_t g = 0; g < kCoverageScenarios; ++g) {
    const Scenario sc = sim_prop::generate(g);
    const auto r = run(sc, {.seed = engine_seed(g, 0)});
    ++seen[std::string(racelab::to_string(r.outcome.kind()))];
    ++seen[sc.ordered ? "ordered" : "unordered"];
    for (const auto& step : r.outcome.trace().steps()) {
      if (step.kind == racelab::StepKind::crash)
        ++seen[step.fault == racelab::Fault::crash ? "crash" : "fault"];
      if (step.kind == racelab::StepKind::idle && step.time_ns > 0) ++seen["clock advance"];
      if (step.point == "prop.window") ++seen["racy window"];
    }
    for (const auto& t : r.outcome.trace().tasks()) seen["child task"] += t.find('.') != std::string::npos;
    EXPECT_NE(r.outcome.kind(), racelab::OutcomeKind::step_limit) << sim_prop::describe(sc) << r.outcome;
    if (sc.ordered) {
      EXPECT_NE(r.outcome.kind(), racelab::OutcomeKind::deadlock) << sim_prop::describe(sc) << r.outcome;
    }
  }
  std::string tally;
  for (const auto& [what, n] : seen) tally += what + "=" + std::to_string(n) + " ";
  for (const char* what :
       {"ok", "failure", "deadlock", "crash", "fault", "clock advance", "racy window", "child task"})
    EXPECT_GT(seen[what], 0) << what << " never happened: " << tally;
  std::cout << "coverage: " << tally << '\n';
}
