#!/usr/bin/env bash
# Proves on generated programs that `racelab run` is deterministic, replays what it reports and
# does not pass vacuously. For each seed, generate_program.py writes a clean pthread program and
# either its twin with one bug (a lost update, a deadlock) or a mixed program of its own; four
# properties are checked on each:
#   1. same flags, same result: a search run twice (random, pct:2, dfs:2; same --seed and --runs)
#      gives byte-identical stdout and the same exit status;
#   2. a failure replays: the printed `replay:` and `or:` commands, run exactly as printed (with
#      the real binary for `racelab`), exit 1 with the same story (headline's outcome, message,
#      stack, minimal schedule, timeline); the schedule under another --seed gives identical stdout;
#   3. no vacuous pass: dfs:2 (--runs 20000) exhausts its bound and finds nothing in a clean
#      program, and finds what its twin's `// racelab-expect:` line promises;
#   4. a schedule from another program: each failing schedule, run on the clean twin and on the
#      next seed's program, exits 2 saying it does not fit, or fits (0 or 1); never anything else.
#
# usage: tests/run/generated.sh RACELAB_BINARY WORK_DIR [COUNT] [SEED]
#   COUNT seeds (default 8, two programs each) from SEED (default 1). Prints one line per program
#   and per program whose schedules ran elsewhere; for each violation `FAIL NAME property N: why`,
#   the source (kept in WORK_DIR/NAME/prog.c), the command and the diverging outputs; then a
#   summary. Exits 1 on any violation, 2 on bad usage.
# RACELAB_GENERATED_TIMEOUT: seconds allowed for one `racelab run` (default 60); hitting it is a
# violation (a hang).
set -euo pipefail

usage() {
  echo "usage: $0 RACELAB_BINARY WORK_DIR [COUNT] [SEED]" >&2
  exit 2
}
if [ "$#" -lt 2 ] || [ "$#" -gt 4 ]; then usage; fi
racelab=$1
work=$2
count=${3:-8}
first_seed=${4:-1}
time_limit=${RACELAB_GENERATED_TIMEOUT:-60}
for number in "$count" "$first_seed" "$time_limit"; do
  case "$number" in '' | *[!0-9]*) echo "$0: '$number' is not a number" >&2; usage ;; esac
done
if [ ! -f "$racelab" ] || [ ! -x "$racelab" ]; then
  echo "$0: '$racelab' is not an executable file" >&2
  exit 2
fi
racelab=$(cd "$(dirname "$racelab")" && pwd)/${racelab##*/}
generator=$(cd "$(dirname "$0")" && pwd)/generate_program.py
mkdir -p "$work"
work=$(cd "$work" && pwd)

runs_sampled=100       # random and pct:2: schedules per search
runs_exhaustive=20000  # dfs:2: far more than any generated program's bound needs
bug_variants=(lost-update deadlock mixed)  # seed % 3 picks the clean program's companion
started=$SECONDS
violations=0
declare -A checks=()     # property -> checks made
declare -A variants=()   # variant -> programs
declare -A foreign=()    # property 4's outcome -> how many

# --- helpers ------------------------------------------------------------------------------------
# The current program: $name, $dir (WORK_DIR/NAME, holding prog.c, prog and every output), $seed,
# $variant; $program_ok is 0 once it broke a property; $last_command is what a report shows.

# rl OUT_PREFIX ARGS...: runs `racelab ARGS...` in $dir under the time limit; stdout to
# OUT_PREFIX.out, stderr to OUT_PREFIX.err, the exit status in $rc.
# Every search runs with --sleeps yield: the programs sleep, and with the default (a sleeper waits
# until every other thread waits) some of their bugs are out of reach by design (docs/run.md).
rl() {
  local prefix=$1 arg
  shift
  if [ "${1:-}" = run ]; then
    shift
    local has_sleeps=0
    for arg in "$@"; do [ "$arg" = --sleeps ] && has_sleeps=1; done
    if [ "$has_sleeps" -eq 0 ]; then set -- run --sleeps yield "$@"; else set -- run "$@"; fi
  fi
  rc=0
  (cd "$dir" && timeout --kill-after=5 "$time_limit" "$racelab" "$@" >"$prefix.out" 2>"$prefix.err" </dev/null) ||
    rc=$?
}

# rl_printed OUT_PREFIX COMMAND [EXTRA...]: runs a command racelab printed (`racelab run ...`)
# exactly as printed, with the real binary for `racelab` and EXTRA right after `run`; $rc is 255
# if COMMAND is not a `racelab run` command.
rl_printed() {
  local prefix=$1 command=$2
  shift 2
  rc=255
  case "$command" in 'racelab run '*) ;; *) return 0 ;; esac
  local -a words
  eval "words=(${command#racelab run })"  # racelab quotes each argument for a POSIX shell
  rl "$prefix" run "$@" "${words[@]}"
}

