#!/usr/bin/env bash
# `racelab points` lists the lab's points with file:line, filtered by scenario; unknown scenario is exit 2.
. "$(dirname "$0")/lib.sh"
cli=$1
run 0 "$cli" points
contains "transfer.after_read"
contains "counter.get_count:after"
contains "inventory.after_read"
contains "lab/bank/"
run 0 "$cli" points bank
contains "transfer.after_read"
case "$out" in *counter.*) fail "bank filter leaked counter points: $out" ;; esac
run 2 "$cli" points casino
contains "unknown scenario 'casino'"
echo "points: 3 checks passed"
