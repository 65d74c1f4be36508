#!/usr/bin/env bash
# `racelab demo` runs every chapter and every demonstration comes out as narrated.
. "$(dirname "$0")/lib.sh"
cli=$1
pg=$(cat "${RACELAB_PG_DIR:?run with ctest (it starts PostgreSQL)}/conninfo")
mariadb=$(cat "${RACELAB_MARIADB_DIR:?run with ctest (it starts MariaDB)}/url")
run 0 "$cli" demo --runs 20 --no-color --pg "$pg" --mariadb "$mariadb"
contains "count is 1: one update was lost"
contains "barrier: alice negative in 20/20 runs"
contains "mutex: alice negative in 0/20 runs, alice 200 in 20/20, 0 barrier timeouts"
contains "minimal schedule"
contains "replaying that schedule gives the same run, step for step"
contains "schedules explored, all of them, no failure"
contains "mutex: alice -600"
contains "pessimistic: alice 200"
contains "atomic: alice 200"
contains "between the two threads' sql.select.accounts@bank_sqlite.cpp"
contains "run_demo_bank_sqlite_fixed (dfs:2, every schedule within the bound explored)"
contains "PostgreSQL read committed: double-spends"
contains "PostgreSQL repeatable read: holds in all 350 interleavings"
contains "MariaDB repeatable read: double-spends"
contains "MariaDB repeatable read (innodb_snapshot_isolation=on): holds in all 350 interleavings"
contains "Every demonstration came out as narrated."
case "$out" in *UNEXPECTED*) fail "a demonstration did not come out as narrated: $out" ;; esac
echo "demo: 1 check passed"
