#!/usr/bin/env bash
# A million transfers per strategy through `racelab serve` (`racelab load --transfers`), on SQLite
# (a file on disk) and on PostgreSQL, then the books audited: the load's own check (every accepted
# transfer applied once, money conserved, no negative balance) and the ledger's (`GET /audit`).
#
#   bench/million.sh RACELAB_BINARY [--pg CONNINFO] [--transfers 1000000] [--pg-seconds 600]
#                    [--sqlite-seconds 0] [--vus 16] [--strategies "pessimistic …"]
#                    [--backends "sqlite postgres"]
#
# SQLite runs --transfers per strategy (--sqlite-seconds caps each run; 0: no cap). PostgreSQL
# runs as many as fit: --pg-seconds is the budget for all its strategies together, split evenly.
# Prints a Markdown table (docs/benchmarks.md keeps one): throughput is decided and refused
# requests per second of the run; p50 and p99 are each request's round trip as the client saw it.
# Exit 1 when any run's books do not balance.
set -euo pipefail
cli=${1:?usage: bench/million.sh RACELAB_BINARY [--pg CONNINFO] [--transfers N] [--pg-seconds S]}
shift
pg="" transfers=1000000 pg_seconds=600 sqlite_seconds=0 vus=16
strategies="pessimistic nowait optimistic atomic constraint serializable"
backends="sqlite postgres"
while [ $# -gt 0 ]; do
  case $1 in
    --pg) pg=$2; shift 2 ;;
    --transfers) transfers=$2; shift 2 ;;
    --pg-seconds) pg_seconds=$2; shift 2 ;;
    --sqlite-seconds) sqlite_seconds=$2; shift 2 ;;
    --vus) vus=$2; shift 2 ;;
    --strategies) strategies=$2; shift 2 ;;
    --backends) backends=$2; shift 2 ;;
    *) echo "million.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
dir=$(mktemp -d -p "${TMPDIR:-/var/tmp}")
server=""
cleanup() { [ -z "$server" ] || { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }; rm -rf "$dir"; }
trap cleanup EXIT

count=$(wc -w <<<"$strategies")
echo "racelab load --vus $vus --transfers $transfers per strategy; PostgreSQL: ${pg_seconds} s in all;" \
  "$(nproc) cores; $(date -u +%F); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| backend | strategy | transfers | seconds | transfers/s | p50 ms | p99 ms | answers | books |"
echo "|---|---|---:|---:|---:|---:|---:|---|---|"
failed=0
for backend in $backends; do
  limit=()
  case $backend in
    sqlite) db="sqlite:$dir/bank.db"; [ "$sqlite_seconds" = 0 ] || limit=(--duration "${sqlite_seconds}s") ;;
    postgres)
      [ -n "$pg" ] || { echo "| postgres | (no --pg given) | | | | | | | |"; continue; }
      db=$pg; limit=(--duration "$(( pg_seconds / count ))s") ;;
    *) echo "million.sh: unknown backend '$backend'" >&2; exit 2 ;;
  esac
  for strategy in $strategies; do
    rm -f "$dir"/bank.db*
    "$cli" serve --port 0 --db "$db" >"$dir/serve.out" 2>&1 &
    server=$!
    for _ in $(seq 1 300); do grep -q "listening on" "$dir/serve.out" && break; sleep 0.05; done
    url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$dir/serve.out")
    [ -n "$url" ] || { echo "racelab serve did not start: $(cat "$dir/serve.out")" >&2; exit 1; }
    curl -sf -X POST "$url/admin/strategy?name=$strategy" >/dev/null
    curl -sf -X POST "$url/reset" >/dev/null
    rc=0
    out=$("$cli" load --url "$url" --vus "$vus" --transfers "$transfers" "${limit[@]}" --no-reset 2>&1) || rc=$?
    # "  N requests in S s (R/s), p50 X ms, p99 Y ms; by status: 200×a 409×b"
    line=$(grep 'requests in' <<<"$out" || true)
    requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$line")
    seconds=$(sed -n 's/.* requests in \([0-9.]*\) s.*/\1/p' <<<"$line")
    rate=$(sed -n 's/.* s (\([0-9]*\)\/s).*/\1/p' <<<"$line")
    p50=$(sed -n 's/.*p50 \([0-9.e+-]*\) ms.*/\1/p' <<<"$line")
    p99=$(sed -n 's/.*p99 \([0-9.e+-]*\) ms.*/\1/p' <<<"$line")
    answers=$(sed -n 's/.*by status: \(.*\)$/\1/p' <<<"$line")
    audit=$(curl -sf "$url/audit" || echo '{}')
    if [ "$rc" -eq 0 ] && grep -q '"clean":true' <<<"$audit" && grep -q '"money_total":1700' <<<"$audit"; then
      books="balance"
    else
      books="DO NOT BALANCE"; failed=1
      echo "$out" >&2; echo "$audit" >&2
    fi
    printf '| %s | %s | %s | %.1f | %s | %.2f | %.2f | %s | %s |\n' "$backend" "$strategy" "${requests:-0}" \
      "${seconds:-0}" "${rate:-0}" "${p50:-0}" "${p99:-0}" "$answers" "$books"
    kill "$server"; wait "$server" 2>/dev/null || true; server=""
  done
done
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $failed
