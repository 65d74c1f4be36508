// What ExploreOptions::jobs buys: explore() runs/s at jobs=1, jobs=2 and jobs=0 (one per core), the
// median of 5 repetitions, and the speed-up jobs=2 / jobs=1, on
//   - the lab's bank, lab::bank::simulate_double_spend(sim, Strategy::mutex), under random; under
//     dfs its whole tree (162 schedules) is one search, so a repetition repeats that search; and a
//     bigger bank body (three transfers, the first N schedules of its dfs);
//   - the reference lock model (bench/lock_model.hpp: N tasks lock, read, point, withdraw).
// The answer (runs(), failed(), complete()) must be the same at every jobs value, and what each
// body must give (no failure; every run counted; a complete dfs where the tree is smaller than the
// bound): otherwise the benchmark exits 1, so a broken search cannot post a fast number.
//
// The cost of coverage (always on in explore()): for each random case, explore() at jobs=1 next
// to a plain loop of racelab::Simulation runs of the same body, and Coverage::add() alone on that
// body's traces (into a Coverage already holding them, as in a long search), as a share of a run.
//
// Every repetition runs each jobs value once, in turn, so a change in machine load hits them
// alike. Runs per repetition are calibrated so that jobs=1 takes >= 2 x --min-seconds (0.5 s), so
// jobs=2 takes >= --min-seconds too.
//
// Run: build/release/bench/jobs_benchmark [--reps N] [--min-seconds S] [--only NAME]
//      [--profile JOBS RUNS]   (one measurement per case at JOBS, RUNS runs or searches: for perf)
#include <racelab/coverage.hpp>
#include <racelab/racelab.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "bank/bank.hpp"
#include "lock_model.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using Body = std::function<void(racelab::Simulation&)>;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time of the whole process (every worker): on a machine shared with other work, CPU time per
// run shows what running on two threads costs even when the other core is busy elsewhere.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Three transfers on the lab's bank: the double spend plus bob -> charlie 300, all under the mutex.
void bank_three_transfers(racelab::Simulation& sim) {
  lab::bank::MemoryLedger ledger;
  lab::bank::Bank bank(ledger);
  lab::bank::spawn_double_spend(sim, bank, lab::Strategy::mutex);
  sim.spawn("C", [&bank] { bank.transfer("bob", "charlie", 300, lab::Strategy::mutex); });
  static_cast<void>(sim.run());
  RACELAB_ASSERT(ledger.balance("alice") >= 0);
  RACELAB_ASSERT(ledger.balance("bob") >= 0);
  RACELAB_ASSERT(ledger.total() == 1700);
}

struct Case {
  std::string name;
  std::string strategy;
  Body body;
  // > 0: the whole search has this many runs, and a repetition repeats it (the dfs of the bank).
  int whole_search = 0;
  // > 0: runs per repetition at most (below the tree's size: the limit cuts the search).
  int cap = 0;
};

struct Answer {
  int runs = 0;
  bool failed = false;
  bool complete = false;
  std::uint64_t covered = 0;  // Coverage::runs()
  bool operator==(const Answer&) const = default;
};

std::string text(const Answer& a) {
  return std::to_string(a.runs) + " runs, " + (a.failed ? "failed" : "no failure") + ", " +
         (a.complete ? "complete" : "not complete") + ", coverage of " + std::to_string(a.covered) + " runs";
}

struct Timed {
  double seconds = 0;
  double cpu_seconds = 0;
  std::uint64_t runs = 0;  // over every search of the repetition
  Answer answer;           // of one search
};