# violation PROPERTY WHY [FILE...]: reports a broken property of the current program, with its
# source and the files (two files: their difference).
violation() {
  local property=$1 why=$2 file
  shift 2
  violations=$((violations + 1))
  program_ok=0
  echo "FAIL $name property $property: $why"
  echo "  source: $dir/prog.c  (written by: $generator --seed $seed --variant $variant)"
  if [ -n "$last_command" ]; then echo "  command: (cd $dir && $last_command)"; fi
  if [ "$#" -eq 2 ] && [ -f "$1" ] && [ -f "$2" ]; then
    diff -u "$1" "$2" | head -n 80 | sed 's/^/  | /' || true
    return 0
  fi
  for file in "$@"; do
    if [ -f "$file" ]; then
      echo "  --- $file"
      head -n 60 "$file" | sed 's/^/  | /'
    fi
  done
}

counted() { checks[$1]=$((${checks[$1]:-0} + 1)); }

# without_output FILE: FILE without the block that quotes the program's own output.
without_output() {
  awk '/^  the program.s output in this run:$/ { skip = 1; next }
       skip && /^    \| / { next }
       { skip = 0; print }' "$1"
}

# story FILE: the failure story, up to its replay line, without what names the run rather than
# the failure: the headline's "seed N" / "schedule N of ..." and "(random, run N)", the notes, the
# original's length in "(N switches, from M)", and the program's output (compared on its own).
story() {
  # Reads to the end (no early exit, which would break without_output's pipe under pipefail).
  without_output "$1" |
    awk 'NR == 1 { sub(/^racelab run: .* fails( \([^)]*\))?/, "fails"); print; next }
         /^  replay: / { done = 1 }
         done || /^  (verified|non-deterministic|minimisation skipped):/ { next }
         { sub(/, from [0-9]+\): /, "): "); print }'
}

# how_different A B: what differs between two outputs, for a violation's message.
how_different() {
  if cmp -s <(without_output "$1") <(without_output "$2"); then
    echo "only in whether and how they quote the program's output"
  else
    echo "in the story"
  fi
}

quoted() { printf '%q ' "$@"; }

# --- the properties -----------------------------------------------------------------------------

# same_twice TAG ARGS...: property 1. The first run stays in $dir/TAG.1.out, its status in $rc.
same_twice() {
  local tag=$1 first
  shift
  last_command="racelab $(quoted "$@")"
  rl "$dir/$tag.1" "$@"
  first=$rc
  rl "$dir/$tag.2" "$@"
  counted 1
  if [ "$rc" -ne "$first" ] || ! cmp -s "$dir/$tag.1.out" "$dir/$tag.2.out"; then
    violation 1 "two runs of one search differ (exit $first, then $rc), $(how_different "$dir/$tag.1.out" \
      "$dir/$tag.2.out")" "$dir/$tag.1.out" "$dir/$tag.2.out"
  fi
  case "$first" in
    0 | 1) ;;
    124 | 137) violation 1 "racelab run hung (killed after ${time_limit}s)" "$dir/$tag.1.out" "$dir/$tag.1.err" ;;
    *) violation 1 "the search exited $first" "$dir/$tag.1.out" "$dir/$tag.1.err" ;;
  esac
  rc=$first
}

# replay_as_printed TAG KIND COMMAND: runs a printed replay command; the story must be TAG's.
replay_as_printed() {
  local tag=$1 kind=$2 command=$3
  counted 2
  last_command=$command
  if [ -z "$command" ]; then
    violation 2 "the $tag failure has no '$kind' line" "$dir/$tag.1.out"
    return 0
  fi
  rl_printed "$dir/$tag.$kind" "$command"
  story "$dir/$tag.$kind.out" >"$dir/$tag.$kind.story"
  if [ "$rc" -ne 1 ] || ! cmp -s "$dir/$tag.story" "$dir/$tag.$kind.story"; then
    violation 2 "the '$kind' command exited $rc (expected 1) with another story" \
      "$dir/$tag.story" "$dir/$tag.$kind.story"
  fi
}

