#!/usr/bin/env bash
# `racelab run` on unmodified programs: builds each program in tests/run/programs/ with `racelab cc`
# (.c) or `racelab c++` (.cpp), runs it under `racelab run` with the flags its header gives, and
# checks the exit status and the output that the header expects.
#
# usage: tests/run/programs.sh RACELAB_BINARY BUILD_DIR [PROGRAM...]
#   PROGRAM is a program's name (lost_update), its file name (lost_update.c) or a path to it;
#   without any, every program runs. Prints `ok NAME` or `FAIL NAME: why` and the captured output,
#   then `programs: N passed, N failed`; exits 1 if any failed, 2 on bad usage.
#
# A program's header is its leading comment lines (// ..., or a /* ... */ block):
#   // racelab-run: FLAGS        exactly once; FLAGS are split on whitespace (no quoting)
#   // expect-exit: N            exactly once; racelab run's exit status (1 bug found, 0 none found)
#   // expect-output: TEXT       any number; each must occur in racelab run's stdout+stderr
#   // racelab-link: FLAGS       optional; appended to the compile command (-lsqlite3, -lpq)
#   // needs: pg                 optional; the program reads $RACELAB_PG (a libpq conninfo; else the
#                                one of the cluster in $RACELAB_PG_DIR) and fails without one
# Any other header line is prose for the reader.
#
# RACELAB_PROGRAM_TIMEOUT: seconds allowed for one `racelab run` (default 300; 0 for no limit).
set -euo pipefail

usage() {
  echo "usage: $0 RACELAB_BINARY BUILD_DIR [PROGRAM...]" >&2
  exit 2
}
[ "$#" -ge 2 ] || usage
racelab=$1
build_dir=$2
shift 2
if [ -z "$racelab" ] || [ -z "$build_dir" ]; then usage; fi
if [ ! -f "$racelab" ] || [ ! -x "$racelab" ]; then
  echo "$0: '$racelab' is not an executable file" >&2
  exit 2
fi
racelab=$(cd "$(dirname "$racelab")" && pwd)/${racelab##*/}  # absolute, so no PATH look-up
time_limit=${RACELAB_PROGRAM_TIMEOUT:-300}
case "$time_limit" in
  '' | *[!0-9]*)
    echo "$0: RACELAB_PROGRAM_TIMEOUT must be a number of seconds, not '$time_limit'" >&2
    exit 2
    ;;
esac
programs_dir=$(cd "$(dirname "$0")" && pwd)/programs

# trim TEXT: prints TEXT without leading and trailing whitespace (into $trimmed, no subshell).
trim() {
  trimmed=$1
  trimmed=${trimmed#"${trimmed%%[![:space:]]*}"}
  trimmed=${trimmed%"${trimmed##*[![:space:]]}"}
}

# parse_header FILE: sets h_flags (array), h_exit, h_outputs (array); h_error is non-empty when the
# header is malformed.
parse_header() {
  local file=$1 line text value in_block=0 runs=0 exits=0
  h_flags=()
  h_link=()
  h_needs=""
  h_exit=
  h_outputs=()
  h_error=
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    if [ "$in_block" -eq 1 ]; then
      text=$line
      case "$text" in *'*/'*) text=${text%%'*/'*} in_block=0 ;; esac
      trim "$text"
      text=${trimmed#'*'}
    else
      trim "$line"
      case "$trimmed" in
        '//'*) text=${trimmed#'//'} ;;
        '/*'*)
          text=${trimmed#'/*'}
          case "$text" in
            *'*/'*) text=${text%%'*/'*} ;;
            *) in_block=1 ;;
          esac
          ;;
        *) break ;;  # the first line that is not a comment ends the header
      esac
    fi
    trim "$text"
    text=$trimmed
    case "$text" in
      racelab-run:*)
        runs=$((runs + 1))
        trim "${text#racelab-run:}"
        value=$trimmed
        case "$value" in
          *[\"\'\\]*) h_error="racelab-run flags are split on whitespace; quotes and backslashes are not supported" ;;
        esac
        read -r -a h_flags <<<"$value"
        ;;
      racelab-link:*)
        trim "${text#racelab-link:}"
        read -r -a h_link <<<"$trimmed"
        ;;
      needs:*)
        trim "${text#needs:}"
        h_needs=$trimmed
        ;;
      expect-exit:*)
        exits=$((exits + 1))
        trim "${text#expect-exit:}"
        h_exit=$trimmed
        case "$h_exit" in
          '' | *[!0-9]*) h_error="expect-exit must be a number, not '$h_exit'" ;;
        esac
        ;;
      expect-output:*)
        trim "${text#expect-output:}"
        if [ -z "$trimmed" ]; then
          h_error="an expect-output line is empty"
        else
          h_outputs+=("$trimmed")
        fi
        ;;
    esac
  done <"$file"
  if [ -z "$h_error" ] && [ "$runs" -ne 1 ]; then
    h_error="needs exactly one 'racelab-run:' line in its leading comment, has $runs"
  fi
  if [ -z "$h_error" ] && [ "$exits" -ne 1 ]; then
    h_error="needs exactly one 'expect-exit:' line in its leading comment, has $exits"
  fi
  return 0
}

