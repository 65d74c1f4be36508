// Engine speed on the model other C++ checkers are timed on: N tasks each lock a racelab::mutex,
// read a balance of 100, pass a point, withdraw 60 if it is there, and unlock; after the run
// RACELAB_ASSERT checks that at most one withdrawal succeeded. Strategy random, 200,000 runs,
// driven two ways: through explore() (how users run it) and as a loop of fresh Simulations. Also
// Resonate's bank (BM_BankScheduleFibersNoThrow in sim_benchmark.cpp) as schedules per second.
//
// Prints runs/s and ns/run, the median of 5 repetitions. Exits non-zero if a check fails, so a
// broken engine cannot post a fast number; `--broken` drops the lock and must fail. `--parts` adds
// the fixed cost of a run in parts (construction, spawning, running no-op tasks).
// RACELAB_BENCH_COUNT_ALLOCS=1 also counts operator new calls per run (one extra branch per
// allocation; off by default).
//
// Run: build/release/bench/model_benchmark [--broken] [--parts] [--runs N] [--reps N] [--only NAME]
#include <racelab/racelab.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "bank_model.hpp"
#include "lock_model.hpp"

// --- allocation counting ------------------------------------------------------------------------

namespace {
bool g_count_allocs = false;      // set from RACELAB_BENCH_COUNT_ALLOCS before any run
std::uint64_t g_allocations = 0;  // operator new calls while counting (single-threaded program)
std::uint64_t g_allocated_bytes = 0;
}  // namespace

// A replacement operator new/delete pair over malloc/free; GCC cannot tell the pair is matched.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  if (g_count_allocs) {
    ++g_allocations;
    g_allocated_bytes += size;
  }
  for (;;) {
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

using lock_model::kTaskNames;
using lock_model::Tally;

void model_body(racelab::Simulation& sim, int tasks, bool locked, Tally& tally) {
  static_cast<void>(lock_model::body(sim, tasks, locked, &tally));
}

struct Measured {
  double seconds = 0;
  std::uint64_t runs = 0;
  std::uint64_t steps = 0;
  bool ok = true;
  std::string why;
};

Measured model_explore(int tasks, int runs, bool locked) {
  Tally tally;
  const auto start = std::chrono::steady_clock::now();
  auto report =
      racelab::explore({.runs = runs, .strategy = "random", .minimize = false, .use_env = false, .jobs = 1},
                       [&](racelab::Simulation& sim) { model_body(sim, tasks, locked, tally); });
  Measured m;
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.runs = static_cast<std::uint64_t>(report.runs());
  m.steps = tally.steps;
  if (report.failed()) {
    m.ok = false;
    m.why = report.summary() + ": " + report.outcome().message();
  } else if (report.runs() != runs || tally.successes != static_cast<std::uint64_t>(runs)) {
    m.ok = false;
    m.why = "expected " + std::to_string(runs) + " runs with one withdrawal each, got " +
            std::to_string(report.runs()) + " runs and " + std::to_string(tally.successes) + " withdrawals";
  }
  return m;
}

Measured model_loop(int tasks, int runs, bool locked) {
  Tally tally;
  Measured m;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) {
    racelab::Simulation sim({.seed = static_cast<std::uint64_t>(i), .strategy = "random"});
    try {
      model_body(sim, tasks, locked, tally);
    } catch (const racelab::AssertionFailed& e) {
      m.ok = false;
      m.why = "seed " + std::to_string(i) + ": " + e.what();
      m.runs = static_cast<std::uint64_t>(i) + 1;
      return m;
    }
    if (!sim.outcome().ok()) {
      m.ok = false;
      m.why = "seed " + std::to_string(i) + ": " + sim.outcome().message();
      m.runs = static_cast<std::uint64_t>(i) + 1;
      return m;
    }
  }
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.runs = static_cast<std::uint64_t>(runs);
  m.steps = tally.steps;
  if (tally.successes != static_cast<std::uint64_t>(runs)) {
    m.ok = false;
    m.why = "expected one withdrawal per run, got " + std::to_string(tally.successes) + " in " +
            std::to_string(runs) + " runs";
  }
  return m;
}

// --- Resonate's bank: BM_BankScheduleFibersNoThrow as a plain loop ------------------------------

Measured bank_loop(int /*tasks*/, int runs, bool /*locked*/) {
  Measured m;
  std::uint64_t steps = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) {
    sim_test::Store s;
    racelab::Simulation sim({.seed = static_cast<std::uint64_t>(i)});
    sim.spawn("A", [&s] { sim_test::try_transfer(s, 1, 2, 100); });
    sim.spawn("B", [&s] { sim_test::try_transfer(s, 1, 2, 70); });
    steps += sim.run().steps();
    RACELAB_ASSERT(s.total() == 100);  // money is neither made nor lost, race or not
  }
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.runs = static_cast<std::uint64_t>(runs);
  m.steps = steps;
  if (steps < static_cast<std::uint64_t>(runs) * 5) {
    m.ok = false;
    m.why = "the bank made only " + std::to_string(steps) + " decisions in " + std::to_string(runs) + " runs";
  }
  return m;
}

// --- the fixed cost of a run, in parts (--parts) ----------------------------------------------
// What a run costs before the model does anything: a Simulation made and destroyed; with N no-op
// tasks spawned but never run; with those tasks run (a fiber each, a decision at the start and at
// each end). The model's figure minus the last is what its points, lock and contention cost.

Measured parts_construct(int /*tasks*/, int runs, bool /*locked*/) {
  Measured m;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) {
    racelab::Simulation sim({.seed = static_cast<std::uint64_t>(i)});
    m.steps += sim.task_count();  // 0; keeps the loop from being optimised away
  }
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.runs = static_cast<std::uint64_t>(runs);
  return m;
}