// One repetition: `amount` runs (or, for a whole search, `amount` searches) at `jobs`.
Timed measure(const Case& c, int jobs, int amount) {
  const int searches = c.whole_search > 0 ? amount : 1;
  const int runs = c.whole_search > 0 ? c.whole_search * 2 : amount;  // a bound the tree stays under
  Timed t;
  const double cpu_start = process_cpu_seconds();
  const auto start = Clock::now();
  for (int i = 0; i < searches; ++i) {
    auto r = racelab::explore(
        {.runs = runs, .strategy = c.strategy, .minimize = false, .use_env = false, .jobs = jobs}, c.body);
    Answer a{r.runs(), r.failed(), r.complete(), r.coverage().runs()};
    if (i > 0 && !(a == t.answer)) {
      std::printf("%s: jobs=%d: search %d gave %s, search 1 gave %s\n", c.name.c_str(), jobs, i + 1,
                  text(a).c_str(), text(t.answer).c_str());
      std::exit(1);
    }
    if (a.failed) std::printf("%s: jobs=%d: %s\n", c.name.c_str(), jobs, r.summary().c_str());
    t.answer = a;
    t.runs += static_cast<std::uint64_t>(a.runs);
  }
  t.seconds = seconds_since(start);
  t.cpu_seconds = process_cpu_seconds() - cpu_start;
  return t;
}

// What the body must give, whatever jobs is: no failure, every run covered; a whole search
// complete; random runs exactly `amount`; a bounded dfs `amount` runs, or fewer and complete.
bool expected(const Case& c, const Answer& a, int amount, std::string& why) {
  bool ok = !a.failed && a.covered == static_cast<std::uint64_t>(a.runs);
  if (c.whole_search > 0)
    ok = ok && a.runs == c.whole_search && a.complete;
  else if (c.strategy == "random")
    ok = ok && a.runs == amount && !a.complete;
  else
    ok = ok && (a.runs == amount || (a.runs < amount && a.complete));
  if (!ok) why = "unexpected answer: " + text(a) + " (" + std::to_string(amount) + " asked)";
  return ok;
}

// Enough runs (or searches) that jobs=1 takes >= target seconds.
int calibrate(const Case& c, double target) {
  int amount = c.whole_search > 0 ? 10 : 2000;
  for (;;) {
    if (c.cap > 0 && amount >= c.cap) return c.cap;
    const double s = measure(c, 1, amount).seconds;
    if (s >= target) return amount;
    const double scale = s > 0.01 ? 1.2 * target / s : 10.0;
    amount = static_cast<int>(std::min(2e9, std::max(amount * 1.5, amount * scale)));
    if (c.cap > 0) amount = std::min(amount, c.cap);
  }
}

struct Speed {
  double jobs1 = 0, jobs2 = 0, jobs0 = 0;  // runs/s, medians
  double cpu1 = 0, cpu2 = 0;               // CPU ns per run, medians
  double cpus2 = 0;                        // CPUs busy at jobs=2 (CPU time / wall time), median
  double speedup = 0;                      // median of the repetitions' jobs=2 / jobs=1
};

