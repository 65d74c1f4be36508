#!/usr/bin/env bash
# RACELAB_HOOKS arms hooks without recompiling: a barrier forces the double-spend in every run; a
# malformed spec stops the program with exit code 2 and names the bad part.
. "$(dirname "$0")/lib.sh"
probe=$1
for i in $(seq 1 20); do
  RACELAB_HOOKS='transfer.after_read=barrier:2:5s' run 0 "$probe"
  contains "alice -600"
done
RACELAB_HOOKS='transfer.after_read=delay:20ms;transfer.after_read=barrier:2:5s' run 0 "$probe"
contains "alice -600"
RACELAB_HOOKS='transfer.after_read=barrier:2:5s;transfer.after_read=wait:3' run 2 "$probe"
contains "RACELAB_HOOKS rejected"
contains "in 'transfer.after_read=wait:3': unknown action 'wait'"
RACELAB_HOOKS='transfer.after_read=delay:200' run 2 "$probe"
contains "duration '200' needs a unit"
echo "env hooks: 3 checks passed"
