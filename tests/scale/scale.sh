#!/usr/bin/env bash
# Search at scale through the CLI (docs/scale.md).
#   scale.sh compare RACELAB DIR   the merged report of ctest's four shards (in DIR) equals one
#                                  process's, and so do sharded DFS searches, passing and failing;
#                                  --jobs changes nothing but the jobs and seconds fields
#   scale.sh cli RACELAB DIR SRC   --shard and merge errors, --shard env (GoogleTest/Bazel and
#                                  Kubernetes variables), JUnit XML, and docs/scale.md's examples
#                                  (the ctest setup, the GitHub Actions matrix, the Kubernetes Job)
#                                  run as written
set -uo pipefail
mode=$1 racelab=$2 dir=$3
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# same A.json B.json WHAT [story]: the answer fields agree (with `story`: the failure's whole text
# too; coverage when nothing failed; a sharded DFS names its failing run by position instead of by number in the story's first
# line, so DFS compares the story from its second line).
same() {
  python3 - "$1" "$2" "${4:-}" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
whole_story = sys.argv[3] == "story"
def answer(r):
    failures = []
    for f in r["failures"]:
        f = dict(f)
        if not whole_story:
            f["story"] = f["story"].split("\n", 1)[1]
        failures.append(f)
    return {k: r[k] for k in ("strategy", "runs", "complete", "seed", "runs_requested", "command")} | {
        # after a failure each shard has counted its own runs up to its own first failure
        "failures": failures, "coverage": None if r["failures"] else r["coverage"]}
x, y = answer(a), answer(b)
if x != y:
    for k in x:
        if x[k] != y[k]:
            print(f"  {k}: {json.dumps(x[k])[:400]}\n  vs {json.dumps(y[k])[:400]}")
    sys.exit(1)
EOF
  if [ $? -eq 0 ]; then ok "$3"; else fail "$3"; fi
}

field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# shards N SEARCH... : runs the search as N shards one after another and merges them to merged.json
shards() {
  local n=$1
  shift
  rm -f part*.json
  for ((k = 0; k < n; k++)); do
    "$racelab" "$@" --shard "$k/$n" --json "part$k.json" >/dev/null
    [ $? -le 1 ] || fail "shard $k/$n of $* exited $?"
  done
  "$racelab" merge part*.json --json merged.json >/dev/null
}

case $mode in
compare)
  cd "$dir" || exit 1
  "$racelab" explore bank --fix unsafe --strategy random --runs 2000 --json one.json >/dev/null
  [ $? -eq 1 ] || fail "the unsafe bank should fail in one process"
  same one.json merged.json "ctest's 4 parallel shards merge to the single-process report" story
  [ "$(field merged.json 'r["merged_shards"]')" = 4 ] || fail "merged_shards is not 4"
  [ "$(field merged.json 'len(r["failures"])')" = 1 ] || fail "the merged report should carry the failure"

  for case in "bank --fix mutex --strategy dfs --runs 100000" "bank --fix unsafe --strategy dfs --runs 100000" \
    "bank-sqlite --fix unsafe --strategy dfs:2 --runs 100000" "bank-sqlite --fix atomic --strategy dfs:1 --runs 100000" \
    "bank --fix unsafe --strategy pct:2 --runs 300 --seed 40"; do
    # shellcheck disable=SC2086
    "$racelab" explore $case --json one.json >/dev/null
    for n in 2 3 4; do
      # shellcheck disable=SC2086
      shards "$n" explore $case
      same one.json merged.json "$case: $n shards merge to one process's answer"
    done
    # shellcheck disable=SC2086
    "$racelab" explore $case --jobs 1 --json j1.json >/dev/null
    # shellcheck disable=SC2086
    "$racelab" explore $case --jobs 3 --json j3.json >/dev/null
    same j1.json j3.json "$case: --jobs 1 and --jobs 3 give the same answer" story
    same one.json j1.json "$case: --jobs 1 and the default give the same answer" story
  done
  # A search that passes: the merge exits 0, and the shards did not all run everything.
  shards 4 explore bank --fix mutex --strategy dfs --runs 100000
  "$racelab" merge part*.json >/dev/null || fail "merging passing shards should exit 0"
  total=$(field part0.json 'r["runs"]')
  [ "$total" -lt "$(field merged.json 'r["runs"]')" ] || fail "shard 0 ran the whole DFS tree ($total runs)"
  ;;

