#!/usr/bin/env bash
# `racelab run --jobs N`: one answer whatever N. The same search at --jobs 1, 2 and 3 prints the
# same story (runs, failing seed and minimal schedule, races in the same order) and writes the same
# --json but for `jobs` and `seconds`, for random and DFS searches, failing and passing; bad
# --jobs values are exit 2; the same story under every placement of the program's threads; no
# program process outlives racelab.
#
#   tests/run/jobs.sh RACELAB WORK_DIR
. "$(dirname "$0")/../cli/lib.sh"
set -o pipefail
racelab=$1
work=$2
programs=$(cd "$(dirname "$0")/programs" && pwd)
mkdir -p "$work"
cd "$work" || exit 1

# Three plain variables, written by two threads in opposite orders: which race a run sees first
# depends on its schedule, so with several workers the first-seen order would vary.
cat >three_races.c <<'C'
#include <pthread.h>
int x, y, z;
static void *forward(void *arg) { (void)arg; x = 1; y = 1; z = 1; return 0; }
static void *backward(void *arg) { (void)arg; z = 2; y = 2; x = 2; return 0; }
int main(void) {
  pthread_t a, b;
  pthread_create(&a, 0, forward, 0);
  pthread_create(&b, 0, backward, 0);
  pthread_join(a, 0);
  pthread_join(b, 0);
  return 0;
}
C
"$racelab" cc -O1 -g -o three_races three_races.c || fail "racelab cc three_races.c"
"$racelab" cc -O1 -g -o lost_update "$programs/lost_update.c" || fail "racelab cc lost_update.c"
"$racelab" cc -O1 -g -o lost_update_fixed "$programs/lost_update_fixed.c" || fail "racelab cc lost_update_fixed.c"

# same_for_jobs RC NAME ARGS...: the output and the --json (less jobs and seconds) of --jobs 1, 2, 3.
same_for_jobs() {
  local rc=$1 name=$2
  shift 2
  local j first=""
  for j in 1 2 3; do
    run "$rc" "$racelab" run --jobs "$j" --json "$name.$j.json" "$@"
    printf '%s\n' "$out" >"$name.$j.out"
    python3 - "$name.$j.json" "$j" >"$name.$j.norm" <<'PY' || fail "$name: bad --json at --jobs $2"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["jobs"] == int(sys.argv[2]), r["jobs"]
del r["jobs"], r["seconds"]
print(json.dumps(r, sort_keys=True, indent=1))
PY
    if [ -z "$first" ]; then
      first=$out
    else
      cmp -s "$name.1.out" "$name.$j.out" || fail "$name: --jobs $j printed another story:
$(diff "$name.1.out" "$name.$j.out")"
      cmp -s "$name.1.norm" "$name.$j.norm" || fail "$name: --jobs $j wrote another --json:
$(diff "$name.1.norm" "$name.$j.norm")"
    fi
  done
  out=$first
}

# A failure by seed: the same runs, seed, minimal schedule and races; runs past it are dropped.
same_for_jobs 1 random_failure --strategy random --runs 200 -- ./lost_update
contains "lost update on counter"
contains "or: racelab run --strategy random --seed"
contains "data race"

# Races found by the search itself (no detect phase), listed in one order for any --jobs.
same_for_jobs 0 random_races --strategy random --runs 40 --detect-runs 0 -- ./three_races
contains "3 data race(s)"
same_for_jobs 0 pct_races --strategy pct:2 --runs 30 --detect-runs 0 -- ./three_races
contains "3 data race(s)"

# DFS: the same count and completeness, failing or complete.
same_for_jobs 1 dfs_failure --strategy dfs:2 --runs 5000 -- ./lost_update
contains "lost update on counter"
same_for_jobs 0 dfs_complete --strategy dfs:1 --runs 5000 -- ./lost_update_fixed
contains "every schedule within the bound explored"
# Cut by --runs: the runs counted are the bound's, whatever ran ahead of it.
same_for_jobs 0 dfs_bounded --strategy dfs --points all-accesses --runs 30 -- ./three_races
contains "no failure in 30 run(s) of ./three_races (dfs)"

# --time: chunks of runs, each an explore() call, on the same programs.
run 1 "$racelab" run --jobs 2 --time 20 --runs 300 -- ./lost_update
contains "lost update on counter"
# --shard with --jobs: shard 1/2 gives the same as alone.
run 1 "$racelab" run --jobs 1 --shard 1/2 --runs 200 -- ./lost_update
shard1=$out
run 1 "$racelab" run --jobs 2 --shard 1/2 --runs 200 -- ./lost_update
[ "$out" = "$shard1" ] || fail "--shard 1/2 differs between --jobs 1 and 2"
# RACELAB_JOBS sets it, as for explore.
RACELAB_JOBS=2 run 0 "$racelab" run --runs 20 --json env.json -- ./lost_update_fixed
python3 -c 'import json,sys; assert json.load(open("env.json"))["jobs"] == 2' || fail "RACELAB_JOBS=2 not used"
# --jobs 0: one per usable CPU.
run 0 "$racelab" run --jobs 0 --runs 20 -- ./lost_update_fixed
# The default: one worker per usable CPU, but one for a program that loads libsqlite3 or libpq
# (its runs would meet in the database).
cpus=$(nproc)
run 0 "$racelab" run --runs 20 --json default.json -- ./lost_update_fixed
python3 -c 'import json,sys; j = json.load(open("default.json"))["jobs"]; assert j == int(sys.argv[1]), j' "$cpus" ||
  fail "the default --jobs is not one per usable CPU ($cpus)"
