#!/usr/bin/env bash
# `racelab audit`: 0 on a clean bank, 1 with a sentence per problem once a balance moves without a
# ledger row, 2 (and a message naming the problem) for a missing database or one without a bank.
. "$(dirname "$0")/lib.sh"
cli=$1
probe=$2
dir=$(mktemp -d)
db="sqlite:$dir/bank.db"
run 0 "$probe" "$db" reset atomic
run 0 "$probe" "$db" transfer atomic alice bob 300
run 0 "$cli" audit --db "$db"
contains "money: 1700 of 1700 expected; ledger: 1 rows, 1 successful transfers"
contains "audit: clean"
run 0 "$cli" audit --db "$db" --json
contains '"clean": true'
sqlite3 "$dir/bank.db" "UPDATE accounts SET balance = balance + 5 WHERE id = 'charlie'" || fail "sqlite3 failed"
run 1 "$cli" audit --db "$db"
contains "problem: money not conserved: 1705 in the accounts, 1700 expected"
contains "problem: account 'charlie' holds 205 but opened with 200 and the ledger moved 0"
run 1 "$cli" audit --db "$db" --json
contains '"clean": false'
run 2 "$cli" audit --db "sqlite:$dir/missing.db"
contains "no SQLite database at '$dir/missing.db'"
[ ! -e "$dir/missing.db" ] || fail "audit created the database it was asked to check"
sqlite3 "$dir/other.db" "CREATE TABLE t(x)" || fail "sqlite3 failed"
run 2 "$cli" audit --db "sqlite:$dir/other.db"
contains "holds no racelab bank with a ledger"
run 2 "$cli" audit --db "host=127.0.0.1 port=1 dbname=nothing connect_timeout=2"
contains "cannot open"
run 2 "$cli" audit
contains "--db"
rm -rf "$dir"
echo "audit: all checks passed"
