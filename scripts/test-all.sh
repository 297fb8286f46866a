#!/usr/bin/env bash
# Full test run (`npm test`): typecheck, the vitest suite on Node, Bun and Deno, then the
# packed-tarball smoke test. Every phase runs even if an earlier one failed; the script exits 1
# if any failed. The last line has the form `suites: N passed, N failed`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"

RESULTS="$(mktemp -d "${TMPDIR:-/tmp}/rankwise-test.XXXXXX")"
trap 'rm -rf "$RESULTS"' EXIT

now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1fs", ms / 1000 }'; }

passed_phases=0
failed_phases=0
summary_lines=()
total_tests_passed=0
total_tests_failed=0

header() {
  echo
  echo "=================================================================="
  echo "== $1"
  echo "=================================================================="
}

# record NAME STATUS MILLIS DETAIL
record() {
  local name="$1" status="$2" ms="$3" detail="${4:-}"
  if [ "$status" = ok ]; then passed_phases=$((passed_phases + 1)); else failed_phases=$((failed_phases + 1)); fi
  summary_lines+=("$(printf '  %-10s %-6s %7s  %s' "$name" "$status" "$(secs "$ms")" "$detail")")
}

# vitest_counts FILE -> "files_passed files_failed tests_passed tests_failed tests_skipped"
vitest_counts() {
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0)
    console.log([r.numPassedTestSuites, r.numFailedTestSuites, r.numPassedTests, r.numFailedTests, skipped].join(" "))
  ' "$1" 2>/dev/null || echo "0 0 0 0 0"
}

# run_vitest NAME RUNTIME-COMMAND...
run_vitest() {
  local name="$1"; shift
  local json="$RESULTS/$name.json" start rc=0
  header "vitest on $name: $*"
  start=$(now_ms)
  RANKWISE_EXPECT_RUNTIME="$name" "$@" run --reporter=default --reporter=json --outputFile.json="$json" || rc=$?
  local ms=$(( $(now_ms) - start ))
  local fp=0 ff=0 tp=0 tf=0 ts=0
  if [ -s "$json" ]; then read -r fp ff tp tf ts < <(vitest_counts "$json"); fi
  total_tests_passed=$((total_tests_passed + tp))
  total_tests_failed=$((total_tests_failed + tf))
  local detail="files $fp passed, $ff failed; tests $tp passed, $tf failed, $ts skipped"
  if [ "$rc" -eq 0 ] && [ -s "$json" ]; then
    record "$name" ok "$ms" "$detail"
  else
    [ -s "$json" ] || detail="no vitest report (runner crashed?)"
    record "$name" FAILED "$ms" "$detail (exit $rc)"
  fi
}

# run_phase NAME COMMAND...
run_phase() {
  local name="$1"; shift
  local start rc=0
  header "$name: $*"
  start=$(now_ms)
  "$@" || rc=$?
  local ms=$(( $(now_ms) - start ))
  if [ "$rc" -eq 0 ]; then record "$name" ok "$ms"; else record "$name" FAILED "$ms" "(exit $rc)"; fi
}

overall_start=$(now_ms)

run_phase typecheck npx tsc -p tsconfig.json
run_vitest node npx vitest
run_vitest bun npx bun --bun ./node_modules/vitest/vitest.mjs
run_vitest deno npx deno run -A ./node_modules/vitest/vitest.mjs
run_phase pack bash scripts/pack-smoke.sh

header "summary"
printf '%s\n' "${summary_lines[@]}"
echo "  total      $(secs $(( $(now_ms) - overall_start )))"
echo "  test cases, all runtimes together: passed $total_tests_passed, failed $total_tests_failed"
echo "suites: $passed_phases passed, $failed_phases failed"

[ "$failed_phases" -eq 0 ]
