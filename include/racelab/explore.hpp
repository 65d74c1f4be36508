// racelab/explore.hpp — search many schedules for one that fails, then explain it.
//
// explore() runs `body` once per schedule: the body sets up state, spawns tasks, calls sim.run()
// and checks invariants (by throwing, RACELAB_ASSERT, or leaving a failing Outcome). On the first
// failure it stops, optionally checks the failure replays identically, shrinks the schedule to the
// fewest context switches that still fail, and reports seed, schedule and a timeline.
//
//   racelab::Report r = racelab::explore(racelab::ExploreOptions{.runs = 1000, .strategy = "random"},
//       [&](racelab::Simulation& sim) {
//         Bank bank{100, 0};
//         sim.spawn("A", [&] { transfer(bank, 100); });
//         sim.spawn("B", [&] { transfer(bank, 70); });
//         auto out = sim.run();
//         RACELAB_ASSERT(bank.a >= 0);
//       });
//   if (r.failed()) std::cout << r;   // "seed 3 fails ..." + minimal timeline + replay command
//
// Environment (applied unless ExploreOptions::use_env is false): RACELAB_SEED=N runs only seed N;
// RACELAB_SCHEDULE=TEXT replays one schedule; RACELAB_RUNS, RACELAB_STRATEGY override the options;
// RACELAB_VERIFY=1 re-runs the failing seed and replays every passing run too (see verify);
// RACELAB_JOBS=N sets jobs.
//
// Runs go to `jobs` threads at once (one per core by default), so the body must keep its state
// inside itself (or make it thread-safe); `.jobs = 1` runs everything on the calling thread. The
// answer does not depend on jobs: runs are ordered (random and PCT by index, DFS in depth-first
// order), the first failure is the failing run that comes first in that order, and `runs()` counts
// the runs up to it. `shard` splits the same run space among processes (every run in exactly one
// shard); `racelab merge` combines the shards' reports into the one a single process gives.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "racelab/coverage.hpp"
#include "racelab/outcome.hpp"
#include "racelab/sim/simulation.hpp"