run)
  # racelab run: the same shards and merge over an unmodified program, buggy and fixed.
  src=$4
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
  "$racelab" cc -g -O1 "$src/tests/run/programs/lost_update.c" -o lost_update || exit 1
  "$racelab" cc -g -O1 "$src/tests/run/programs/lost_update_fixed.c" -o lost_update_fixed || exit 1
  for program in lost_update lost_update_fixed; do
    "$racelab" run --strategy dfs:2 --runs 5000 --json one.json -- "./$program" >/dev/null
    [ $? -le 1 ] || fail "racelab run of $program"
    rm -f part*.json
    for k in 0 1 2; do
      "$racelab" run --strategy dfs:2 --runs 5000 --shard "$k/3" --json "part$k.json" -- "./$program" >/dev/null
      [ $? -le 1 ] || fail "racelab run --shard $k/3 of $program"
    done
    "$racelab" merge part*.json --json merged.json >/dev/null
    same one.json merged.json "racelab run $program: 3 shards merge to one process's answer"
  done
  [ "$(field one.json 'len(r["failures"])')" = 0 ] || fail "the fixed program should pass"
  expect_usage() { :; }
  out=$("$racelab" run --shard 0/2 --time 1 -- ./lost_update 2>&1)
  [ $? -eq 2 ] && grep -q "do not go together" <<<"$out" && ok "--time with --shard is refused" ||
    fail "--time with --shard: $out"
  ;;