int run_case(const Case& c, int reps, double min_seconds, Speed& out) {
  const int n = calibrate(c, 2 * min_seconds);
  std::vector<double> s1, s2, s0, c1, c2, busy2, paired;
  Answer first;
  for (int rep = 0; rep < reps; ++rep) {
    // jobs=1 and jobs=2 back to back, in alternating order, so that a change of the machine's speed
    // (a virtual CPU's neighbours come and go) hits both sides of a pair alike.
    const auto order = rep % 2 == 0 ? std::vector<int>{1, 2, 0} : std::vector<int>{2, 1, 0};
    for (int jobs : order) {
      Timed t = measure(c, jobs, n);
      std::string why;
      if (!expected(c, t.answer, n, why)) {
        std::printf("%s: jobs=%d: %s\n", c.name.c_str(), jobs, why.c_str());
        return 1;
      }
      if (rep == 0 && jobs == 1) first = t.answer;
      if (!(t.answer == first)) {
        std::printf("%s: jobs=%d gave %s, jobs=1 gave %s\n", c.name.c_str(), jobs, text(t.answer).c_str(),
                    text(first).c_str());
        return 1;
      }
      if (t.seconds < min_seconds)
        std::printf("%s: note: jobs=%d repetition took only %.2f s\n", c.name.c_str(), jobs, t.seconds);
      (jobs == 1 ? s1 : jobs == 2 ? s2 : s0).push_back(static_cast<double>(t.runs) / t.seconds);
      if (jobs == 1) c1.push_back(t.cpu_seconds * 1e9 / static_cast<double>(t.runs));
      if (jobs == 2) {
        c2.push_back(t.cpu_seconds * 1e9 / static_cast<double>(t.runs));
        busy2.push_back(t.cpu_seconds / t.seconds);
      }
    }
    paired.push_back(s2.back() / s1.back());
  }
  out = {median_of(s1), median_of(s2), median_of(s0), median_of(c1), median_of(c2), median_of(busy2)};
  const auto [lo1, hi1] = std::minmax_element(s1.begin(), s1.end());
  const auto [lo2, hi2] = std::minmax_element(s2.begin(), s2.end());
  out.speedup = median_of(paired);
  const auto [lo, hi] = std::minmax_element(paired.begin(), paired.end());
  std::printf(
      "%s: jobs=1 %.0f runs/s, jobs=2 %.0f runs/s, speed-up %.2f× (median of the repetitions' jobs=2 / "
      "jobs=1, %.2f-%.2f); jobs=0 (default, %u threads) %.0f runs/s\n",
      c.name.c_str(), out.jobs1, out.jobs2, out.speedup, *lo, *hi,
      std::max(1u, std::thread::hardware_concurrency()), out.jobs0);
  std::printf(
      "  %s; %s per repetition; median of %d (jobs=1 %.0f-%.0f, jobs=2 %.0f-%.0f runs/s)\n",
      text(first).c_str(),
      c.whole_search > 0 ? (std::to_string(n) + " searches").c_str() : (std::to_string(n) + " runs").c_str(),
      reps, *lo1, *hi1, *lo2, *hi2);
  std::printf("  CPU per run: jobs=1 %.0f ns, jobs=2 %.0f ns (x%.2f); jobs=2 kept %.2f CPUs busy\n", out.cpu1,
              out.cpu2, out.cpu2 / out.cpu1, out.cpus2);
  return 0;
}

// --- the cost of coverage ------------------------------------------------------------------------

// A loop of fresh Simulations running the body, seeds 0..runs-1: explore() without its search.
double loop_runs_per_second(const Body& body, const std::string& strategy, int runs) {
  const auto start = Clock::now();
  for (int i = 0; i < runs; ++i) {
    racelab::Simulation sim({.seed = static_cast<std::uint64_t>(i), .strategy = strategy});
    body(sim);
    if (!sim.outcome().ok()) {
      std::printf("loop: seed %d: %s\n", i, sim.outcome().message().c_str());
      std::exit(1);
    }
  }
  return runs / seconds_since(start);
}

