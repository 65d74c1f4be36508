#!/usr/bin/env bash
# The crash test, long: `racelab serve` killed with SIGKILL at random moments for many rounds, on
# SQLite and PostgreSQL, under every strategy that keeps the books on the database, and the books
# checked against what every client was told (tests/service/crash_test.cpp; `make test` runs a
# short version of it).
#
#   bench/soak.sh [BUILD_DIR] [--rounds N] [--clients N] [--strategies "atomic …"]
#                 [--backends "sqlite postgres"] [--seed S]
#
# Prints a line per round (acknowledged, retried, replayed, ledger rows, money) and a total per
# strategy; exit status is the test's. PostgreSQL: the cluster in RACELAB_PG_DIR, or the one in
# BUILD_DIR/pg (started here, and then stopped after, when it was not running).
set -euo pipefail
build=build/release
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then build=$1; shift; fi
rounds=50 clients=8 seed=""
strategies="pessimistic nowait optimistic atomic constraint serializable"
backends="sqlite postgres"
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --strategies) strategies=$2; shift 2 ;;
    --backends) backends=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    *) echo "soak.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
tests=$build/tests/racelab_service_tests
[ -x "$tests" ] || { echo "soak.sh: $tests not built (make build)" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
filter=""
for backend in $backends; do
  case $backend in
    sqlite | postgres) filter="${filter:+$filter:}Backends/Crash.*/$backend" ;;
    *) echo "soak.sh: unknown backend '$backend'" >&2; exit 2 ;;
  esac
done
started=""
case " $backends " in
  *" postgres "*)
    if [ -z "${RACELAB_PG_DIR:-}" ]; then
      export RACELAB_PG_DIR=$build/pg
      if ! "$here/scripts/pg" conninfo "$RACELAB_PG_DIR" >/dev/null 2>&1; then  # a running one is left running
        "$here/scripts/pg" start "$RACELAB_PG_DIR" >/dev/null
        started=1
      fi
    fi ;;
esac
cleanup() { [ -z "$started" ] || "$here/scripts/pg" stop "$RACELAB_PG_DIR" >/dev/null; }
trap cleanup EXIT
echo "soak: $rounds kills per strategy, $clients clients, strategies: $strategies; backends: $backends"
RACELAB_CRASH_ROUNDS=$rounds RACELAB_CRASH_CLIENTS=$clients RACELAB_CRASH_STRATEGIES=$strategies \
  RACELAB_CRASH_SEED=$seed "$tests" --gtest_filter="$filter"
