#!/usr/bin/env bash
# /metrics by Prometheus's own tools: `promtool check metrics` passes on what the service exposes
# (and, with --lab-compat, complains only of the original's barrier_waiting_count), and a real
# Prometheus server scrapes it and can query the double-spend a barrier forced.
. "$(dirname "$0")/../cli/lib.sh"
cli=$1
command -v promtool >/dev/null || fail "promtool is not installed (Debian package prometheus; scripts/install-deps)"
command -v prometheus >/dev/null || fail "prometheus is not installed (Debian package prometheus; scripts/install-deps)"
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null; wait $p 2>/dev/null; done; rm -rf "$dir"' EXIT

start_serve() {  # start_serve NAME ARGS... : sets $url
  local name=$1; shift
  "$cli" serve --port 0 --db "sqlite:$dir/$name.db" "$@" >"$dir/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do grep -q "listening on" "$dir/$name.out" && break; sleep 0.1; done
  url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$dir/$name.out")
  [ -n "$url" ] || fail "racelab serve did not start: $(cat "$dir/$name.out")"
}

start_serve bank
run 0 curl -s -X POST "$url/admin/barrier?enabled=true&count=2"
run 0 curl -s -X POST "$url/admin/fire?n=2&amount=800"
contains '"double_spends":1'
run 0 curl -s -X POST "$url/admin/strategy?name=optimistic"
run 0 curl -s -X POST "$url/transfer" -H 'Content-Type: application/json' -d '{"from_account":"bob","to_account":"charlie","amount":5}'
curl -s "$url/metrics" >"$dir/metrics.txt"
out=$(promtool check metrics <"$dir/metrics.txt" 2>&1) || fail "promtool check metrics: $out"
grep -q '^double_spend_detected_total 1$' "$dir/metrics.txt" || fail "no double-spend counted: $(cat "$dir/metrics.txt")"
grep -q '^transfer_duration_seconds_bucket{le="+Inf"} 3$' "$dir/metrics.txt" || fail "histogram count wrong"
echo "ok - promtool check metrics passes"

start_serve compat --lab-compat
run 0 curl -s "$url/metrics"
contains "barrier_waiting_count 0"
out=$(curl -s "$url/metrics" | promtool check metrics 2>&1)
[ "$out" = 'barrier_waiting_count non-histogram and non-summary metrics should not have "_count" suffix' ] ||
  fail "--lab-compat: expected only the lab's own name to be linted, got: $out"
echo "ok - --lab-compat adds the lab's barrier_waiting_count, the only lint complaint"

# A real Prometheus scrapes the first instance.
target=${pids[0]}
bank_url=$(sed -n 's/.*listening on http:\/\/\([^ ]*\).*/\1/p' "$dir/bank.out")
port=0
for candidate in $(shuf -i 20000-40000 -n 20); do
  (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null || { port=$candidate; break; }
done
[ "$port" -ne 0 ] || fail "no free port for prometheus"
cat >"$dir/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: racelab
    static_configs:
      - targets: ['$bank_url']
YAML
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
  --web.listen-address="127.0.0.1:$port" >"$dir/prometheus.log" 2>&1 &
pids+=($!)
query() { curl -s --get "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=$1"; }
value=""
for _ in $(seq 1 450); do  # Prometheus applies new targets on a 5 s tick; a loaded machine is slower
  value=$(query 'double_spend_detected_total{job="racelab"}' | sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p')
  [ "$value" = "1" ] && break
  sleep 0.2
done
[ "$value" = "1" ] || fail "prometheus did not scrape the double-spend (got '$value'): $(query up) $(tail -5 "$dir/prometheus.log")"
echo "ok - prometheus scraped double_spend_detected_total = 1"
out=$(query 'up{job="racelab"}')
contains '"value":['
contains ',"1"]'
out=$(query 'account_balance{job="racelab",account_id="alice"}')
contains ',"-600"]'
echo "ok - prometheus sees the target up and alice at -600"
out=$(query 'histogram_quantile(0.99, transfer_duration_seconds_bucket{job="racelab"})')
contains '"resultType":"vector"'
echo "prometheus: 4 checks passed"
