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
echo "errors: 6 checks passed"
