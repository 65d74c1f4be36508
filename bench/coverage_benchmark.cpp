// What coverage costs per run: Coverage::add on a short trace (2 tasks x 10 points, ~23 steps) and
// a long one (2 tasks x 500 points, ~1,000 steps), with the exact schedule set and past its cap,
// next to one simulated run of the bank with and without coverage; and a shard merge.
// Run: make bench
#include <racelab/coverage.hpp>
#include <racelab/racelab.hpp>

#include <benchmark/benchmark.h>

#include <vector>

#include "bank_model.hpp"

namespace {

std::vector<racelab::Trace> traces(int points_per_task, int count) {
  std::vector<racelab::Trace> out;
  for (int seed = 0; seed < count; ++seed) {
    racelab::Simulation sim({.seed = static_cast<std::uint64_t>(seed)});
    for (const char* name : {"A", "B"}) {
      sim.spawn(name, [points_per_task] {
        for (int i = 0; i < points_per_task; ++i) {
          RACELAB_POINT("bench.cov_read");
          RACELAB_POINT("bench.cov_write");
        }
      });
    }
    out.push_back(sim.run().trace());
  }
  return out;
}

// `points` points per task; `prefill` distinct runs added first (past 4096: the HyperLogLog).
void add_runs(benchmark::State& state, int points, int prefill) {
  const auto runs = traces(points / 2, 64);
  racelab::Coverage cov;
  for (const auto& t : traces(points / 2, prefill)) cov.add(t);
  std::size_t i = 0, steps = 0;
  for (auto _ : state) {
    const auto& t = runs[i++ % runs.size()];
    cov.add(t);
    steps += t.steps().size();
  }
  benchmark::DoNotOptimize(cov.runs());
  state.counters["steps_per_run"] = static_cast<double>(steps) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());  // items: runs
}

void BM_CoverageAddShortTrace(benchmark::State& state) { add_runs(state, 10, 0); }
BENCHMARK(BM_CoverageAddShortTrace);

void BM_CoverageAddShortTracePastExactCap(benchmark::State& state) { add_runs(state, 10, 6000); }
BENCHMARK(BM_CoverageAddShortTracePastExactCap);

void BM_CoverageAddLongTrace(benchmark::State& state) { add_runs(state, 500, 0); }
BENCHMARK(BM_CoverageAddLongTrace);

// One run of the bank (as sim_benchmark's BM_BankScheduleFibersNoThrow), and the same plus add().
void bank(benchmark::State& state, bool with_coverage) {
  std::uint64_t seed = 0;
  racelab::Coverage cov;
  for (auto _ : state) {
    sim_test::Store s;
    racelab::Simulation sim({.seed = seed++});
    sim.spawn("A", [&s] { sim_test::try_transfer(s, 1, 2, 100); });
    sim.spawn("B", [&s] { sim_test::try_transfer(s, 1, 2, 70); });
    auto out = sim.run();
    if (with_coverage) cov.add(out.trace());
    benchmark::DoNotOptimize(out.steps());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_BankRun(benchmark::State& state) { bank(state, false); }
BENCHMARK(BM_BankRun);

void BM_BankRunWithCoverage(benchmark::State& state) { bank(state, true); }
BENCHMARK(BM_BankRunWithCoverage);

// Merging a shard's report: from_json + merge of a 6,000-run coverage (past the exact cap).
void BM_CoverageMergeShardJson(benchmark::State& state) {
  racelab::Coverage shard;
  for (const auto& t : traces(5, 6000)) shard.add(t);
  const std::string text = shard.json();
  for (auto _ : state) {
    racelab::Coverage total;
    total.merge(racelab::Coverage::from_json(text));
    benchmark::DoNotOptimize(total.runs());
  }
  state.counters["json_bytes"] = static_cast<double>(text.size());
}
BENCHMARK(BM_CoverageMergeShardJson)->Unit(benchmark::kMicrosecond);

}  // namespace