Measured parts_spawn(int tasks, int runs, bool /*locked*/) {
  Measured m;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) {
    racelab::Simulation sim({.seed = static_cast<std::uint64_t>(i)});
    for (int t = 0; t < tasks; ++t) sim.spawn(kTaskNames[t], [] {});
    RACELAB_ASSERT(sim.task_count() == static_cast<std::size_t>(tasks));
  }
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.runs = static_cast<std::uint64_t>(runs);
  return m;
}

Measured parts_run_empty(int tasks, int runs, bool /*locked*/) {
  Measured m;
  int ran = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) {
    racelab::Simulation sim({.seed = static_cast<std::uint64_t>(i)});
    for (int t = 0; t < tasks; ++t) sim.spawn(kTaskNames[t], [&ran] { ++ran; });
    m.steps += sim.run().steps();
  }
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.runs = static_cast<std::uint64_t>(runs);
  if (ran != runs * tasks) {
    m.ok = false;
    m.why = std::to_string(ran) + " task bodies ran, expected " + std::to_string(runs * tasks);
  }
  return m;
}

// --- driver -------------------------------------------------------------------------------------

struct Case {
  const char* name;
  const char* unit;  // what one run is called in the output
  Measured (*fn)(int, int, bool);
  int tasks;
};

// CPU time of this thread: on a machine shared with other work it moves less than wall time
// (time slices given to others do not count; a busy sibling core or cache still does).
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int run_case(const Case& c, int runs, int reps, bool locked) {
  std::vector<double> per_second, cpu_ns_per_run;
  double steps_per_run = 0;
  for (int r = 0; r < reps; ++r) {
    const auto before = g_allocations;
    const auto before_bytes = g_allocated_bytes;
    const double cpu_start = thread_cpu_seconds();
    Measured m = c.fn(c.tasks, runs, locked);
    cpu_ns_per_run.push_back((thread_cpu_seconds() - cpu_start) * 1e9 / static_cast<double>(m.runs));
    if (!m.ok) {
      std::printf("%-20s FAILED after %llu runs: %s\n", c.name, static_cast<unsigned long long>(m.runs),
                  m.why.c_str());
      return 1;
    }
    per_second.push_back(static_cast<double>(m.runs) / m.seconds);
    steps_per_run = static_cast<double>(m.steps) / static_cast<double>(m.runs);
    if (g_count_allocs && r == 0)
      std::printf("%-20s %.2f allocations/run, %.0f bytes/run\n", c.name,
                  static_cast<double>(g_allocations - before) / static_cast<double>(m.runs),
                  static_cast<double>(g_allocated_bytes - before_bytes) / static_cast<double>(m.runs));
  }
  const double median = median_of(per_second);
  const auto [lo, hi] = std::minmax_element(per_second.begin(), per_second.end());
  std::printf(
      "%-20s %6.3f M %s/s %7.1f ns/run %7.1f cpu-ns/run %4.1f decisions/run (median of %d; %.3f-%.3f M)\n",
      c.name, median / 1e6, c.unit, 1e9 / median, median_of(cpu_ns_per_run), steps_per_run, reps, *lo / 1e6,
      *hi / 1e6);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 200'000, reps = 5;
  bool locked = true, with_parts = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--broken") {
      locked = false;
    } else if (arg == "--parts") {
      with_parts = true;
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (arg == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (arg == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--broken] [--parts] [--runs N] [--reps N] [--only NAME]\n", argv[0]);
      return 2;
    }
  }
  if (runs < 1 || reps < 1) {
    std::fprintf(stderr, "--runs and --reps must be >= 1\n");
    return 2;
  }
  if (const char* v = std::getenv("RACELAB_BENCH_COUNT_ALLOCS"); v != nullptr && std::strcmp(v, "1") == 0)
    g_count_allocs = true;

  const Case cases[] = {
      {"explore/mutex/2", "runs", model_explore, 2},  {"explore/mutex/4", "runs", model_explore, 4},
      {"simulation/mutex/2", "runs", model_loop, 2},  {"simulation/mutex/4", "runs", model_loop, 4},
      {"simulation/bank", "schedules", bank_loop, 2},
  };
  const Case parts[] = {
      {"parts/construct", "runs", parts_construct, 0},   {"parts/spawn/2", "runs", parts_spawn, 2},
      {"parts/run-empty/2", "runs", parts_run_empty, 2}, {"parts/spawn/4", "runs", parts_spawn, 4},
      {"parts/run-empty/4", "runs", parts_run_empty, 4},
  };
  std::printf("model: N tasks lock, read 100, point, withdraw 60; %d runs per repetition%s\n", runs,
              locked ? "" : " (--broken: no lock, must fail)");
  int failures = 0;
  try {
    for (const auto& c : cases) {
      if (!only.empty() && only != c.name) continue;
      if (!locked && c.fn == bank_loop) continue;
      failures += run_case(c, runs, reps, locked);
    }
    for (const auto& c : parts) {
      if ((with_parts && only.empty()) || only == c.name) failures += run_case(c, runs, reps, locked);
    }
  } catch (const racelab::AssertionFailed& e) {  // a check outside explore() (the bank, the parts)
    std::printf("FAILED: %s\n", e.what());
    return 1;
  }
  if (!locked) {
    if (failures == 0) {
      std::printf("--broken: every run passed; the check does not see the race\n");
      return 1;
    }
    std::printf("--broken: failed as it must\n");
    return 0;
  }
  return failures == 0 ? 0 : 1;
}
