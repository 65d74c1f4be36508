#!/usr/bin/env bash
# `racelab sql` as a user runs it: a lost update found on PostgreSQL at read committed (exit 1, the
# timeline, a replay command that, run, fails the same way), none at repeatable read or on SQLite
# (exit 0, all explored), --json's fields, and every bad input an exit 2 naming the problem.
. "$(dirname "$0")/lib.sh"
cli=$1
cases=$2
pg=$(cat "$RACELAB_PG_DIR/conninfo") || fail "no PostgreSQL cluster in $RACELAB_PG_DIR"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

run 1 "$cli" sql "$cases/lost_update.sql" --db "$pg" --schema racelab_cli_sql
contains "postgresql (read committed): an interleaving breaks it"
contains "check: SELECT n = (SELECT count(*) FROM done) FROM counter WHERE id = 1 -> f"
contains "UPDATE counter SET n = 0 + 1 WHERE id = 1"
contains "-> 1 row changed (after a lock wait)"
replay=$(printf '%s\n' "$out" | sed -n 's/^replay:   //p')
[ -n "$replay" ] || fail "no replay command in: $out"
run 1 bash -c "${replay/racelab/\"$cli\"}"
contains "an interleaving breaks it (found after 1 interleaving)"

run 0 "$cli" sql "$cases/lost_update.sql" --db "$pg" --schema racelab_cli_sql --level 'repeatable read'
contains "postgresql (repeatable read): no interleaving of"
contains "breaks it (all explored)"
run 0 "$cli" sql "$cases/lost_update.sql" --db "sqlite:$dir/lite" --level 'immediate rollback'
contains "sqlite (immediate rollback): no interleaving of"

run 1 "$cli" sql "$cases/write_skew.sql" --db "$pg" --schema racelab_cli_sql --level 'repeatable read' --json
contains '"backend":"postgresql"'
contains '"level":"repeatable read"'
contains '"result":"breaks"'
contains '"check_value":"f"'
contains '"witness":[{'
run 0 "$cli" sql "$cases/write_skew.sql" --db "$pg" --schema racelab_cli_sql --level serializable --json
contains '"result":"holds"'
contains '"complete":true'

printf 'T1: BEGIN; SELECT 1;\nT2: SELECT 2;\n' >"$dir/open.sql"
run 2 "$cli" sql "$dir/open.sql"
contains "open.sql:1: session T1 never commits"
printf 'T1: SELECT 1\n' >"$dir/nosemi.sql"
run 2 "$cli" sql "$dir/nosemi.sql"
contains "has no ';' at its end"
printf 'setup: CREATE TABLE;\nT1: SELECT 1;\nT2: SELECT 2;\n' >"$dir/badsetup.sql"
run 2 "$cli" sql "$dir/badsetup.sql" --db "sqlite:$dir/lite"
contains "the setup or check failed on sqlite"
run 2 "$cli" sql "$dir/missing.sql"
contains "missing.sql: cannot read the case file"
run 2 "$cli" sql "$cases/lost_update.sql" --level 'read sideways'
contains "SQLite's levels are"
run 2 "$cli" sql "$cases/lost_update.sql" --db "$pg" --level 'read uncommitted'
contains "PostgreSQL's levels are"
run 2 "$cli" sql "$cases/lost_update.sql" --db nowhere
contains "--db 'nowhere'"
run 2 "$cli" sql "$cases/lost_update.sql" --schedule 'racelab-schedule/1: zz'
contains "racelab sql:"
# A schedule from another case (or with a session this case lacks) does not fit: exit 2, and no
# "breaks" or timeline as if it were a finding.
run 2 "$cli" sql "$cases/lost_update.sql" --db "$pg" --schema racelab_cli_sql --schedule 'racelab-schedule/1: *>T3'
contains "this schedule does not fit"
not_contains "breaks it"
printf 'T1: SET autocommit = 0; UPDATE t SET v = 1;\nT2: SELECT 2;\n' >"$dir/autocommit.sql"
run 2 "$cli" sql "$dir/autocommit.sql"
contains "autocommit.sql:1: session T1 sets autocommit"
printf 'T1: BEGIN; SELECT 1; COMMIT AND CHAIN; SELECT 2; COMMIT;\nT2: SELECT 2;\n' >"$dir/chain.sql"
run 2 "$cli" sql "$dir/chain.sql"
contains "chain.sql:1: session T1 ends a transaction AND CHAIN"
printf 'T1: BEGIN; SELECT 1; END AND CHAIN; SELECT 2; COMMIT;\nT2: SELECT 2;\n' >"$dir/end_chain.sql"
run 2 "$cli" sql "$dir/end_chain.sql"
contains "session T1 ends a transaction AND CHAIN"
printf "T1: SET SESSION completion_type = 'CHAIN'; BEGIN; SELECT 1; COMMIT;\nT2: SELECT 2;\n" >"$dir/ctype.sql"
run 2 "$cli" sql "$dir/ctype.sql"
contains "session T1 sets completion_type"
printf 'setup: CREATE TABLE t(k INTEGER PRIMARY KEY); SET @@autocommit = 0;\nT1: SELECT 1;\nT2: SELECT 2;\n' \
  >"$dir/setup_ac.sql"
