#!/usr/bin/env bash
# `racelab explore` (and `racelab stress`, at the end) finds the double-spend (exit 1) with a minimal timeline and a replay command;
# the printed schedule replays it; the mutex fix survives a full DFS (exit 0); bad input is exit 2.
. "$(dirname "$0")/lib.sh"
cli=$1
run 1 "$cli" explore bank --runs 100
contains "minimal schedule"
contains "transfer.after_read"
contains "RACELAB_SEED="
schedule=$(printf '%s\n' "$out" | sed -n "s/.*RACELAB_SCHEDULE='\([^']*\)'.*/\1/p" | head -n 1)
[ -n "$schedule" ] || fail "no schedule in the report"
run 1 "$cli" replay bank --schedule "$schedule"
contains "RACELAB_ASSERT(ledger.balance(\"alice\") >= 0)"
run 0 "$cli" explore bank --fix mutex --strategy dfs --runs 100000
contains "all of them, no failure"
run 0 "$cli" explore bank-sqlite --fix pessimistic --runs 100
contains "no failure"
run 1 "$cli" explore bank-sqlite --runs 100
run 2 "$cli" explore casino
contains "unknown scenario 'casino'"
run 2 "$cli" explore bank --fix pessimistic
contains "in-memory bank has no database"
run 2 "$cli" explore bank --strategy bfs
contains "strategy 'bfs'"
run 2 "$cli" replay bank --schedule junk
contains "bad schedule token 'junk'"
run 2 "$cli" replay bank
contains "exactly one of --seed"
# A schedule from another program is its own outcome: it does not fit (exit 2), and nothing is
# minimised or offered as a replay.
run 2 "$cli" replay bank --schedule 'racelab-schedule/1: *>Z'
contains "this schedule does not fit: schedule diverged at step 1"
contains "'Z'"
not_contains "minimal schedule"
echo "explore: 11 checks passed"
# `racelab stress`: a barrier makes unsafe fail every iteration (exit 1); mutex holds (exit 0).
run 1 "$cli" stress bank --barrier --iterations 30
contains "30 violation(s) (100.0%)"
run 0 "$cli" stress bank --strategy mutex --barrier --iterations 30
contains "0 violation(s)"
run 1 "$cli" stress inventory --threads 4 --barrier --iterations 10
contains "oversold"
run 2 "$cli" stress bank --strategy atomic
contains "unsafe or mutex"
echo "stress: 4 checks passed"