# replays TAG: property 2 for the failure in $dir/TAG.1.out.
replays() {
  local tag=$1 replay
  replay=$(sed -n 's/^  replay: //p' "$dir/$tag.1.out")
  story "$dir/$tag.1.out" >"$dir/$tag.story"
  replay_as_printed "$tag" replay "$replay"
  if [ "$tag" != dfs ]; then  # an exhaustive search has no seed to give
    replay_as_printed "$tag" or "$(sed -n 's/^      or: //p' "$dir/$tag.1.out")"
  fi
  [ -n "$replay" ] || return 0
  counted 2
  last_command="$replay  (with --seed 4242 after 'run')"
  rl_printed "$dir/$tag.reseeded" "$replay" --seed 4242
  if [ "$rc" -ne 1 ] || ! cmp -s "$dir/$tag.replay.out" "$dir/$tag.reseeded.out"; then
    violation 2 "the schedule replays differently under --seed 4242 (exit $rc), $(how_different \
      "$dir/$tag.replay.out" "$dir/$tag.reseeded.out")" "$dir/$tag.replay.out" "$dir/$tag.reseeded.out"
  fi
}

# as_promised STATUS: property 3, on the dfs:2 search in $dir/dfs.1.out that exited STATUS.
as_promised() {
  local status=$1 promise hint=
  promise=$(sed -n 's|^// racelab-expect: ||p' "$dir/prog.c")
  last_command="racelab run --strategy dfs:2 --seed $seed --runs $runs_exhaustive -- ./prog"
  if grep -q 'usleep(' "$dir/prog.c"; then
    hint="; the program sleeps, and racelab's virtual clock moves only when every thread waits"
  fi
  case "$promise" in
    pass)
      counted 3
      if [ "$status" -ne 0 ]; then
        violation 3 "dfs:2 failed a program that cannot fail (exit $status)" "$dir/dfs.1.out"
      elif ! grep -q 'every schedule within the bound explored' "$dir/dfs.1.out"; then
        violation 3 "dfs:2 did not exhaust its bound in $runs_exhaustive runs, so its pass proves little" \
          "$dir/dfs.1.out"
      fi
      ;;
    'fail '*)
      counted 3
      if [ "$status" -ne 1 ] || ! sed -n 1,2p "$dir/dfs.1.out" | grep -qF "${promise#fail }"; then
        violation 3 "dfs:2 did not find the promised '${promise#fail }' (exit $status)$hint" \
          "$dir/dfs.1.out" "$dir/prog.c"
      fi
      ;;
  esac
}

# elsewhere FROM_DIR SCHEDULE TO_DIR: property 4, SCHEDULE (FROM's) on TO's program.
elsewhere() {
  local from=$1 schedule=$2 to=$3 outcome
  counted 4
  last_command="cd ${to##*/} && racelab run --schedule '$schedule' -- ./prog"
  local home=$dir
  dir=$to
  rl "$from/elsewhere" run --schedule "$schedule" -- ./prog
  dir=$home
  case "$rc" in
    0 | 1) outcome="fits, exit $rc" ;;
    2)
      outcome="does not fit, exit 2"
      if ! grep -q 'this schedule does not fit this program' "$from/elsewhere.err"; then
        violation 4 "exit 2 on ${to##*/} without saying that the schedule does not fit" \
          "$from/elsewhere.out" "$from/elsewhere.err"
      fi
      ;;
    *)
      outcome="exit $rc"
      violation 4 "on ${to##*/} racelab run exited $rc" "$from/elsewhere.out" "$from/elsewhere.err"
      ;;
  esac
  foreign[$outcome]=$((${foreign[$outcome]:-0} + 1))
  mine[$outcome]=$((${mine[$outcome]:-0} + 1))
}

# --- the programs -------------------------------------------------------------------------------

