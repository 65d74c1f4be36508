#!/usr/bin/env bash
# Bad usage gets a message naming the problem and exit code 2; --help helps.
. "$(dirname "$0")/lib.sh"
cli=$1
run 2 "$cli"
contains "A subcommand is required"
run 2 "$cli" frobnicate
contains "unknown verb 'frobnicate'"
run 2 "$cli" demo --runs 0
contains "--runs"
run 2 "$cli" demo --runs many
contains "many"
run 0 "$cli" --help
contains "demo"
contains "points"
contains "Exit codes"
run 0 "$cli" demo --help
contains "--runs"
run 2 "$cli" serve --port 0 --otlp-endpoint ftp://collector:4318
contains "--otlp-endpoint must be an http:// or https:// URL, got 'ftp://collector:4318'"
run 2 "$cli" serve --port 0 --bind 0.0.0.0
contains "--admin-token"
run 2 "$cli" serve --port 70000
contains "--port"
for verb in demo serve explore replay stress load points; do
  run 0 "$cli" "$verb" --help
  contains "Usage:"
done
run 0 "$cli" serve --help
contains "--otlp-endpoint"
echo "errors: 10 checks passed"
