#!/usr/bin/env bash
# `racelab run`, `racelab cc` and `racelab c++` from the outside: bad usage is exit 2 with a
# message naming the problem; GCC and Clang builds, separate compile and link steps, a binary that
# was not rebuilt (preloaded), a program started on its own, and a schedule from another program.
#
#   tests/run/cli.sh RACELAB WORK_DIR
. "$(dirname "$0")/../cli/lib.sh"
set -o pipefail
racelab=$1
work=$2
programs=$(cd "$(dirname "$0")/programs" && pwd)
mkdir -p "$work"
cd "$work" || exit 1

# --- usage --------------------------------------------------------------------------------------
run 2 "$racelab" run
contains "no program given"
run 2 "$racelab" run -- ./no-such-program
contains "no such program: './no-such-program'"
printf 'not a program\n' >notes.txt
chmod +x notes.txt
run 2 "$racelab" run -- ./notes.txt
contains "'./notes.txt' is not"
run 0 "$racelab" run --help
for flag in --strategy --runs --seed --schedule --time --races --points --detect-runs --fail-on-exit --trace; do
  contains "$flag"
done

"$racelab" cc -O1 -g -o lost_update "$programs/lost_update.c" || fail "racelab cc lost_update.c"
run 2 "$racelab" run --seed abc -- ./lost_update
contains "--seed 'abc' is not a number"
run 2 "$racelab" run --seed -3 -- ./lost_update
contains "--seed '-3' is not a number"
run 2 "$racelab" run --strategy zigzag -- ./lost_update
contains "strategy 'zigzag'"
not_contains "racelab run: racelab:"
run 2 "$racelab" run --runs 0 -- ./lost_update
contains "--runs"
run 2 "$racelab" run --races maybe -- ./lost_update
contains "--races must be report, fail or ignore, not 'maybe'"
run 2 "$racelab" run --points some -- ./lost_update
contains "--points must be racy, sync or all-accesses, not 'some'"
run 2 "$racelab" run --schedule 'not a schedule' -- ./lost_update
contains "schedule"
run 2 "$racelab" run --time 30x -- ./lost_update
contains "--time '30x' is not a duration"
run 2 "$racelab" run --time -1s -- ./lost_update
contains "--time '-1s' is not a duration"
run 2 "$racelab" run --strategy dfs:2 --time 30s -- ./lost_update
contains "--time works with random and pct"
run 1 "$racelab" run --time 30s --runs 500 -- ./lost_update
contains "lost update on counter"
run 1 "$racelab" run --time 500ms --runs 500 -- ./lost_update
contains "lost update on counter"

# --- racelab cc / c++ ---------------------------------------------------------------------------
run 2 "$racelab" cc
contains "Usage: racelab cc"
RACELAB_CC=/no/such/compiler run 127 "$racelab" cc -o x "$programs/lost_update.c"
contains "cannot run the compiler '/no/such/compiler'"
printf 'int main(void) { return missing; }\n' >broken.c
run 1 "$racelab" cc -o broken broken.c
contains "missing"
[ ! -e broken ] || fail "a failed compile left a binary behind"

# --- a bug found, replayed, by both compilers and by separate compile and link steps -------------
run 1 "$racelab" run -- ./lost_update
contains "lost update on counter"
contains "replay: racelab run --schedule"
schedule=$(printf '%s\n' "$out" | sed -n "s/^  replay: racelab run --schedule '\(.*\)' -- .*/\1/p")
[ -n "$schedule" ] || fail "no schedule in the failure's story"
run 1 "$racelab" run --seed 99 --schedule "$schedule" -- ./lost_update
contains "lost update on counter"

"$racelab" cc -O1 -g -c -o lost_update.o "$programs/lost_update.c" || fail "racelab cc -c"
"$racelab" cc -o lost_update_linked lost_update.o || fail "racelab cc (link only)"
run 1 "$racelab" run -- ./lost_update_linked
contains "lost update on counter"

if command -v clang >/dev/null; then
  RACELAB_CC=clang "$racelab" cc -O1 -g -o lost_update_clang "$programs/lost_update.c" || fail "racelab cc with clang"
  run 1 "$racelab" run -- ./lost_update_clang
  contains "lost update on counter"
  RACELAB_CXX=clang++ "$racelab" c++ -std=c++20 -O1 -g -o check_then_act_clang "$programs/check_then_act.cpp" ||
    fail "racelab c++ with clang++"
  run 1 "$racelab" run --strategy dfs:2 --runs 5000 -- ./check_then_act_clang
else
  echo "cli.sh: no clang: the Clang builds are not checked" >&2
fi

# --- the same schedule on another program does not fit -------------------------------------------
"$racelab" c++ -std=c++20 -O1 -g -o lock_order "$programs/lock_order.cpp" || fail "racelab c++ lock_order.cpp"
run 2 "$racelab" run --schedule "$schedule" -- ./lock_order
contains "does not fit"

# --- outside racelab run the program runs as it always did ----------------------------------------
run 0 ./lost_update
contains "counter = "

# --- a binary that was not rebuilt: its threading calls are still scheduled (preloaded) ------------
c++ -std=c++20 -O1 -g -pthread -o lock_order_plain "$programs/lock_order.cpp" || fail "c++ lock_order.cpp"
run 1 "$racelab" run --strategy dfs:2 --runs 5000 -- ./lock_order_plain
contains "was not built with"
contains "deadlock"

# --- a static binary cannot take the runtime ------------------------------------------------------
if cc -static -pthread -o lost_update_static "$programs/lost_update.c" 2>/dev/null; then
  run 2 "$racelab" run -- ./lost_update_static
  contains "statically linked"
fi

# --- sleeps: waited in virtual time by default, said in a note; --sleeps yield explores past them --
"$racelab" cc -O1 -g -o sleep_order "$programs/sleep_order.c" || fail "racelab cc sleep_order.c"
run 0 "$racelab" run --strategy dfs:2 -- ./sleep_order
contains "note: the program sleeps"
run 1 "$racelab" run --sleeps yield --strategy dfs:2 -- ./sleep_order
run 2 "$racelab" run --sleeps never -- ./sleep_order
contains "--sleeps must be wait or yield, not 'never'"

# --- a non-zero exit status: a note by default, a failure with --fail-on-exit ---------------------
printf '#include <stdio.h>\nint main(void) { fprintf(stderr, "no config\\n"); return 3; }\n' >exits3.c
"$racelab" cc -o exits3 exits3.c || fail "racelab cc exits3.c"
run 0 "$racelab" run --runs 2 -- ./exits3
contains "in 2 run(s) the program exited with a non-zero status (the first: 3)"
contains "| no config"
run 1 "$racelab" run --runs 2 --fail-on-exit -- ./exits3
contains "exits with status 3"

# --- exit status ----------------------------------------------------------------------------------
run 0 "$racelab" run --races ignore --points sync -- ./lost_update
contains "no failure"
"$racelab" cc -O1 -g -o lost_update_fixed "$programs/lost_update_fixed.c" || fail "racelab cc lost_update_fixed.c"
run 0 "$racelab" run --races fail -- ./lost_update_fixed
echo "cli.sh: ok"