// Coverage::add() alone on the body's traces, into a Coverage that holds them already.
double add_ns(const Body& body, const std::string& strategy, double min_seconds) {
  std::vector<racelab::Trace> traces;
  for (int i = 0; i < 64; ++i) {
    racelab::Simulation sim({.seed = static_cast<std::uint64_t>(i), .strategy = strategy});
    body(sim);
    traces.push_back(sim.outcome().trace());
  }
  racelab::Coverage cov;
  for (const auto& t : traces) cov.add(t);
  std::uint64_t adds = 0;
  const auto start = Clock::now();
  double s = 0;
  while ((s = seconds_since(start)) < min_seconds)
    for (int i = 0; i < 10'000; ++i, ++adds) cov.add(traces[static_cast<std::size_t>(i) % traces.size()]);
  if (cov.runs() != adds + traces.size()) std::exit(1);
  return s * 1e9 / static_cast<double>(adds);
}

void coverage_cost(const Case& c, int reps, double min_seconds, double explore_jobs1) {
  // As many runs as explore's calibration gave about 2 x min_seconds at jobs=1.
  const int runs = std::max(1000, static_cast<int>(explore_jobs1 * 2 * min_seconds));
  std::vector<double> loop, add;
  for (int rep = 0; rep < reps; ++rep) {
    loop.push_back(loop_runs_per_second(c.body, c.strategy, runs));
    add.push_back(add_ns(c.body, c.strategy, min_seconds));
  }
  const double loop_rate = median_of(loop), add_cost = median_of(add);
  const double explore_ns = 1e9 / explore_jobs1, loop_ns = 1e9 / loop_rate;
  std::printf(
      "%s: explore jobs=1 %.0f runs/s (%.0f ns/run), Simulation loop %.0f runs/s (%.0f ns/run): explore "
      "costs %+.0f ns/run (%+.1f%%); Coverage::add %.0f ns/run = %.1f%% of an explore run\n",
      c.name.c_str(), explore_jobs1, explore_ns, loop_rate, loop_ns, explore_ns - loop_ns,
      100.0 * (explore_ns - loop_ns) / loop_ns, add_cost, 100.0 * add_cost / explore_ns);
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a.empty() ? "unknown" : a + " " + b + " " + c;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  double min_seconds = 0.5;
  std::string only;
  int profile_jobs = -1, profile_runs = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--profile" && i + 2 < argc) {
      profile_jobs = std::atoi(argv[++i]);
      profile_runs = std::atoi(argv[++i]);
    } else if (arg == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (arg == "--min-seconds" && i + 1 < argc) {
      min_seconds = std::atof(argv[++i]);
    } else if (arg == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--reps N] [--min-seconds S] [--only NAME] [--profile JOBS RUNS]\n",
                   argv[0]);
      return 2;
    }
  }
  if (reps < 1 || min_seconds <= 0) {
    std::fprintf(stderr, "--reps must be >= 1 and --min-seconds > 0\n");
    return 2;
  }
  const Body bank = [](racelab::Simulation& sim) {
    lab::bank::simulate_double_spend(sim, lab::Strategy::mutex);
  };
  auto model = [](int tasks) {
    return Body(
        [tasks](racelab::Simulation& sim) { RACELAB_ASSERT(lock_model::body(sim, tasks, true) == 1); });
  };
  const std::vector<Case> cases = {
      {"bank random", "random", bank},
      {"bank dfs", "dfs", bank, 162},
      {"bank3 dfs", "dfs", bank_three_transfers, 0, 400000},  // its tree: 449,064 runs
      {"model/2 random", "random", model(2)},
      {"model/4 random", "random", model(4)},
  };
  std::printf(
      "jobs_benchmark: %u hardware threads, load average %s; median of %d, >= %.2f s per repetition\n",
      std::thread::hardware_concurrency(), load_average().c_str(), reps, min_seconds);
  if (profile_jobs >= 0) {  // one measurement of each case (or --only's) under a profiler
    for (const auto& c : cases) {
      if (!only.empty() && only != c.name) continue;
      Timed t = measure(c, profile_jobs, profile_runs);
      std::printf("%s: jobs=%d %.0f runs/s, %.0f CPU ns/run, %.2f CPUs busy (%s)\n", c.name.c_str(),
                  profile_jobs, static_cast<double>(t.runs) / t.seconds,
                  t.cpu_seconds * 1e9 / static_cast<double>(t.runs), t.cpu_seconds / t.seconds,
                  text(t.answer).c_str());
    }
    return 0;
  }
  int failures = 0;
  std::vector<std::pair<const Case*, double>> random_cases;
  for (const auto& c : cases) {
    if (!only.empty() && only != c.name) continue;
    Speed s;
    failures += run_case(c, reps, min_seconds, s);
    if (c.strategy == "random") random_cases.emplace_back(&c, s.jobs1);
  }
  if (failures != 0) return 1;
  std::printf("the cost of coverage (load average %s)\n", load_average().c_str());
  for (const auto& [c, jobs1] : random_cases) coverage_cost(*c, reps, min_seconds, jobs1);
  return 0;
}
