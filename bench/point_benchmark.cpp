// What a point costs. Disarmed (production): one relaxed load and a not-taken branch, compared with
// the same loop without the point. Armed: the slow path a Hooks scope pays for observation.
// Run: make bench   (or build/release/bench/point_benchmark)
#include <racelab/hooks.hpp>
#include <racelab/observe.hpp>
#include <racelab/point.hpp>

#include <benchmark/benchmark.h>

namespace {

// The loop body every variant shares: one value kept live so the loop cannot be folded away.
void BM_EmptyLoop(benchmark::State& state) {
  int x = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(++x);
  }
}
BENCHMARK(BM_EmptyLoop);

void BM_DisarmedPoint(benchmark::State& state) {
  int x = 0;
  for (auto _ : state) {
    RACELAB_POINT("bench.point");
    benchmark::DoNotOptimize(++x);
  }
}
BENCHMARK(BM_DisarmedPoint);

int value() { return 1; }

void BM_DisarmedCall(benchmark::State& state) {
  int x = 0;
  for (auto _ : state) {
    x += RACELAB_CALL("bench.call", value());
    benchmark::DoNotOptimize(x);
  }
}
BENCHMARK(BM_DisarmedCall);

void BM_CallWithoutPoints(benchmark::State& state) {
  int x = 0;
  for (auto _ : state) {
    x += value();
    benchmark::DoNotOptimize(x);
  }
}
BENCHMARK(BM_CallWithoutPoints);

// Armed by a Hooks scope with no action on this point: counting and the hooks lookup.
void BM_ArmedPointNoAction(benchmark::State& state) {
  racelab::Hooks hooks;
  int x = 0;
  for (auto _ : state) {
    RACELAB_POINT("bench.point_armed");
    benchmark::DoNotOptimize(++x);
  }
}
BENCHMARK(BM_ArmedPointNoAction);

// Armed with an always-on callback at this point.
void BM_ArmedPointWithCallback(benchmark::State& state) {
  racelab::Hooks hooks;
  int calls = 0;
  hooks.after("bench.point_cb", [&] { ++calls; }).always();
  for (auto _ : state) {
    RACELAB_POINT("bench.point_cb");
  }
  benchmark::DoNotOptimize(calls);
}
BENCHMARK(BM_ArmedPointWithCallback);

// A PointLog recording: what the lab service pays per point for a transfer's span. One log per
// transfer-sized batch of 8 points; the time reported is per point.
void BM_PointLogRecording(benchmark::State& state) {
  for (auto _ : state) {
    racelab::PointLog log;
    for (int i = 0; i < 8; ++i) RACELAB_POINT("bench.point_logged");
    benchmark::DoNotOptimize(log.entries().data());
  }
  state.SetItemsProcessed(state.iterations() * 8);
}
BENCHMARK(BM_PointLogRecording);

}  // namespace