cli)
  src=$4
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
  expect_usage() {  # expect_usage WHAT MESSAGE-REGEX CMD...
    local what=$1 want=$2
    shift 2
    out=$("$@" 2>&1)
    rc=$?
    if [ $rc -eq 2 ] && grep -qE "$want" <<<"$out"; then ok "$what"; else fail "$what: exit $rc, said: $out"; fi
  }
  for bad in 4/4 -1/4 1/0 x/2 1of2 3; do
    expect_usage "--shard $bad is refused" "is not (a shard|K/N)" "$racelab" explore bank --shard "$bad"
  done
  expect_usage "--shard env without variables" "none of GTEST_TOTAL_SHARDS" env -u GTEST_TOTAL_SHARDS \
    -u JOB_COMPLETION_INDEX "$racelab" explore bank --shard env
  expect_usage "JOB_COMPLETION_INDEX without RACELAB_SHARD_COUNT" "RACELAB_SHARD_COUNT" env -u GTEST_TOTAL_SHARDS \
    JOB_COMPLETION_INDEX=1 "$racelab" explore bank --shard env
  expect_usage "GTEST_SHARD_INDEX out of range" "is not a shard" env GTEST_TOTAL_SHARDS=2 GTEST_SHARD_INDEX=2 \
    "$racelab" explore bank --shard env
  expect_usage "--jobs -1 is refused" "jobs" "$racelab" explore bank --jobs -1

  # Bazel's protocol: the shard from GTEST_*, and the status file touched.
  for k in 0 1 2; do
    env GTEST_TOTAL_SHARDS=3 GTEST_SHARD_INDEX=$k GTEST_SHARD_STATUS_FILE="$dir/status" \
      "$racelab" explore bank --fix mutex --strategy dfs --shard env --json "bazel$k.json" >/dev/null ||
      fail "GTEST shard $k exited $?"
    [ "$(field "bazel$k.json" 'r["shard"]["index"], r["shard"]["count"]')" = "($k, 3)" ] ||
      fail "GTEST_SHARD_INDEX=$k did not become shard $k/3"
  done
  [ -e status ] && ok "GTEST_SHARD_STATUS_FILE touched" || fail "GTEST_SHARD_STATUS_FILE not touched"
  "$racelab" explore bank --fix mutex --strategy dfs --json whole.json >/dev/null
  "$racelab" merge bazel0.json bazel1.json bazel2.json --json bazel.json >/dev/null || fail "merging Bazel shards"
  [ "$(field bazel.json 'r["runs"], r["complete"]')" = "$(field whole.json 'r["runs"], r["complete"]')" ] &&
    ok "Bazel-style shards merge to the whole search" || fail "Bazel-style shards do not add up"

  # merge refuses what is not shards of one search.
  expect_usage "merge with a shard missing" "2 of 3 shards given; missing: 2/3" "$racelab" merge bazel0.json bazel1.json
  expect_usage "merge with a shard twice" "given twice" "$racelab" merge bazel0.json bazel0.json bazel1.json
  "$racelab" explore bank --fix unsafe --shard 0/3 --json other.json >/dev/null
  expect_usage "merge of different searches" "another search" "$racelab" merge bazel0.json other.json bazel2.json
  # The environment's overrides are part of the search a report names.
  RACELAB_RUNS=50 "$racelab" explore bank --fix mutex --strategy dfs --shard 1/3 --json env1.json >/dev/null
  [ "$(field env1.json 'r["runs_requested"]')" = "50" ] && ok "a report names the runs RACELAB_RUNS asked for" ||
    fail "RACELAB_RUNS=50 is not in the report: $(field env1.json 'r["runs_requested"]')"
  expect_usage "merge of a shard run with another RACELAB_RUNS" "another search" \
    "$racelab" merge bazel0.json env1.json bazel2.json
  expect_usage "a RACELAB_RUNS that does not parse" "RACELAB_RUNS='many'" env RACELAB_RUNS=many "$racelab" explore bank
  echo '{"runs": 3' >broken.json
  expect_usage "merge of malformed JSON" "is not a racelab --json report" "$racelab" merge broken.json
  echo '{"runs": 3}' >partial.json
  expect_usage "merge of JSON without the fields" "no '.*' field" "$racelab" merge partial.json
  expect_usage "merge of a missing file" "does not exist|cannot read" "$racelab" merge nowhere.json

  # JUnit: well-formed, one test case, the story in the failure.
  "$racelab" explore bank --fix unsafe --junit fail.xml --json fail.json >/dev/null
  "$racelab" explore bank --fix mutex --junit pass.xml >/dev/null
  python3 - <<'EOF' && ok "JUnit XML: one test case, the failure with its story" || fail "JUnit XML"
import json, xml.etree.ElementTree as ET
f = ET.parse("fail.xml").getroot()
cases = f.findall(".//testcase")
assert len(cases) == 1 and f.get("failures") == "1", ET.tostring(f)
failure = cases[0].find("failure")
assert "minimal schedule" in failure.text and "RACELAB_SCHEDULE" in failure.text, failure.text
assert failure.text == json.load(open("fail.json"))["failures"][0]["story"]
p = ET.parse("pass.xml").getroot()
assert p.get("failures") == "0" and p.find(".//failure") is None
EOF
  for key in version runs failures strategy shard coverage points_never_reached; do
    field fail.json "'$key' in r" | grep -q True || fail "--json has no '$key'"
  done
  [ "$(field fail.json 'sorted(r["failures"][0])')" = "['kind', 'message', 'run_key', 'schedule', 'seed', 'seed_replays', 'story']" ] ||
    fail "a failure's fields: $(field fail.json 'sorted(r["failures"][0])')"

  # docs/scale.md quotes tests/scale/CMakeLists.txt's ctest setup exactly.
  python3 - "$src" <<'EOF' && ok "docs/scale.md's ctest setup is the one make test runs" || fail "docs/scale.md's ctest block differs"
import re, sys
src = sys.argv[1]
doc = open(f"{src}/docs/scale.md").read()
block = re.search(r"```cmake\n(.*?)```", doc, re.S).group(1)
cmake = open(f"{src}/tests/scale/CMakeLists.txt").read()
quoted = cmake.split("(tests/scale/scale.sh checks the doc quotes this) ---\n")[1].split("# --- end")[0]
assert block == quoted, (block, quoted)
EOF

  # The GitHub Actions matrix and the Kubernetes Job, as written in docs/scale.md: each shard's
  # command run with the variables the engine sets, then the merge.
  python3 - "$src" "$racelab" <<'EOF' && ok "docs/scale.md's GitHub Actions and Kubernetes examples run" || fail "docs/scale.md's CI examples"
