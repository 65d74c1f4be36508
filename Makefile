# racelab: `make demo` and `make test` work on a fresh Debian bookworm machine (they install what is
# missing first). PRESET picks the CMake preset for build/demo/bench (release by default).
PRESET ?= release
BUILD  := build/$(PRESET)
JOBS   ?= 2

.PHONY: all deps test-deps build demo test test-fast sanitize asan tsan clang bench fuzz format format-check clean

all: build

deps:
	@scripts/install-deps

test-deps:
	@scripts/install-deps test

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

# The demo's last chapters run on PostgreSQL and MariaDB: throwaway servers, stopped after.
demo: build
	@conn=$$(scripts/pg start $(BUILD)/pg) || conn=""; \
	maria=$$(scripts/mariadb start $(BUILD)/mariadb) || maria=""; \
	$(BUILD)/tools/racelab/racelab demo $${conn:+--pg "$$conn"} $${maria:+--mariadb "$$maria"}; rc=$$?; \
	[ -z "$$conn" ] || scripts/pg stop $(BUILD)/pg >/dev/null; \
	[ -z "$$maria" ] || scripts/mariadb stop $(BUILD)/mariadb >/dev/null; exit $$rc

# The whole suite: the release build's tests, then the library's tests under ASan+UBSan and TSan,
# and built by Clang.
test: test-fast sanitize clang

test-fast: test-deps build
	@ctest --preset $(PRESET) -j $(JOBS)

sanitize: asan tsan

asan tsan: deps
	@cmake --preset $@ >/dev/null
	@cmake --build --preset $@ -j $(JOBS)
	@ctest --preset $@ -j $(JOBS)

# The library and its tests built by Clang (Release, warnings as errors), so Clang stays green.
clang: test-deps
	@cmake --preset $@ >/dev/null
	@cmake --build --preset $@ -j $(JOBS)
	@ctest --preset $@ -j $(JOBS)

bench: test-deps build fuzz
	@$(BUILD)/bench/point_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
	@$(BUILD)/bench/sim_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
	@$(BUILD)/bench/coverage_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
	@$(BUILD)/bench/strategy_compare
	@$(BUILD)/bench/model_benchmark
	@$(BUILD)/bench/jobs_benchmark
	@$(BUILD)/bench/history_benchmark
	@RACELAB_PROPERTY_SCENARIOS=30000 $(BUILD)/tests/racelab_lib_tests --gtest_filter='GeneratedScenarios.*'
	@bench/run_benchmark.sh $(BUILD)/tools/racelab/racelab
	@maria=$$(scripts/mariadb start $(BUILD)/mariadb) && \
	  $(BUILD)/tools/racelab/racelab isolation --db "$$maria" --schema racelab_bench_isolation; rc=$$?; \
	  scripts/mariadb stop $(BUILD)/mariadb; exit $$rc
	@conn=$$(scripts/pg start $(BUILD)/pg) && $(BUILD)/bench/db_benchmark --pg "$$conn" && \
	  bench/service_wrk.sh $(BUILD)/tools/racelab/racelab --pg "$$conn" && \
	  bench/million.sh $(BUILD)/tools/racelab/racelab --pg "$$conn" && \
	  RACELAB_PG_DIR=$(BUILD)/pg bench/soak.sh $(BUILD); rc=$$?; scripts/pg stop $(BUILD)/pg; exit $$rc

# libFuzzer on the service's request parsing (fuzz/request_fuzzer.cpp), built by Clang with ASan and
# UBSan, for FUZZ_SECONDS (60 by default). Findings are written to build/fuzz/findings/.
FUZZ_SECONDS ?= 60
fuzz: test-deps
	@cmake --preset $@ >/dev/null
	@cmake --build --preset $@ -j $(JOBS)
	@mkdir -p build/fuzz/corpus build/fuzz/findings && cp -n fuzz/corpus/* build/fuzz/corpus/
	@build/fuzz/fuzz/request_fuzzer build/fuzz/corpus -dict=fuzz/request.dict -max_total_time=$(FUZZ_SECONDS) \
	  -print_final_stats=1 -artifact_prefix=build/fuzz/findings/

FORMAT_FILES = $(shell git ls-files '*.cpp' '*.hpp')
format:
	@clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	@rm -rf build
