# Shared helpers for the CLI tests: run a command, capture its output and exit code, assert.
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
# run EXPECTED_RC CMD...: runs CMD, stores stdout+stderr in $out, fails unless it exits EXPECTED_RC.
run() {
  local expected=$1; shift
  out=$("$@" 2>&1); local rc=$?
  [ "$rc" -eq "$expected" ] || fail "'$*' exited $rc, expected $expected; output:
$out"
}
# contains TEXT: fails unless $out contains TEXT.
contains() { case "$out" in *"$1"*) ;; *) fail "output lacks '$1'; output:
$out" ;; esac; }
# not_contains TEXT: fails if $out contains TEXT.
not_contains() { case "$out" in *"$1"*) fail "output has '$1'; output:
$out" ;; esac; }
