#!/usr/bin/env bash
# THE test command (README and .ci/run call exactly this). Runnable from any folder.
#   1. scripts/testenv/up.sh (docker engines A and B, registry, s3rver, SES, images)
#   2. dotnet build WebhookUpdater.sln -c Release
#   3. unit tests
#   4. integration tests against engine A (dockerd 20.10)
#   5. integration tests with Category=Docker against engine B (dockerd 26.1)
# scripts/testenv/down.sh always runs at the end, even on failure or interrupt
# (a developer may set WU_TEST_KEEP_ENV=1 to keep the services up for the next run).
# The last line printed is: tests: N passed, M failed, K skipped (summed from the .trx files).
# Exit code: 0 only when every step succeeded.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DOTNET_GENERATE_ASPNET_CERTIFICATE=false

RESULTS="$ROOT/artifacts/test-results"
# A hung test run must not eat the whole CI budget.
STEP_TIMEOUT="${WU_TEST_STEP_TIMEOUT:-40m}"

log() { printf '==> %s\n' "$*"; }

FAILED_STEPS=()
FINISHED=0

# counter ELEMENT NAME: the number in NAME="..." of a <Counters .../> element, 0 if absent.
counter() {
  local n
  n="$(sed -n "s/.* $2=\"\([0-9]*\)\".*/\1/p" <<<"$1")"
  echo "${n:-0}"
}

summary() {
  local f passed=0 failed=0 skipped=0 c
  shopt -s nullglob
  for f in "$RESULTS"/*.trx; do
    # <Counters total="3" executed="3" passed="2" failed="1" error="0" timeout="0" ... notExecuted="0" .../>
    # Skipped tests are counted as notExecuted; errors and timeouts count as failures.
    c="$(grep -o '<Counters [^>]*>' "$f" | head -n 1 || true)"
    [[ -n "$c" ]] || continue
    passed=$((passed + $(counter "$c" passed)))
    failed=$((failed + $(counter "$c" failed) + $(counter "$c" error) + $(counter "$c" timeout)))
    skipped=$((skipped + $(counter "$c" notExecuted)))
  done
  printf 'tests: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
}

finish() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [[ "${WU_TEST_KEEP_ENV:-0}" == 1 ]]; then
    log "WU_TEST_KEEP_ENV=1: leaving the test environment running"
  else
    log "stopping the test environment"
    bash "$ROOT/scripts/testenv/down.sh" || log "down.sh failed (ignored)"
  fi
  if ((${#FAILED_STEPS[@]} > 0)); then
    log "failed steps: ${FAILED_STEPS[*]}"
    ((rc == 0)) && rc=1
  elif ((!FINISHED)); then
    log "test run did not finish"
    ((rc == 0)) && rc=1
  fi
  summary
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_step NAME CMD...: run, record a failure, never abort the script.
run_step() {
  local name="$1" rc=0
  shift
  log "$name: $*"
  "$@" || rc=$?
  if ((rc != 0)); then
    log "$name: FAILED (exit $rc)"
    FAILED_STEPS+=("$name")
  fi
  return 0
}

rm -rf "$RESULTS"
mkdir -p "$RESULTS"

log "bringing up the test environment"
bash "$ROOT/scripts/testenv/up.sh"
# shellcheck source=/dev/null
source "$ROOT/scripts/testenv/.state/env.sh"

# dotnet test speaks two dialects: global.json's "test": {"runner": "Microsoft.Testing.Platform"}
# switches it to MTP (--project, xunit's --report-xunit-trx, --output), otherwise VSTest
# (--logger trx / console). Same results either way: one .trx per step in $RESULTS.
MTP=0
if grep -q '"Microsoft.Testing.Platform"' "$ROOT/global.json" 2>/dev/null; then
  MTP=1
fi

# dotnet_test PROJECT TRX_NAME [extra args...]
dotnet_test() {
  local project="$1" trx="$2"
  shift 2
  if ((MTP)); then
    timeout -k 30s "$STEP_TIMEOUT" dotnet test --project "$project" -c Release --no-build \
      --results-directory "$RESULTS" \
      --report-xunit-trx --report-xunit-trx-filename "$trx" \
      --output Detailed "$@"
  else
    timeout -k 30s "$STEP_TIMEOUT" dotnet test "$project" -c Release --no-build \
      --results-directory "$RESULTS" \
      --logger "trx;LogFileName=$trx" \
      --logger "console;verbosity=normal" "$@"
  fi
}

run_step build timeout -k 30s "$STEP_TIMEOUT" dotnet build WebhookUpdater.sln -c Release

if ((${#FAILED_STEPS[@]} == 0)); then
  run_step unit-tests dotnet_test tests/WebhookUpdater.Tests unit.trx

  export WU_TEST_ENGINE=A DOCKER_HOST="$WU_TEST_DOCKER_HOST_A"
  run_step integration-engine-A dotnet_test tests/WebhookUpdater.IntegrationTests integration-engine-A.trx

  # Engine B runs only the Docker-facing tests; a filter that matches nothing fails
  # (MTP exits 8 on zero tests), so engine B can never pass by running nothing.
  export WU_TEST_ENGINE=B DOCKER_HOST="$WU_TEST_DOCKER_HOST_B"
  if ((MTP)); then
    b_extra=(--filter-trait "Category=Docker")
  else
    b_extra=(--filter "Category=Docker")
  fi
  run_step integration-engine-B dotnet_test tests/WebhookUpdater.IntegrationTests integration-engine-B.trx "${b_extra[@]}"
  unset WU_TEST_ENGINE DOCKER_HOST
else
  log "build failed: tests not run"
fi

FINISHED=1
