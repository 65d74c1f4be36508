#!/usr/bin/env bash
# Requests/s and latency of POST /transfer per strategy, with wrk on loopback, against
# `racelab serve` on SQLite (a file on disk, and one on tmpfs) and on PostgreSQL.
#
#   bench/service_wrk.sh RACELAB_BINARY [--pg CONNINFO] [--duration 5s] [--connections 32]
#                        [--strategies "unsafe atomic …"] [--backends "sqlite-disk sqlite-tmpfs postgres"]
#
# Prints a Markdown table (docs/benchmarks.md keeps one). Each row: a fresh database, the strategy
# set, a 1 s warm-up, then the measured run; "409s" counts answers that were not a decided transfer
# (nowait busy, retries spent) and insufficient funds, from wrk's non-2xx count.
set -euo pipefail
cli=${1:?usage: bench/service_wrk.sh RACELAB_BINARY [--pg CONNINFO] [--duration D] [--connections N]}
shift
pg="" duration=5s connections=32
strategies="unsafe mutex pessimistic nowait optimistic atomic constraint serializable"
backends="sqlite-disk sqlite-tmpfs postgres"
while [ $# -gt 0 ]; do
  case $1 in
    --pg) pg=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --strategies) strategies=$2; shift 2 ;;
    --backends) backends=$2; shift 2 ;;
    *) echo "service_wrk.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "service_wrk.sh: wrk is not installed (scripts/install-deps test)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
disk=$(mktemp -d -p "${TMPDIR:-/var/tmp}")
shm=$(mktemp -d -p /dev/shm)
server=""
cleanup() { [ -z "$server" ] || { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }; rm -rf "$disk" "$shm"; }
trap cleanup EXIT

# The load average (this benchmark's own server threads included) is printed for context.
echo "wrk -t1 -c$connections -d$duration, POST /transfer of 1 unit; $(nproc) cores; $(date -u +%F);" \
  "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| backend | strategy | requests/s | p50 | p99 | non-2xx | server CPU µs/request |"
echo "|---|---|---:|---:|---:|---:|---:|"
# CPU time (user + system) the server process has used, in microseconds: steadier than throughput
# on a shared machine.
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{printf "%d", ($14 + $15) * 1000000 / hz}' "/proc/$1/stat"; }
for backend in $backends; do
  case $backend in
    sqlite-disk) db="sqlite:$disk/bank.db" ;;
    sqlite-tmpfs) db="sqlite:$shm/bank.db" ;;
    postgres) [ -n "$pg" ] || { echo "| postgres | (no --pg given) | | | | | |"; continue; }; db=$pg ;;
    *) echo "service_wrk.sh: unknown backend '$backend'" >&2; exit 2 ;;
  esac
  for strategy in $strategies; do
    rm -f "$disk"/bank.db* "$shm"/bank.db*
    "$cli" serve --port 0 --db "$db" >"$disk/serve.out" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do grep -q "listening on" "$disk/serve.out" && break; sleep 0.05; done
    url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$disk/serve.out")
    [ -n "$url" ] || { echo "racelab serve did not start: $(cat "$disk/serve.out")" >&2; exit 1; }
    curl -sf -X POST "$url/admin/strategy?name=$strategy" >/dev/null
    curl -sf -X POST "$url/reset" >/dev/null
    wrk -t1 -c"$connections" -d1s -s "$here/wrk/transfer.lua" "$url" >/dev/null
    cpu_before=$(cpu_us "$server")
    out=$(wrk -t1 -c"$connections" -d"$duration" --latency -s "$here/wrk/transfer.lua" "$url")
    cpu_after=$(cpu_us "$server")
    rps=$(awk '/^Requests\/sec/ {printf "%d", $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    per_request=$(( (cpu_after - cpu_before) / (requests > 0 ? requests : 1) ))
    total=$(curl -s "$url/metrics" | awk '$1 == "racelab_money" {print $2}')
    [ "$strategy" = unsafe ] || [ "$total" = 1700 ] || echo "money not conserved under $strategy: $total" >&2
    echo "| $backend | $strategy | $rps | $p50 | $p99 | ${non2xx:-0} | $per_request |"
    kill "$server"; wait "$server" 2>/dev/null || true; server=""
  done
done
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