"$racelab" c++ -O1 -g -o bank_sqlite_fixed "$programs/bank_sqlite_fixed.cpp" -lsqlite3 ||
  fail "racelab c++ bank_sqlite_fixed.cpp"
run 0 "$racelab" run --strategy random --runs 5 --json sqlite.json -- ./bank_sqlite_fixed
python3 -c 'import json; j = json.load(open("sqlite.json"))["jobs"]; assert j == 1, j' ||
  fail "a program that loads libsqlite3 ran several workers without --jobs"
run 0 "$racelab" run --jobs 2 --strategy random --runs 5 --json sqlite2.json -- ./bank_sqlite_fixed
python3 -c 'import json; j = json.load(open("sqlite2.json"))["jobs"]; assert j == 2, j' ||
  fail "--jobs 2 was not honoured for a program that loads libsqlite3"

# Several workers: each run's threads are pinned to one CPU (a worker's own), as with one worker;
# unpinned (the old way of several workers) a handoff crosses CPUs. The program fails a run whose
# thread may run on more than one CPU.
cat >pinned.c <<'C'
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
static int cpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) abort();
  return CPU_COUNT(&set);
}
static void *worker(void *arg) { (void)arg; if (cpus() != 1) { fprintf(stderr, "thread on %d CPUs\n", cpus()); abort(); } return 0; }
int main(void) {
  pthread_t t;
  pthread_create(&t, 0, worker, 0);
  pthread_join(t, 0);
  if (cpus() != 1) { fprintf(stderr, "main on %d CPUs\n", cpus()); abort(); }
  return 0;
}
C
"$racelab" cc -O1 -g -o pinned pinned.c || fail "racelab cc pinned.c"
run 0 "$racelab" run --jobs 2 --runs 20 -- ./pinned
if [ "$cpus" -gt 1 ]; then
  run 1 "$racelab" run --jobs 2 --no-pin --runs 20 -- ./pinned
  contains "CPUs"
fi

# --- bad values ---------------------------------------------------------------------------------
run 2 "$racelab" run --jobs -1 -- ./lost_update
contains "--jobs"
run 2 "$racelab" run --jobs abc -- ./lost_update
contains "--jobs"
RACELAB_JOBS=abc run 2 "$racelab" run -- ./lost_update
contains "RACELAB_JOBS='abc'"
run 0 "$racelab" run --help
contains "--jobs"

# --- placement: the same story wherever the program's threads run ---------------------------------
# RACELAB_RUN_PLACEMENT=split keeps the threads on a CPU of their own, spinning, and a thread that
# hands over to a sleeping one wakes it itself (kRelay); shared keeps them beside the driver. A
# search is the same either way: the same failure, schedule and story as the adaptive default.
if [ "$(nproc)" -ge 2 ]; then
  for strategy in random dfs:2; do
    run 1 "$racelab" run --jobs 1 --strategy "$strategy" --runs 300 -- ./lost_update
    adaptive=$out
    for placement in split shared; do
      RACELAB_RUN_PLACEMENT=$placement run 1 "$racelab" run --jobs 1 --strategy "$strategy" --runs 300 -- ./lost_update
      [ "$out" = "$adaptive" ] || fail "RACELAB_RUN_PLACEMENT=$placement ($strategy) printed another story:
$(diff <(printf '%s\n' "$adaptive") <(printf '%s\n' "$out"))"
    done
    RACELAB_RUN_PLACEMENT=split run 0 "$racelab" run --jobs 1 --strategy "$strategy" --runs 300 -- ./lost_update_fixed
  done
  # The relay is really taken when split (the story alone would not show it: without the relay the
  # driver makes the wake-up itself), and never when shared, where nobody spins.
  RACELAB_RUN_STATS=1 RACELAB_RUN_PLACEMENT=split run 0 "$racelab" run --jobs 1 --runs 100 -- ./lost_update_fixed
  relayed=$(printf '%s\n' "$out" | sed -n 's/.* \([0-9]*\) relayed (split placement)$/\1/p')
  [ -n "$relayed" ] && [ "$relayed" -gt 0 ] || fail "split placement relayed no wake-up:
$out"
  RACELAB_RUN_STATS=1 RACELAB_RUN_PLACEMENT=shared run 0 "$racelab" run --jobs 1 --runs 100 -- ./lost_update_fixed
  contains " 0 relayed (shared placement)"
fi
RACELAB_RUN_PLACEMENT=sideways run 2 "$racelab" run --jobs 1 --runs 1 -- ./lost_update
contains "RACELAB_RUN_PLACEMENT is 'sideways'"

# --- no process left behind -----------------------------------------------------------------------
# (by executable, not by name: other tests run programs called lost_update at the same time)
work_abs=$(pwd -P)
left=""
for proc in /proc/[0-9]*; do
  exe=$(readlink "$proc/exe" 2>/dev/null) || continue
  case "$exe" in "$work_abs"/*) left="$left ${proc#/proc/}:$exe" ;; esac
done
[ -z "$left" ] || fail "program processes outlived racelab:$left"
echo "jobs.sh: ok"
