// `racelab explore` and `racelab replay`: the deterministic simulation on the lab's scenarios.
#include <racelab/explore.hpp>

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "bank/bank.hpp"
#include "bank/sql_bank.hpp"
#include "progress.hpp"
#include "results.hpp"
#include "verbs.hpp"

namespace racelab::cli {
namespace {

using Body = std::function<void(racelab::Simulation&)>;

// Scenario name -> a body that spawns the race and checks the invariant, for a lab strategy.
Body bank_memory(lab::Strategy strategy) {
  return [strategy](racelab::Simulation& sim) { lab::bank::simulate_double_spend(sim, strategy); };
}

Body bank_sqlite(lab::Strategy strategy) {
  return [strategy](racelab::Simulation& sim) { lab::bank::simulate_sql_double_spend(sim, strategy); };
}

// What a scenario is, and how an emitted regression test calls it (`fix` names the strategy).
struct Scenario {
  std::string about;
  Body (*make)(lab::Strategy);
  std::string header;
  std::string call;
};

const std::map<std::string, Scenario> kScenarios{
    {"bank",
     {"two transfers of 800 from alice, in memory (--fix unsafe | mutex)", bank_memory, "bank/bank.hpp",
      "lab::bank::simulate_double_spend(sim, fix)"}},
    {"bank-sqlite",
     {"the same on an in-memory SQLite database (--fix: any strategy)", bank_sqlite, "bank/sql_bank.hpp",
      "lab::bank::simulate_sql_double_spend(sim, fix)"}},
};

struct Options {
  std::string scenario;
  std::string search = "random";
  int runs = 1000;
  std::uint64_t seed = 0;
  std::string fix = "unsafe";
  std::string schedule;
  bool seed_given = false;
  bool verify = false;
  ResultFlags results;
  std::string emit_test;
  std::vector<std::string> watch;
};

std::optional<Body> resolve(const Options& o) {
  auto it = kScenarios.find(o.scenario);
  if (it == kScenarios.end()) {
    std::cerr << "racelab: unknown scenario '" << o.scenario << "'. Scenarios:\n";
    for (const auto& [name, entry] : kScenarios) std::cerr << "  " << name << "  " << entry.about << '\n';
    return std::nullopt;
  }
  auto strategy = lab::parse_strategy(o.fix);
  if (!strategy) {
    std::cerr << "racelab: unknown strategy '" << o.fix << "' for --fix\n";
    return std::nullopt;
  }
  if (o.scenario == "bank" && *strategy != lab::Strategy::unsafe && *strategy != lab::Strategy::mutex) {
    std::cerr << "racelab: the in-memory bank has no database: --fix unsafe or mutex (bank-sqlite takes "
                 "every strategy)\n";
    return std::nullopt;
  }
  return it->second.make(*strategy);
}

int report_and_exit(const racelab::Report& r) {
  const bool replaying = r.strategy() == "replay";  // --schedule, or RACELAB_SCHEDULE
  if (r.failed() && r.outcome().kind() == racelab::OutcomeKind::diverged) {
    // Not a finding about the scenario: a replayed schedule is from another scenario or was
    // edited; a search found the code not deterministic. Said on stderr, exit 2, nothing to
    // minimise or replay.
    if (replaying) {
      std::cerr << "racelab: this schedule does not fit: " << r.outcome().message() << '\n';
    } else {
      std::cerr << "racelab: the search cannot answer: the scenario is not deterministic: "
                << r.outcome().message() << '\n';
      for (const auto& note : r.notes()) std::cerr << "  " << note << '\n';
    }
    return kExitUsage;
  }
  std::cout << r;
  if (!r.failed()) std::cout << '\n';
  return r.failed() ? kExitFailed : kExitOk;
}

// A GoogleTest test that replays the failing schedule: it fails while the code has the race and
// passes once it is fixed (compile with -DRACELAB_FIX=<strategy> to try a fix).
std::string regression_test(const Options& o, const racelab::Report& r) {
  const auto& scenario = kScenarios.at(o.scenario);
  std::string name;
  for (char c : o.scenario + "_" + o.fix) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  std::ostringstream out;
  out << "// A regression test from `racelab explore " << o.scenario << " --fix " << o.fix << " --strategy "
      << o.search << " --seed " << o.seed << "`:\n"
      << "//   " << r.summary() << "\n"
      << "//   " << r.outcome().message() << "\n"
      << "// It replays the minimal failing schedule, so it fails while the race is there and passes\n"
      << "// once it is fixed. Build it with -DRACELAB_FIX=<strategy> to check a fix.\n"
      << "#include <gtest/gtest.h>\n#include <racelab/explore.hpp>\n\n#include \"" << scenario.header
      << "\"\n\n"
      << "#ifndef RACELAB_FIX\n#define RACELAB_FIX " << o.fix << "\n#endif\n\n"
      << "TEST(RacelabRegression, " << name << ") {\n"
      << "  const lab::Strategy fix = lab::Strategy::RACELAB_FIX;\n"
      << "  const racelab::Report report = racelab::explore(\n"
      << "      {.schedule = \"" << r.schedule() << "\", .use_env = false},\n"
      << "      [fix](racelab::Simulation& sim) { " << scenario.call << "; });\n"
      << "  EXPECT_FALSE(report.failed()) << report;\n}\n";
  return out.str();
}

int explore_verb(const Options& o) {
  auto body = resolve(o);
  if (!body) return kExitUsage;
  auto shard = resolve_shard(o.results.shard);
  if (!shard) return kExitUsage;
  racelab::ExploreOptions opts;
  try {  // RACELAB_RUNS, _SEED, _STRATEGY, _JOBS, ... applied here, so the reports name the search run
    opts = racelab::with_environment({.runs = o.runs,
                                      .strategy = o.search,
                                      .seed = o.seed,
                                      .verify = o.verify,
                                      .use_env = true,
                                      .jobs = o.results.jobs,
                                      .shard = *shard,
                                      .watch = o.watch});
  } catch (const racelab::ExploreOptionsError& e) {
    std::cerr << e.what() << '\n';
    return kExitUsage;
  }
  // The SQL bank's mutex strategy is one process-wide lock: concurrent runs would share it.
  if (o.scenario == "bank-sqlite" && o.fix == "mutex") opts.jobs = 1;
  auto bar = std::make_shared<ProgressBar>("schedules");
  if (bar->shown() && o.runs >= 1000)
    opts.progress = [bar](const racelab::ExploreProgress& p) {
      bar->update(static_cast<long>(p.runs_done), static_cast<long>(p.runs_total));
    };
  const std::string command = "racelab explore " + o.scenario + " --fix " + o.fix + " --strategy " +
                              opts.strategy + " --runs " + std::to_string(opts.runs) + " --seed " +
                              std::to_string(opts.seed);
  std::cout << "racelab explore " << o.scenario << " (fix: " << o.fix << ", " << opts.strategy
            << ", seeds from " << opts.seed;
  if (shard->count > 1) std::cout << ", shard " << shard->index << "/" << shard->count;
  std::cout << ")" << std::endl;
  try {
    const auto start = std::chrono::steady_clock::now();
    auto r = racelab::explore(opts, *body);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bar->clear();
    if (!write_results(o.results,
                       SearchInfo{command, o.scenario, opts.strategy, opts.seed, opts.runs, seconds, o.watch,
                                  opts.watch_threshold},
                       r))
      return kExitUsage;
    if (!o.emit_test.empty()) {
      if (!r.failed() || r.nondeterministic()) {
        std::cerr << "racelab: --emit-test: " << (r.failed() ? "the failure does not replay" : "no failure")
                  << ", so no regression test was written\n";
      } else {
        std::ofstream out(o.emit_test);
        out << regression_test(o, r);
        out.close();
        if (!out) {
          std::cerr << "racelab: cannot write '" << o.emit_test << "'\n";
          return kExitUsage;
        }
        std::cerr << "racelab: wrote the regression test " << o.emit_test << '\n';
      }
    }
    return report_and_exit(r);
  } catch (const racelab::ExploreOptionsError& e) {
    std::cerr << e.what() << '\n';
    return kExitUsage;
  }
}

int replay_verb(const Options& o) {
  auto body = resolve(o);
  if (!body) return kExitUsage;
  if (o.schedule.empty() == !o.seed_given) {
    std::cerr << "racelab replay: give exactly one of --seed S or --schedule TEXT\n";
    return kExitUsage;
  }
  racelab::ExploreOptions opts{
      .runs = 1, .strategy = o.search, .seed = o.seed, .minimize = false, .verify = true, .use_env = false};
  opts.schedule = o.schedule;
  try {
    return report_and_exit(racelab::explore(opts, *body));
  } catch (const racelab::ExploreOptionsError& e) {
    std::cerr << e.what() << '\n';
    return kExitUsage;
  }
}

void common(CLI::App* cmd, Options& o) {
  cmd->add_option("scenario", o.scenario, "bank | bank-sqlite")->required();
  cmd->add_option("--fix", o.fix, "The lab strategy under test (unsafe, mutex, pessimistic, …)")
      ->capture_default_str();
  cmd->add_option("--strategy", o.search, "Search strategy: random, pct:<depth>, dfs[:<preemptions>]")
      ->capture_default_str();
}

}  // namespace

void add_explore(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "explore",
      "Search a scenario's interleavings with the deterministic scheduler; exit 1 if one breaks it");
  common(cmd, *o);
  cmd->add_option("--runs", o->runs, "Schedules to try (a DFS stops when it has tried them all)")
      ->check(CLI::Range(1, 100'000'000))
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "First seed (run i uses seed + i)")->capture_default_str();
  cmd->add_flag("--verify", o->verify, "Re-run a failure and check it replays identically");
  add_result_flags(cmd, o->results);
  cmd->add_option("--watch", o->watch,
                  "A window the search must enter (POINT, or FROM->TO): warn if another task cut in there "
                  "in fewer than 5% of the runs that reached it");
  cmd->add_option("--emit-test", o->emit_test,
                  "On a failure, write a GoogleTest test that replays its schedule (a regression test)");
  cmd->callback([&run, o] { run = [o] { return explore_verb(*o); }; });

  auto r = std::make_shared<Options>();
  auto* rep = app.add_subcommand(
      "replay", "Replay one run of a scenario, by seed or by schedule text; exit 1 if it fails");
  common(rep, *r);
  rep->add_option("--seed", r->seed, "The seed to replay (with the same --strategy it was found with)")
      ->each([r](const std::string&) { r->seed_given = true; });
  rep->add_option("--schedule", r->schedule, "A schedule printed by explore (racelab-schedule/1: …)");
  rep->callback([&run, r] { run = [r] { return replay_verb(*r); }; });
}

}  // namespace racelab::cli
