#!/usr/bin/env bash
# What `racelab run` costs: a scheduling point's round trip through the driver, one run's fork,
# an instrumented plain access (outside a run, in a run, with the race detector), and schedules
# per second of a small 3-thread search, with and without the detector, and on every CPU
# (--jobs 0) against one.
#
#   bench/run_benchmark.sh RACELAB_BINARY [--reps 3] [--runs 2000]
#
# Builds bench/run/*.c into a temporary directory with `RACELAB_BINARY cc -O1 -g` (accesses.c also
# with plain `cc -O1` as the uninstrumented reference), then prints a Markdown table
# (docs/benchmarks.md keeps one). Every cell is wall-clock time (`date +%s%N`) taken as a
# difference between a large and a small case, so that racelab's start-up and the program's exec
# cancel out: per point, (t(K pairs) - t(0 pairs)) / 4K; per access, (t(N) - t(0)) / 2N; per
# schedule, (t(R runs) - t(1 run)) / (R - 1). A cell is the median over --reps repetitions, with
# the range in parentheses. Every racelab run must pass ("no failure in R run(s)", exit 0, no data
# race): anything else stops the script with the command and its output.
set -euo pipefail
racelab=${1:?usage: bench/run_benchmark.sh RACELAB_BINARY [--reps N] [--runs N]}
racelab=$(realpath "$(command -v "$racelab")")  # the script works in a temporary directory
shift
reps=3 search_runs=2000
while [ $# -gt 0 ]; do
  case $1 in
    --reps) reps=$2; shift 2 ;;
    --runs) search_runs=$2; shift 2 ;;
    *) echo "run_benchmark.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pairs=10000                  # handoff.c: lock/unlock pairs per thread (4 * pairs threading calls)
iterations=50000000          # accesses.c: iterations (2 accesses each) outside the detector
iterations_detect=5000000    # ... with the race detector on (about 10x slower per access)
fork_runs=2000               # no_threads.c: runs per measurement

for program in handoff no_threads accesses three_threads; do
  "$racelab" cc -O1 -g -o "$work/$program" "$here/run/$program.c"
done
cc -O1 -g -o "$work/accesses_plain" "$here/run/accesses.c"
cd "$work"

# Runs a command, prints its wall time in ns; its output is left in $work/out.
wall_ns() {
  local start end
  start=$(date +%s%N)
  if ! "$@" >"$work/out" 2>&1; then
    echo "run_benchmark.sh: failed: $*" >&2
    cat "$work/out" >&2
    return 1
  fi
  end=$(date +%s%N)
  echo $((end - start))
}

# `racelab run OPTIONS -- PROGRAM ARGS`, checked: prints "NS RUNS" (RUNS: the runs it reports).
racelab_ns() {
  local ns runs
  ns=$(wall_ns "$racelab" run "$@") || return 1
  runs=$(sed -n 's/^racelab run: no failure in \([0-9]*\) run(s) of .*/\1/p' "$work/out")
  if [ -z "$runs" ] || grep -q "data race" "$work/out"; then
    echo "run_benchmark.sh: unexpected result of: $racelab run $*" >&2
    cat "$work/out" >&2
    return 1
  fi
  echo "$ns $runs"
}

# The median of the arguments, with their range: "MEDIAN (MIN–MAX)", formatted with printf FORMAT.
median_range() {
  local format=$1
  shift
  printf '%s\n' "$@" | sort -g | awk -v f="$format" '{v[NR] = $1}
    END {printf f " (" f "–" f ")", v[int((NR + 1) / 2)], v[1], v[NR]}'
}

row() { echo "| $1 | ${2:+\`$2\`} | $3 |"; }

# 1. A scheduling point: µs per threading call, handoff.c with `pairs` against 0.
point_us() {
  local label=$1
  shift
  local values=() i small big
  for ((i = 0; i < reps; i++)); do
    small=$(racelab_ns "$@" --runs 1 -- ./handoff 0)
    big=$(racelab_ns "$@" --runs 1 -- ./handoff "$pairs")
    values+=("$(awk -v b="${big% *}" -v s="${small% *}" -v n=$((4 * pairs)) 'BEGIN {print (b - s) / n / 1000}')")
  done
  row "$label" "racelab run $* --runs 1 -- handoff $pairs" "$(median_range %.1f "${values[@]}") µs per call"
}

