#!/usr/bin/env bash
# `racelab isolation` and `racelab sql` on MariaDB (InnoDB): the matrix comes out of search.
# Read uncommitted lets dirty reads through (G1a, G1b, G1c, and OTV); read committed stops those but
# not the lost update (P4), read skew (G-single), PMP, write skew (G2-item) or the phantom (G2);
# repeatable read is a snapshot for reads but writes see the latest row, so P4 still occurs there
# (PostgreSQL's repeatable read prevents it) while G-single and PMP are prevented; serializable
# stops all. A dirty write (G0) is never let through: writers take row locks at every level. One
# server setting, innodb_snapshot_isolation, makes repeatable read refuse the lost update, and the
# matrix cell changes with it. Every cell of the matrix is checked here.
. "$(dirname "$0")/lib.sh"
cli=$1
db=$(cat "$RACELAB_MARIADB_DIR/url") || fail "no MariaDB server in $RACELAB_MARIADB_DIR"
schema=racelab_cli_isolation
cell() {  # cell LEVEL ANOMALY RESULT: the --json line for that cell says RESULT
  printf '%s\n' "$out" | grep -F "\"anomaly\":\"$2\"" | grep -F "\"level\":\"$1\"" | grep -qF "\"result\":\"$3\"" ||
    fail "expected $2 at $1 to be $3; output:
$out"
}
two_sessions=(--anomaly G0 --anomaly G1a --anomaly G1b --anomaly G1c --anomaly PMP --anomaly P4
  --anomaly G-single --anomaly G2-item --anomaly G2)
run 0 "$cli" isolation --db "$db" --schema $schema --json "${two_sessions[@]}"
lines=$(printf '%s\n' "$out" | grep -c '"backend":"mariadb"')
[ "$lines" -eq 36 ] || fail "expected 36 cells (4 levels x 9 anomalies), got $lines"
for l in "read uncommitted" "read committed" "repeatable read" serializable; do cell "$l" G0 prevented; done
for a in G1a G1b G1c PMP P4 G-single G2-item G2; do cell "read uncommitted" $a occurs; done
for a in G1a G1b G1c; do cell "read committed" $a prevented; done
for a in PMP P4 G-single G2-item G2; do cell "read committed" $a occurs; done
for a in G1a G1b G1c PMP G-single; do cell "repeatable read" $a prevented; done
for a in P4 G2-item G2; do cell "repeatable read" $a occurs; done
for a in G1a G1b G1c PMP P4 G-single G2-item G2; do cell serializable $a prevented; done
contains '"witness":"racelab-schedule/1:'

run 0 "$cli" isolation --db "$db" --schema $schema --json --anomaly OTV
cell "read uncommitted" OTV occurs
for l in "read committed" "repeatable read" serializable; do cell "$l" OTV prevented; done

# One server setting changes the cell: the same case, the same level.
run 0 "$cli" isolation --db "$db" --schema $schema --level 'repeatable read' --anomaly P4 \
  --set innodb_snapshot_isolation=on
contains "isolation on mariadb with innodb_snapshot_isolation=on"
contains "P4        prevented"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cli" isolation --print-case lost_update.sql >"$tmp/lost_update.sql"
run 1 "$cli" sql "$tmp/lost_update.sql" --db "$db" --schema $schema
contains "mariadb (repeatable read): an interleaving breaks it"
contains "(after a lock wait)"
replay=$(printf '%s\n' "$out" | sed -n 's/^replay: *//p')
[ -n "$replay" ] || fail "no replay command; output:
$out"
run 1 bash -c "${replay/racelab /$cli }"
contains "mariadb (repeatable read): an interleaving breaks it (found after 1 interleaving)"
run 0 "$cli" sql "$tmp/lost_update.sql" --db "$db" --schema $schema --set innodb_snapshot_isolation=on
contains "mariadb (repeatable read, innodb_snapshot_isolation=on): no interleaving of"
contains "breaks it (all explored)"

# Deterministic on the server: every interleaving replays as it ran, deadlock victims included
# (the dirty-write case's opposite update orders deadlock in some interleavings).
# Three sessions where one answered statement (an autocommit writer's) frees another parked one
# inside the server: every interleaving must replay as it ran (the parked ones settle until
# nothing more is answered).
run 0 "$cli" sql "$(dirname "$0")/history_cases/vanishing_three_sessions.sql" --db "$db" --schema $schema \
  --level 'repeatable read' --verify --runs 300