import glob, os, re, shlex, subprocess, sys, yaml
src, racelab = sys.argv[1:3]
doc = open(f"{src}/docs/scale.md").read()
workflow, job = (yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", doc, re.S))
bindir = os.path.join(os.getcwd(), "bin")
os.makedirs(bindir, exist_ok=True)
if not os.path.exists(f"{bindir}/racelab"):
    os.symlink(racelab, f"{bindir}/racelab")
def sh(command, env=None):
    command = command.replace("build/release/tools/racelab/racelab", "racelab")
    env = (env or dict(os.environ)) | {"PATH": bindir + ":" + os.environ["PATH"]}
    r = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True)
    return r
# GitHub Actions: every matrix entry's racelab step (a step fails on a non-zero exit), then the
# merge job's; the upload runs even when a shard step failed.
shard = workflow["jobs"]["shard"]
values = shard["strategy"]["matrix"]["shard"]
steps = [s["run"] for s in shard["steps"] if "racelab" in s.get("run", "")]
assert [s for s in shard["steps"] if "upload-artifact" in s.get("uses", "")][0]["if"] == "always()"
for v in values:
    for step in steps:
        r = sh(step.replace("${{ matrix.shard }}", str(v)))
        assert r.returncode == 0, (step, r.returncode, r.stdout, r.stderr)
        assert os.path.exists(f"shard-{v}.json")
assert workflow["jobs"]["merge"]["needs"] == "shard" and workflow["jobs"]["merge"]["if"] == "always()"
for step in [s["run"] for s in workflow["jobs"]["merge"]["steps"] if "racelab" in s.get("run", "")]:
    r = sh(step)
    assert r.returncode == 0 and "all of them, no failure" in r.stdout, (step, r.returncode, r.stdout, r.stderr)
assert os.path.exists("racelab.json") and os.path.exists("racelab.xml")
# The same matrix step on the unsafe bank: the step passes (the failure is in the report) and the
# merge fails the workflow with the story.
for v in values:
    step = steps[0].replace("--fix mutex", "--fix unsafe").replace("${{ matrix.shard }}", str(v))
    r = sh(step.replace("shard-", "unsafe-"))
    assert r.returncode == 0, (step, r.returncode, r.stderr)
r = sh("racelab merge unsafe-*.json")
assert r.returncode == 1 and "RACELAB_ASSERT" in r.stdout, (r.returncode, r.stdout)
# Kubernetes Indexed Job: `completions` pods with JOB_COMPLETION_INDEX and the manifest's env,
# each writing to the shared volume (here a directory).
spec = job["spec"]
assert job["kind"] == "Job" and spec["completionMode"] == "Indexed"
container = spec["template"]["spec"]["containers"][0]
env = {e["name"]: e["value"] for e in container["env"]}
assert int(env["RACELAB_SHARD_COUNT"]) == spec["completions"], "RACELAB_SHARD_COUNT must equal completions"
mount = container["volumeMounts"][0]["mountPath"]
assert container["command"][:2] == ["sh", "-c"]
os.makedirs("results", exist_ok=True)
for i in range(spec["completions"]):
    r = sh(container["command"][2].replace(mount + "/", "results/"), os.environ | env | {"JOB_COMPLETION_INDEX": str(i)})
    assert r.returncode == 0, (i, r.returncode, r.stderr)
outputs = sorted(glob.glob("results/shard-*.json"))
assert len(outputs) == spec["completions"], outputs
r = sh("racelab merge " + " ".join(outputs))
assert r.returncode == 0 and "all of them, no failure" in r.stdout, r.stdout
EOF
  ;;
esac
[ $fails -eq 0 ] && echo "all checks passed" || echo "$fails checks failed"
[ $fails -eq 0 ]