# Runs per second of `racelab run OPTIONS --runs R -- PROGRAM` against `--runs 1`: one measurement.
runs_per_second() {
  local runs=$1 program=$2 one many
  shift 2
  one=$(racelab_ns "$@" --runs 1 -- "$program") || return 1
  many=$(racelab_ns "$@" --runs "$runs" -- "$program") || return 1
  awk -v m="${many% *}" -v o="${one% *}" -v r="${many#* }" 'BEGIN {print (r - 1) * 1e9 / (m - o)}'
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# A row of runs per second: LABEL COMMAND VALUES...
runs_row() {
  local label=$1 command=$2
  shift 2
  row "$label" "$command" \
    "$(median_range %.0f "$@") runs/s, $(awk -v v="$(median "$@")" 'BEGIN {printf "%.0f", 1e6 / v}') µs per run"
}

# 1. One run's fixed cost: no_threads.c, runs per second.
fork_rate() {
  local values=() i options=(--jobs 1 --points sync --races ignore)
  for ((i = 0; i < reps; i++)); do values+=("$(runs_per_second "$fork_runs" ./no_threads "${options[@]}")"); done
  runs_row "one run of a program without threads (fork, handshake, exit)" \
    "racelab run ${options[*]} --runs $fork_runs -- no_threads" "${values[@]}"
}

# 2. An access: ns per access of accesses.c with N iterations against 0, the command given after N.
access_ns() {
  local label=$1 n=$2
  shift 2
  local values=() i small big
  for ((i = 0; i < reps; i++)); do
    if [ "$1" = run ]; then
      small=$(racelab_ns "${@:2}" --runs 1 -- ./accesses 0)
      big=$(racelab_ns "${@:2}" --runs 1 -- ./accesses "$n")
      small=${small% *} big=${big% *}
    else
      small=$(wall_ns "$@" 0)
      big=$(wall_ns "$@" "$n")
    fi
    values+=("$(awk -v b="$big" -v s="$small" -v n=$((2 * n)) 'BEGIN {print (b - s) / n}')")
  done
  local shown="${*#./} $n"
  if [ "$1" = run ]; then shown="racelab run ${*:2} --runs 1 -- accesses $n"; fi
  row "$label" "$shown" "$(median_range %.2f "${values[@]}") ns per access"
}

# 3, 4 and 5. three_threads.c under STRATEGY: with one worker, without and with the race detector,
# and on every CPU (--jobs 0, the default: one worker per usable CPU, each pinned with its program
# to a CPU of its own). The three are measured back to back in each repetition, and the slowdown
# and the speed-up are medians of the repetitions' own ratios, so that a burst of load on this
# shared machine skews both sides of a ratio alike.
search_rates() {
  local strategy=$1 ignore=() report=() all=() slowdown=() speedup=() i a b c
  local options=(--strategy "$strategy" --points sync)
  for ((i = 0; i < reps; i++)); do
    a=$(runs_per_second "$search_runs" ./three_threads --jobs 1 "${options[@]}" --races ignore)
    b=$(runs_per_second "$search_runs" ./three_threads --jobs 1 "${options[@]}" --races report)
    c=$(runs_per_second "$search_runs" ./three_threads --jobs 0 "${options[@]}" --races ignore)
    ignore+=("$a") report+=("$b") all+=("$c")
    slowdown+=("$(awk -v a="$a" -v b="$b" 'BEGIN {print a / b}')")
    speedup+=("$(awk -v a="$a" -v c="$c" 'BEGIN {print c / a}')")
  done
  local command="racelab run --strategy $strategy --points sync --runs $search_runs"
  runs_row "3 threads, $serial_points points in a serial run, $strategy, no detector" \
    "${command/run /run --jobs 1 } --races ignore -- three_threads" "${ignore[@]}"
  runs_row "the same, race detector on" "${command/run /run --jobs 1 } --races report -- three_threads" "${report[@]}"
  row "detector slowdown, $strategy" "" "$(median_range %.2f "${slowdown[@]}")× (ignore runs/s ÷ report runs/s)"
  runs_row "3 threads, $strategy, no detector, --jobs 0 ($(nproc) workers)" \
    "${command/run /run --jobs 0 } --races ignore -- three_threads" "${all[@]}"
  row "speed-up of --jobs 0 over --jobs 1, $strategy" "" "$(median_range %.2f "${speedup[@]}")×"
}

# PCT's serial probe run counts the scheduling decisions of a run without preemptions ("pct:1:K").
racelab_ns --jobs 1 --strategy pct:1 --points sync --races ignore --runs 1 -- ./three_threads >/dev/null
serial_points=$(sed -n 's/.*(pct:1:\([0-9]*\)).*/\1/p' "$work/out")

echo "racelab run, $(nproc) cores, $(date -u +%F), $reps repetitions; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| measurement | command | median (range) |"
echo "|---|---|---|"
point_us "scheduling point, random (a thread switch at about half the points)" --jobs 1 --points sync --races ignore
point_us "scheduling point, dfs:0 (the same thread resumes)" --jobs 1 --strategy dfs:0 --points sync --races ignore
point_us "scheduling point, random, not pinned to one CPU" --jobs 1 --no-pin --points sync --races ignore
fork_rate
access_ns "plain access, built with plain \`cc -O1\` (reference)" "$iterations" ./accesses_plain
access_ns "instrumented access, run natively (outside a run)" "$iterations" ./accesses
access_ns "instrumented access, in a run, no detector" "$iterations" run --jobs 1 --points sync --races ignore
access_ns "instrumented access, in a run, race detector on" "$iterations_detect" run --jobs 1 --points sync --races report
search_rates random
search_rates dfs:2
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