contains "none of 300 interleavings breaks it"
"$cli" isolation --print-case dirty_write.sql >"$tmp/dirty_write.sql"
run 0 "$cli" sql "$tmp/dirty_write.sql" --db "$db" --schema $schema --verify --json
contains '"result":"holds"'
contains '"complete":true'
# A deadlock is an outcome, and its victim is the same on replay: a case that fails when one of
# two opposite-order writers is refused.
cat >"$tmp/deadlock.sql" <<'CASE'
-- two writers lock a pair of rows in opposite orders; both must commit
setup: CREATE TABLE pair(id VARCHAR(16) PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO pair VALUES ('a', 0), ('b', 0);
       CREATE TABLE done(who VARCHAR(16) PRIMARY KEY);
T1: BEGIN;
    UPDATE pair SET v = 1 WHERE id = 'a';
    UPDATE pair SET v = 1 WHERE id = 'b';
    INSERT INTO done VALUES ('T1');
    COMMIT;
T2: BEGIN;
    UPDATE pair SET v = 2 WHERE id = 'b';
    UPDATE pair SET v = 2 WHERE id = 'a';
    INSERT INTO done VALUES ('T2');
    COMMIT;
check: SELECT count(*) = 2 FROM done;
CASE
run 1 "$cli" sql "$tmp/deadlock.sql" --db "$db" --schema $schema --json
contains "Deadlock found when trying to get lock"
first=$(printf '%s\n' "$out" | grep -o '"witness":\[[^]]*\]')
schedule=$(printf '%s\n' "$out" | grep -o '"schedule":"[^"]*"' | cut -d'"' -f4)
run 1 "$cli" sql "$tmp/deadlock.sql" --db "$db" --schema $schema --json --schedule "$schedule"
again=$(printf '%s\n' "$out" | grep -o '"witness":\[[^]]*\]')
[ -n "$first" ] && [ "$first" = "$again" ] || fail "the replayed deadlock ran differently:
$first
---
$again"

run 2 "$cli" sql "$tmp/lost_update.sql" --db "$db" --level 'snapshot'
contains "MariaDB's levels are 'read uncommitted', 'read committed', 'repeatable read'"
run 2 "$cli" sql "$tmp/lost_update.sql" --db "$db" --set 'innodb_snapshot_isolation'
contains "--set 'innodb_snapshot_isolation': use NAME=VALUE"
run 2 "$cli" sql "$tmp/lost_update.sql" --db "$db" --schema $schema --set no_such_setting=1
contains "cannot open the sessions on mariadb (the connection, the level or a --set setting)"
contains "no_such_setting"
# A deadlock's victim with a long rollback: InnoDB frees the survivor's row only once the parked
# victim (A, the lighter transaction) is rolled back, which takes longer than the two lock-wait
# probes. Whether B parks must not depend on that time: B's statement is looked at again once the
# settle has answered A, so B goes on, every time (it used to park at sql.wait).
cat >"$tmp/slow_victim.sql" <<'SQL'
-- a deadlock whose victim has a large undo log: the survivor's row is free only once it is rolled back
setup: CREATE TABLE t(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO t VALUES (1, 0), (2, 0);
       CREATE TABLE big(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO big SELECT seq, 0 FROM seq_1_to_60000;
       CREATE TABLE big2(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);
       INSERT INTO big2 SELECT seq, 0 FROM seq_1_to_120000;
A: BEGIN; UPDATE big SET v = v + 1; UPDATE t SET v = 1 WHERE k = 1; UPDATE t SET v = 1 WHERE k = 2; COMMIT;
B: BEGIN; UPDATE big2 SET v = v + 1; UPDATE t SET v = 2 WHERE k = 2; UPDATE t SET v = 2 WHERE k = 1; COMMIT;
check: SELECT count(*) = 2 FROM t;
SQL
for i in 1 2 3; do
  run 0 "$cli" sql "$tmp/slow_victim.sql" --db "$db" --schema $schema \
    --schedule 'racelab-schedule/1: *>A A@sql.update.t#2>B B@sql.update.t#2>A A@sql.wait#1>B B@end#1>A'
  contains "the schedule replays to its end, and nothing breaks"
done

# --schema names the database racelab drops and makes again: one it did not make is refused.
run 2 "$cli" sql "$tmp/lost_update.sql" --db "$db" --schema mysql
contains "database 'mysql' exists and is not racelab's"
# A user without PROCESS cannot see lock waits (each would run to its timeout): said at once.
hostport=${db#mariadb://*@}
hostport=${hostport%%/*}
socket=$(mariadb -h "${hostport%:*}" -P "${hostport#*:}" -u racelab -N -e 'SELECT @@socket') ||
  fail "could not ask the server for its socket"
admin=(mariadb --socket="$socket" -u root)
"${admin[@]}" -e "CREATE USER IF NOT EXISTS 'racelab_cli_noproc'@'127.0.0.1' IDENTIFIED BY 'np';
  GRANT ALL ON \`${db##*/}\`.* TO 'racelab_cli_noproc'@'127.0.0.1'; GRANT ALL ON \`racelab_cli_noproc\`.* TO 'racelab_cli_noproc'@'127.0.0.1'" ||
  fail "could not make the user racelab_cli_noproc"
run 2 "$cli" sql "$tmp/lost_update.sql" --db "mariadb://racelab_cli_noproc:np@$hostport/${db##*/}" --schema racelab_cli_noproc
contains "it needs the PROCESS privilege"
"${admin[@]}" -e "DROP USER 'racelab_cli_noproc'@'127.0.0.1'; DROP DATABASE IF EXISTS racelab_cli_noproc"
echo "isolation (MariaDB): passed"
