#!/usr/bin/env bash
# The lab's curl walk-through (POST without a body, as the original sends) and `racelab load`: with
# a delay and the unsafe strategy the audit catches the double-spend (exit 1); with pessimistic the
# books balance (exit 0).
. "$(dirname "$0")/lib.sh"
cli=$1
dir=$(mktemp -d)
"$cli" serve --port 0 --db "sqlite:$dir/bank.db" >"$dir/serve.out" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do grep -q "listening on" "$dir/serve.out" && break; sleep 0.1; done
url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$dir/serve.out")
[ -n "$url" ] || fail "racelab serve did not start: $(cat "$dir/serve.out")"
run 0 curl -s -X POST "$url/admin/delay?enabled=true&ms=20"
contains '"delay_enabled":true'
run 0 curl -s -X POST "$url/reset"
contains '"status":"reset"'
run 1 "$cli" load --url "$url" --vus 8 --duration 1s --scenario barrier
contains "BOOKS DO NOT BALANCE"
contains "alice is overdrawn"
run 0 curl -s -X POST "$url/admin/strategy?name=pessimistic"
contains '"strategy":"pessimistic"'
run 0 "$cli" load --url "$url" --vus 8 --duration 1s --scenario barrier
contains "books balance"
run 0 "$cli" load --url "$url" --vus 4 --duration 1s
contains "books balance"
# Every safe strategy keeps the books under the same load (the delay still widens every window).
for strategy in mutex nowait optimistic atomic constraint serializable; do
  run 0 curl -s -X POST "$url/admin/strategy?name=$strategy"
  contains "\"strategy\":\"$strategy\""
  run 0 "$cli" load --url "$url" --vus 6 --duration 500ms --scenario barrier
  contains "books balance"
done
run 2 "$cli" load --url "$url" --duration soon
contains "--duration 'soon'"
run 1 "$cli" load --url http://127.0.0.1:1 --duration 1s
contains "no racelab serve answering"
echo "load: 12 checks passed"