# program SEED VARIANT: generates, builds and checks one program; prints its line.
program() {
  seed=$1 variant=$2
  name=gen-$seed-$variant dir=$work/gen-$seed-$variant
  program_ok=1 last_command=
  variants[$variant]=$((${variants[$variant]:-0} + 1))
  local began=$SECONDS results=() strategy tag runs
  rm -rf "$dir"
  mkdir -p "$dir"
  last_command="python3 $generator --seed $seed --variant $variant -o prog.c &&"
  last_command+=" racelab cc -std=c11 -O1 -g -o prog prog.c"
  if ! python3 "$generator" --seed "$seed" --variant "$variant" -o "$dir/prog.c" >"$dir/build.log" 2>&1 ||
    ! (cd "$dir" && "$racelab" cc -std=c11 -O1 -g -o prog prog.c >>"$dir/build.log" 2>&1); then
    violation 0 "cannot generate or build the program" "$dir/build.log"
    return 0
  fi
  for strategy in random pct:2 dfs:2; do
    tag=${strategy%%:*} runs=$runs_sampled
    if [ "$tag" = dfs ]; then runs=$runs_exhaustive; fi
    same_twice "$tag" run --strategy "$strategy" --seed "$seed" --runs "$runs" -- ./prog
    results+=("$strategy exit $rc")
    if [ "$tag" = dfs ]; then as_promised "$rc"; fi
    if [ "$rc" -eq 1 ]; then replays "$tag"; fi
  done
  local IFS=,
  printf '%s %s (%ss, %s): %s; dfs:2 said: %s\n' "$([ "$program_ok" -eq 1 ] && echo ok || echo FAIL)" "$name" \
    "$((SECONDS - began))" "$(sed -n 's|^// racelab-expect: |expects |p' "$dir/prog.c")" "${results[*]}" \
    "$(sed -n '1s/^racelab run: //p' "$dir/dfs.1.out")"
}

echo "generated: seeds $first_seed..$((first_seed + count - 1)); racelab $racelab; programs in $work"
programs=()
for ((i = 0; i < count; i++)); do
  s=$((first_seed + i))
  program "$s" clean
  bug=${bug_variants[$((s % ${#bug_variants[@]}))]}
  program "$s" "$bug"
  programs+=("gen-$s-clean" "gen-$s-$bug")
done

# Property 4: every failing schedule of each bug program on its clean twin and on the next seed's
# bug program. A schedule names every switch, forced ones too, so it rarely fits another program.
for ((i = 1; i < ${#programs[@]}; i += 2)); do
  name=${programs[$i]} dir=$work/${programs[$i]}
  seed=${name#gen-} seed=${seed%%-*} variant=${name#gen-"$seed"-}
  targets=("$work/${programs[$((i - 1))]}")
  next=$(((i + 2) % ${#programs[@]}))
  if [ "$next" -ne "$i" ]; then targets+=("$work/${programs[$next]}"); fi
  for t in "${!targets[@]}"; do
    if [ ! -x "${targets[$t]}/prog" ]; then unset 'targets[t]'; fi  # did not build: reported already
  done
  program_ok=1
  declare -A tried=() mine=()
  for out in "$dir"/random.1.out "$dir"/pct.1.out "$dir"/dfs.1.out; do
    [ -f "$out" ] || continue
    schedule=$(sed -n 's/^  minimal schedule ([^)]*): //p' "$out")
    if [ -z "$schedule" ] || [ -n "${tried[$schedule]+set}" ]; then continue; fi
    tried[$schedule]=1
    for target in "${targets[@]}"; do elsewhere "$dir" "$schedule" "$target"; done
  done
  note=''
  for o in "${!mine[@]}"; do note+="${note:+, }${mine[$o]} $o"; done
  unset tried mine
  if [ -n "$note" ]; then
    echo "$([ "$program_ok" -eq 1 ] && echo ok || echo FAIL) $name's schedules on ${targets[*]##*/}: $note"
  fi
done

kinds='' per_property='' outcomes=
for v in "${!variants[@]}"; do kinds+="${kinds:+, }${variants[$v]} $v"; done
for p in 1 2 3 4; do per_property+="${per_property:+, }${checks[$p]:-0} of property $p"; done
for o in "${!foreign[@]}"; do outcomes+="${outcomes:+, }${foreign[$o]} $o"; done
echo "generated: $((2 * count)) programs ($kinds); checks: $per_property; foreign schedules: ${outcomes:-none};" \
  "$violations violation(s); $((SECONDS - started))s"
[ "$violations" -eq 0 ]
