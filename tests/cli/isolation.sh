#!/usr/bin/env bash
# `racelab isolation`: the matrix comes out of search and matches what each database documents.
# PostgreSQL: read committed lets the lost update (P4), read skew (G-single), write skew (G2-item),
# the phantom (G2) and PMP through; repeatable read (snapshot isolation) stops P4, G-single and PMP
# but not G2-item or G2; serializable stops all. No level of either lets a dirty write (G0), an
# aborted or intermediate read (G1a, G1b), circular flow (G1c) or OTV through. SQLite is
# serializable at every level.
. "$(dirname "$0")/lib.sh"
cli=$1
pg=$(cat "$RACELAB_PG_DIR/conninfo") || fail "no PostgreSQL cluster in $RACELAB_PG_DIR"
cell() {  # cell LEVEL ANOMALY RESULT: the --json line for that cell says RESULT
  printf '%s\n' "$out" | grep -F "\"anomaly\":\"$2\"" | grep -F "\"level\":\"$1\"" | grep -qF "\"result\":\"$3\"" ||
    fail "expected $2 at $1 to be $3; output:
$out"
}
run 0 "$cli" isolation --db "$pg" --schema racelab_cli_isolation --json
lines=$(printf '%s\n' "$out" | grep -c '"backend":"postgresql"')
[ "$lines" -eq 30 ] || fail "expected 30 cells (3 levels x 10 anomalies), got $lines"
for a in G0 G1a G1b G1c OTV; do
  for l in "read committed" "repeatable read" serializable; do cell "$l" $a prevented; done
done
for a in P4 G-single G2-item G2 PMP; do cell "read committed" $a occurs; done
for a in P4 G-single PMP; do cell "repeatable read" $a prevented; done
for a in G2-item G2; do cell "repeatable read" $a occurs; done
for a in G0 G1a G1b G1c OTV PMP P4 G-single G2-item G2; do cell serializable $a prevented; done
contains '"witness":"racelab-schedule/1:'

run 0 "$cli" isolation --db sqlite --level 'deferred wal' --level 'immediate rollback' --anomaly P4 --anomaly G2-item
contains "isolation on sqlite"
contains "P4        prevented"
contains "G2-item   prevented"
not_contains "occurs"
run 0 "$cli" isolation --db "$pg" --schema racelab_cli_isolation --level 'repeatable read' --anomaly G2-item
contains "G2-item   occurs"
contains "replay: racelab isolation --print-case write_skew.sql > write_skew.sql && racelab sql write_skew.sql"
run 0 "$cli" isolation --print-case write_skew.sql
contains "-- anomaly: G2-item"
run 2 "$cli" isolation --print-case nothing.sql
contains "no shipped case 'nothing.sql'"
run 2 "$cli" isolation --anomaly G9
contains "no shipped case is about 'G9'"
# One typo among good names is said too, not dropped from the matrix.
run 2 "$cli" isolation --anomaly P4 --anomaly bogus
contains "no shipped case is about 'bogus'; they are: G0 G1a G1b G1c OTV PMP P4 G-single G2-item G2"
run 2 "$cli" isolation --db nowhere
contains "--db 'nowhere'"
echo "isolation: 36 checks passed"