# describe_status RC: a few words on what racelab run's exit status means.
describe_status() {
  case "$1" in
    0) echo "0 (no bug found)" ;;
    1) echo "1 (a bug was found)" ;;
    2) echo "2 (bad usage)" ;;
    124) echo "124 (timed out after ${time_limit}s)" ;;
    *) if [ "$1" -gt 128 ]; then echo "$1 (killed by signal $(($1 - 128)))"; else echo "$1"; fi ;;
  esac
}

# The programs to run: every .c and .cpp file, or the ones named.
sources=()
if [ "$#" -eq 0 ]; then
  for src in "$programs_dir"/*.c "$programs_dir"/*.cpp; do
    [ -f "$src" ] && sources+=("$src")
  done
  [ "${#sources[@]}" -gt 0 ] || { echo "$0: no programs in $programs_dir" >&2; exit 2; }
else
  for arg in "$@"; do
    name=${arg##*/}
    found=()
    case "$name" in
      *.c | *.cpp) [ -f "$programs_dir/$name" ] && found+=("$programs_dir/$name") ;;
      *)
        [ -f "$programs_dir/$name.c" ] && found+=("$programs_dir/$name.c")
        [ -f "$programs_dir/$name.cpp" ] && found+=("$programs_dir/$name.cpp")
        ;;
    esac
    case "${#found[@]}" in
      1) sources+=("${found[0]}") ;;
      0) echo "$0: no program '$arg' in $programs_dir" >&2; exit 2 ;;
      *) echo "$0: '$arg' is ambiguous: name it with its extension" >&2; exit 2 ;;
    esac
  done
fi
# Two sources with one name (x.c and x.cpp) would build the same binary.
declare -A seen=()
for src in "${sources[@]}"; do
  name=${src##*/}
  name=${name%.*}
  if [ -n "${seen[$name]+set}" ]; then
    echo "$0: two programs are named '$name' (${seen[$name]##*/} and ${src##*/})" >&2
    exit 2
  fi
  seen[$name]=$src
done

mkdir -p "$build_dir"
build_dir=$(cd "$build_dir" && pwd)
use_timeout=0
if [ "$time_limit" -gt 0 ]; then
  if command -v timeout >/dev/null 2>&1; then
    use_timeout=1
  else
    echo "$0: no 'timeout' command: racelab run is not time-limited" >&2
  fi
fi

passed=0
failed=0
# report_failure NAME WHY OUTPUT [COMMAND...]
report_failure() {
  local name=$1 why=$2 output=$3
  shift 3
  failed=$((failed + 1))
  echo "FAIL $name: $why"
  if [ "$#" -gt 0 ]; then
    printf '  command:'
    printf ' %q' "$@"
    printf '\n'
  fi
  if [ -n "$output" ]; then
    printf '%s\n' "--- output of $name ---" "$output" "--- end of $name ---"
  fi
}

for src in "${sources[@]}"; do
  name=${src##*/}
  name=${name%.*}
  bin=$build_dir/$name

  parse_header "$src"
  if [ -n "$h_error" ]; then
    report_failure "$name" "bad header in ${src##*/}: $h_error" ""
    continue
  fi

  case "$src" in
    *.c) compile=("$racelab" cc -std=c11 -O1 -g -o "$bin" "$src") ;;
    *) compile=("$racelab" c++ -std=c++20 -O1 -g -o "$bin" "$src") ;;
  esac
  compile+=("${h_link[@]}")
  if [ "$h_needs" = pg ] && [ -z "${RACELAB_PG:-}" ] && [ -n "${RACELAB_PG_DIR:-}" ]; then
    # ctest's pg fixture started a cluster there
    RACELAB_PG=$("$(dirname "$0")/../../scripts/pg" conninfo "$RACELAB_PG_DIR") && export RACELAB_PG
  fi
  if [ "$h_needs" = pg ] && [ -z "${RACELAB_PG:-}" ]; then
    report_failure "$name" "needs a PostgreSQL server: set RACELAB_PG to its conninfo (scripts/pg start DIR prints one)" ""
    continue
  fi
  rm -f "$bin"
  rc=0
  out=$("${compile[@]}" </dev/null 2>&1) || rc=$?
  if [ "$rc" -ne 0 ]; then
    report_failure "$name" "does not build (exit $rc)" "$out" "${compile[@]}"
    continue
  fi

  command=("$racelab" run ${h_flags[@]+"${h_flags[@]}"} -- "$bin")
  runner=()
  if [ "$use_timeout" -eq 1 ]; then
    runner=(timeout --kill-after=10 "$time_limit")
  fi
  rc=0
  out=$(${runner[@]+"${runner[@]}"} "${command[@]}" </dev/null 2>&1) || rc=$?

  why=()
  if [ "$rc" -ne "$h_exit" ]; then
    why+=("exited $(describe_status "$rc"), expected $(describe_status "$h_exit")")
  fi
  for text in ${h_outputs[@]+"${h_outputs[@]}"}; do
    case "$out" in
      *"$text"*) ;;
      *) why+=("output lacks '$text'") ;;
    esac
  done
  if [ "${#why[@]}" -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok $name"
  else
    joined=${why[0]}
    for reason in "${why[@]:1}"; do joined="$joined; $reason"; done
    report_failure "$name" "$joined" "$out" "${command[@]}"
  fi
done

echo "programs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