namespace racelab {

struct ExploreProgress {
  int runs_done = 0;
  int runs_total = 0;
};

// Shard `index` of `count` (0 <= index < count): random and PCT runs i with i % count == index; a
// DFS splits the tree into subtrees the same way in every shard and takes every count-th.
struct ExploreShard {
  int index = 0;
  int count = 1;
};

// A DFS subtree a shard explored, and its runs (for ranking a failure across shards).
struct ExplorePart {
  std::string key;
  std::uint64_t runs = 0;
};

struct ExploreOptions {
  int runs = 1000;  // upper bound; a DFS stops earlier when it has seen everything
  std::string strategy = "random";
  std::uint64_t seed = 0;  // run i uses seed + i
  std::uint64_t max_steps = 100'000;
  double crash_probability = 0.0;
  std::string crash_points{};
  std::string faults{};    // which faults crash injection places (SimOptions::faults); empty: crash
  std::string schedule{};  // replay only this schedule
  bool minimize = true;    // shrink the failing schedule
  // Every failure is replayed from its schedule and compared step for step (always). verify also
  // re-runs a failure's seed, and replays every passing run's schedule, reporting the first step
  // where two runs differ.
  bool verify = false;
  bool use_env = true;   // honour RACELAB_SEED / SCHEDULE / RUNS / STRATEGY / VERIFY / JOBS
  int jobs = 0;          // threads running the body at once; 0: one per core
  ExploreShard shard{};  // this process's share of the run space (a DFS bound applies per shard)
  // Windows the test is about ("transfer.after_read", or "from->to"): a warning when one was
  // entered by another task in fewer than watch_threshold of the runs that reached it, or never
  // reached. Coverage of every run counted is always kept (Report::coverage()).
  std::vector<std::string> watch{};
  double watch_threshold = 0.05;
  std::function<void(const ExploreProgress&)> progress{};  // called every 1% of runs, if set
};

class ExploreOptionsError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class Report {
 public:
  bool failed() const { return failing_.has_value(); }
  int runs() const { return runs_; }
  bool complete() const { return complete_; }  // a DFS explored every schedule within its bound
  const std::string& strategy() const { return strategy_; }
  // About the failure (meaningful when failed()):
  std::uint64_t seed() const;                                       // the failing run's seed (random, pct)
  std::string schedule() const;                                     // the minimal failing schedule
  const Outcome& outcome() const;                                   // the minimal failing run
  const Outcome& original() const;                                  // the failing run as first found
  bool seed_replays() const { return seed_replays_; }               // false for dfs: replay by schedule
  const std::vector<std::string>& notes() const { return notes_; }  // verification findings
  bool nondeterministic() const { return nondeterministic_; }
  std::string summary() const;  // one line
  int jobs() const { return jobs_; }
  const ExploreShard& shard() const { return shard_; }
  // The failing run's place in the run space: its index for random and PCT (seed - options.seed),
  // its DFS position ("0.2.1": the option taken at each decision, trailing first options dropped).
  const std::string& run_key() const { return run_key_; }
  const std::vector<ExplorePart>& parts() const { return parts_; }  // DFS under a shard count > 1
  // What the counted runs covered: distinct schedules, points reached, windows entered.
  const Coverage& coverage() const { return coverage_; }
  // Watched windows rarely or never entered (ExploreOptions::watch); printed with the report.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  friend Report explore(const ExploreOptions&, const std::function<void(Simulation&)>&);
  int runs_ = 0;
  int jobs_ = 1;
  ExploreShard shard_{};
  std::string run_key_;
  std::vector<ExplorePart> parts_;
  Coverage coverage_;
  std::vector<std::string> warnings_;
  bool complete_ = false;
  bool seed_replays_ = true;
  bool nondeterministic_ = false;
  std::string strategy_;
  std::optional<Outcome> failing_;
  std::optional<Outcome> minimal_;
  std::vector<std::string> notes_;
};

// The failure story: seed, what failed, minimal schedule, timeline, how to replay.
std::ostream& operator<<(std::ostream& out, const Report& report);

Report explore(const ExploreOptions& options, const std::function<void(Simulation&)>& body);

// The options explore() runs with once the environment is applied (unless use_env is false), with
// use_env then false: what a tool records as the search it ran. Throws ExploreOptionsError naming a
// RACELAB_* variable that does not parse.
ExploreOptions with_environment(ExploreOptions options);

// How many workers explore() runs for `jobs` (ExploreOptions::jobs): RACELAB_JOBS when `use_env`
// and it is set, else `jobs`; 0 means one per CPU this process may use (its affinity mask). For a
// driver that sizes per-worker resources before it calls explore(). Throws ExploreOptionsError for
// a negative `jobs` or a RACELAB_JOBS that is not an integer >= 0.
int explore_jobs(int jobs, bool use_env = true);

// Combining shards: what a merge needs from each shard's report (a Report, or a shard's --json),
// and the single-process answer it gives: the runs up to the first failure in the whole run
// space (or every shard's runs), whether the space was explored completely, and whose failure
// comes first (-1: none). A DFS shard's runs are ranked in the whole tree through its parts.
struct ShardSummary {
  bool dfs = false;
  std::uint64_t runs = 0;
  bool complete = false;
  bool failed = false;
  std::string run_key;  // Report::run_key()
  std::vector<ExplorePart> parts;
};
ShardSummary shard_summary(const Report& report);

struct MergedShards {
  std::uint64_t runs = 0;
  bool complete = false;
  int first_failure = -1;  // index into the summaries
  // False when a DFS shard stopped at its --runs bound without failing: its subtrees' runs are
  // not all counted, so the runs, and which failure comes first, may differ from one process's.
  bool exact = true;
};
// Throws ExploreOptionsError when the summaries cannot be shards of one search (mixed strategies,
// a malformed run key).
MergedShards merge_shards(const std::vector<ShardSummary>& shards);

namespace detail {
// Which of explore()'s `jobs` workers runs the code calling this (0 <= worker < jobs); 0 on any
// other thread. For a driver that keeps one resource per worker, as `racelab run --jobs` keeps one
// program process per worker: the body of worker w is never run twice at once.
int explore_worker() noexcept;
// The key of the search run the calling thread is in (random and PCT: {i} for run i of this
// explore() call; DFS: its position, as Report::run_key()), or nullptr outside one: PCT's probe
// before the search, minimisation and verification after it. Keys order runs as the search
// does, so a driver can rank what it saw by the run that saw it, whichever worker ran it.
const std::vector<std::uint32_t>* explore_run_key() noexcept;
}  // namespace detail

}  // namespace racelab