run 2 "$cli" sql "$dir/setup_ac.sql"
contains "the setup sets autocommit"
printf "T1: SET application_name = 'autocommit'; SELECT 1;\nT2: SELECT 2;\ncheck: SELECT true;\n" >"$dir/note.sql"
run 0 "$cli" sql "$dir/note.sql" --db "$pg" --schema racelab_cli_sql
run 2 "$cli" sql "$cases/lost_update.sql" --set autocommit=0
contains "--set 'autocommit=0'"
run 2 "$cli" sql "$cases/lost_update.sql" --set "sql_mode=1, autocommit=0"
contains "a setting that changes when they end"
# Read as the server reads it: any assignment of a SET list, comments dropped (MariaDB's
# executable ones kept), backquotes; quoted text is not a setting.
for st in "SET sql_mode = '', autocommit = 0" "SET /* x */ @@session.autocommit = 0" "/*!40101 SET autocommit=0 */" \
  'SET `autocommit` := 0'; do
  printf 'T1: %s; SELECT 1;\nT2: SELECT 2;\ncheck: SELECT 1;\n' "$st" >"$dir/set.sql"
  run 2 "$cli" sql "$dir/set.sql"
  contains "session T1 sets autocommit"
done
# Quoted text, a user variable, another option's part and a comment are no setting. (SQLite has
# no SET: the database refuses each, after the case was read.)
for st in "SET @note = 'autocommit = 1'" "SET @autocommit = 0" "SET myapp.autocommit = 0" "SET @a = 1 # autocommit = 0"; do
  printf 'T1: %s; SELECT 1;\nT2: SELECT 2;\ncheck: SELECT 1;\n' "$st" >"$dir/quoted.sql"
  run 2 "$cli" sql "$dir/quoted.sql" --db "sqlite:$dir/lite"
  contains "the database rejects a statement"
  not_contains "sets autocommit"
done
printf 'setup: BEGIN; CREATE TABLE t(k INTEGER);\nT1: SELECT 1;\nT2: SELECT 2;\n' >"$dir/setup_open.sql"
run 2 "$cli" sql "$dir/setup_open.sql"
contains "the setup never commits the transaction it begins here"
# --schema names what racelab drops and makes again for every interleaving: one it did not make
# (public, an application's) is refused, and nothing in it is touched.
run 2 "$cli" sql "$cases/lost_update.sql" --db "$pg" --schema public
contains "schema 'public' exists and is not racelab's"
not_contains "cannot open the sessions"
psql "$pg" -qAtc "CREATE SCHEMA IF NOT EXISTS cli_precious; CREATE TABLE IF NOT EXISTS cli_precious.keep(k int)" ||
  fail "psql could not make cli_precious"
run 2 "$cli" sql "$cases/lost_update.sql" --db "$pg" --schema cli_precious
contains "schema 'cli_precious' exists and is not racelab's"
[ "$(psql "$pg" -qAtc "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'cli_precious'")" = 1 ] ||
  fail "--schema cli_precious dropped the schema it refused"
psql "$pg" -qAtc "DROP SCHEMA cli_precious CASCADE" >/dev/null
# Three writers on one row: when the first commits, the two waiting for it race inside the
# server. The runs where that can happen are counted and said, not passed off as a proof.
cat >"$dir/three.sql" <<'SQL'
-- three writers on one row
setup: CREATE TABLE c(id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO c VALUES (1, 0);
A: BEGIN; UPDATE c SET n = n + 1 WHERE id = 1; COMMIT;
B: BEGIN; UPDATE c SET n = n * 10 WHERE id = 1; COMMIT;
C: BEGIN; UPDATE c SET n = n - 3 WHERE id = 1; COMMIT;
check: SELECT n > -1000 FROM c;
SQL
run 0 "$cli" sql "$dir/three.sql" --db "$pg" --schema racelab_cli_sql --runs 100
contains "note: in "
contains "two or more sessions waited for, and the server chose which went first"
run 0 "$cli" sql "$dir/three.sql" --db "$pg" --schema racelab_cli_sql --runs 100 --json
printf '%s\n' "$out" | grep -q '"server_ordered":[1-9]' || fail "expected server_ordered > 0: $out"
# Two waiters on two different rows held by a third: when it commits each gets its own row, and
# nothing is left to the server; none of those runs is counted.
cat >"$dir/tworows.sql" <<'SQL'
-- two waiters on two different rows
setup: CREATE TABLE c(id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO c VALUES (1, 0), (2, 0);
A: BEGIN; UPDATE c SET n = n + 1 WHERE id = 1; UPDATE c SET n = n + 1 WHERE id = 2; COMMIT;
B: BEGIN; UPDATE c SET n = n * 10 WHERE id = 1; COMMIT;
C: BEGIN; UPDATE c SET n = n * 10 WHERE id = 2; COMMIT;
check: SELECT sum(n) >= 0 FROM c;
SQL
run 0 "$cli" sql "$dir/tworows.sql" --db "$pg" --schema racelab_cli_sql --runs 1000 --json
contains '"server_ordered":0'
# Two sessions deadlock on the server while a third still runs; when it ends, one of the two must
# look again and break the cycle (in the 113th interleaving this was once taken for a deadlock).
run 0 "$cli" sql "$(dirname "$0")/history_cases/deadlock_beside_a_reader.sql" --db "$pg" --schema racelab_cli_sql \
  --level serializable --runs 300
contains "none of 300 interleavings breaks it"
echo "sql: 70 checks passed"
