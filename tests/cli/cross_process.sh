#!/usr/bin/env bash
# The lesson of the `mutex` "safe mode": an in-process lock does nothing across processes. Two
# processes, each with its own connection to the same database, transfer 800 from alice at once;
# a 300 ms delay after the read inside the critical section (RACELAB_HOOKS) makes both read
# before either writes, unless the database itself keeps them apart.
# mutex double-spends (alice -600); pessimistic and atomic hold (alice 200). SQLite file and PostgreSQL.
. "$(dirname "$0")/lib.sh"
probe=$1
base=$(cat "$RACELAB_PG_DIR/conninfo") || fail "no PostgreSQL cluster in $RACELAB_PG_DIR"
psql "$base" -qc "CREATE SCHEMA IF NOT EXISTS cross_process" >/dev/null || fail "cannot reach PostgreSQL at $base"
pg="$base options='-csearch_path=cross_process'"
sqlite="sqlite:$(mktemp -d)/bank.db"
checks=0
for backend in sqlite postgres; do
  if [ "$backend" = sqlite ]; then url=$sqlite; else url=$pg; fi
  for strategy in mutex pessimistic atomic; do
    run 0 "$probe" "$url" reset "$strategy"
    RACELAB_HOOKS='transfer.after_locked_read=delay:300ms' "$probe" "$url" transfer "$strategy" alice bob 800 >/tmp/racelab_probe_a.$$ 2>&1 &
    a=$!
    RACELAB_HOOKS='transfer.after_locked_read=delay:300ms' "$probe" "$url" transfer "$strategy" alice charlie 800 >/tmp/racelab_probe_b.$$ 2>&1 &
    b=$!
    wait $a || fail "process A failed: $(cat /tmp/racelab_probe_a.$$)"
    wait $b || fail "process B failed: $(cat /tmp/racelab_probe_b.$$)"
    run 0 "$probe" "$url" balance alice
    alice=$out
    case "$strategy" in
      mutex) [ "$alice" = "-600" ] || fail "$backend mutex: expected the cross-process double-spend (-600), got $alice" ;;
      *) [ "$alice" = "200" ] || fail "$backend $strategy: expected alice 200, got $alice" ;;
    esac
    echo "$backend, $strategy, two processes: alice $alice"
    checks=$((checks + 1))
  done
done
rm -f /tmp/racelab_probe_a.$$ /tmp/racelab_probe_b.$$
echo "cross-process: $checks checks passed"
