#!/usr/bin/env bash
# Webhook benchmark: a Diun scan burst. 1,000 events from 10 concurrent senders (Diun's
# notification workers), each for a container that exists, with a fresh digest.
#
#   bash scripts/bench/webhook.sh
#
# Per round: a fresh service (Release build, fresh journal, Store:Synchronous=Full) takes a
# 100-event warm-up and then the measured burst; the bare minimal-API endpoint
# (tests/Benchmarks/BareApi: reads the body, answers 202, nothing else) takes the same burst,
# for reference. Checks, for every round: every 202 carries an eventId that is a row of
# `events`, and the burst added exactly as many rows as it got 202s.
# Bar: p99 under 50 ms, every 202 stored. Exit status 0 when both hold in every round, 1 when
# an event check failed, 2 when only the p99 bar was missed.
#
# Knobs (environment):
#   BENCH_EVENTS=1000   events per burst
#   BENCH_SENDERS=10    concurrent senders
#   BENCH_CONTAINERS=10 containers the events name (round robin), update.policy=$BENCH_POLICY
#   BENCH_POLICY=automatic
#   BENCH_ROUNDS=3
#   BENCH_DOCKER_HOST=unix:///var/run/docker.sock
#   BENCH_KEEP=0        1: keep the temp folder (logs, journals)
# Only loopback (127.0.0.1) and the Docker socket are used. Needs dotnet, node, docker, curl, sqlite3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
EVENTS="${BENCH_EVENTS:-1000}"
SENDERS="${BENCH_SENDERS:-10}"
CONTAINER_COUNT="${BENCH_CONTAINERS:-10}"
POLICY="${BENCH_POLICY:-automatic}"
ROUNDS="${BENCH_ROUNDS:-3}"
DOCKER_HOST_URI="${BENCH_DOCKER_HOST:-unix:///var/run/docker.sock}"
KEEP="${BENCH_KEEP:-0}"
IMAGE="localhost:5000/wu-test/app:1.0"
BAR_P99_MS=50
WARMUP_EVENTS=100

log() { printf '==> %s\n' "$*" >&2; }
die() { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }

for n in EVENTS SENDERS CONTAINER_COUNT ROUNDS; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || die "$n=${!n}: use a whole number of 1 or more"
done
[[ "$POLICY" =~ ^[a-z]+$ ]] || die "BENCH_POLICY=$POLICY: use a plain word (automatic, manual)"
for tool in dotnet node docker curl; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
if ! command -v sqlite3 >/dev/null; then
  log "sqlite3 is missing: installing the Debian package"
  { apt-get install -y -qq sqlite3 || { apt-get update -qq && apt-get install -y -qq sqlite3; }; } >/dev/null || die "install sqlite3 and rerun"
fi
dk() { docker -H "$DOCKER_HOST_URI" "$@"; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

WORK="$(mktemp -d "${TMPDIR:-/tmp}/wu-bench.XXXXXX")"
PIDS=()
CONTAINERS=()
cleanup() {
  local status=$?
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  for name in "${CONTAINERS[@]}"; do dk rm -fv "$name" >/dev/null 2>&1; done
  if [[ "$KEEP" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

start_app() { # start_app DIR LOG VAR=VALUE... -- sets LAST_PID
  local dir="$1" logfile="$2"
  shift 2
  (cd "$dir" && exec env "$@") >"$logfile" 2>&1 </dev/null &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

wait_http() { # wait_http PID LOG WHAT CURL-ARGS...: 60 s at most
  local i pid="$1" logfile="$2" what="$3"
  shift 3
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$logfile" >&2; die "$what exited during start-up"; }
    curl -fsS -o /dev/null --max-time 2 "$@" 2>/dev/null && return 0
    sleep 0.1
  done
  tail -n 30 "$logfile" >&2
  die "$what did not answer within 60 s"
}

stop_app() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

log "building the service and BareApi (Release)"
dotnet build "$ROOT/src/WebhookUpdater" -c Release -nologo >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log" >&2; die "the service does not build"; }
dotnet build "$ROOT/tests/Benchmarks/BareApi" -c Release -nologo >>"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log" >&2; die "BareApi does not build"; }
SERVICE_BIN="$ROOT/src/WebhookUpdater/bin/Release/net10.0"
BARE_BIN="$ROOT/tests/Benchmarks/BareApi/bin/Release/net10.0"

dk image inspect "$IMAGE" >/dev/null 2>&1 || die "$IMAGE is not on the engine at $DOCKER_HOST_URI (run scripts/testenv/up.sh)"
TAG="$$-$(random_hex 3)"
for ((i = 0; i < CONTAINER_COUNT + 1; i++)); do
  name="wu-bench-$TAG-$i"
  dk run -d --name "$name" --network host -e APP_PORT="$(free_port)" -l update.policy="$POLICY" -l wu.bench=true "$IMAGE" >/dev/null
  CONTAINERS+=("$name")
done
WARM="${CONTAINERS[0]}"
MEASURED="$(IFS=,; echo "${CONTAINERS[*]:1}")"
log "$CONTAINER_COUNT containers of $IMAGE (update.policy=$POLICY), one more for the warm-ups"

SECRET="$(random_hex 24)"
COMMON_ENV=(ASPNETCORE_ENVIRONMENT=Production Logging__LogLevel__Default=Warning)
burst() { # burst URL EVENTS CONTAINERS IDS_FILE: prints the sender's JSON line
  node "$ROOT/scripts/bench/diun-burst.mjs" "$1" "$SECRET" "$2" "$SENDERS" "$IMAGE" "$3" "$4"
}
field() { node -e 'const r=JSON.parse(process.argv[1]); console.log(r[process.argv[2]])' "$1" "$2"; }

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
ROWS=()
FAILED=0
MISSED=0
for ((round = 1; round <= ROUNDS; round++)); do
  port="$(free_port)"
  start_app "$BARE_BIN" "$WORK/bare-$round.log" "${COMMON_ENV[@]}" ASPNETCORE_URLS="http://127.0.0.1:$port" dotnet BareApi.dll
  bare_pid="$LAST_PID"
  wait_http "$bare_pid" "$WORK/bare-$round.log" BareApi -X POST --data '{}' "http://127.0.0.1:$port/api/diun"
  burst "http://127.0.0.1:$port/api/diun" "$WARMUP_EVENTS" "$WARM" "$WORK/bare-warm.ids" >/dev/null
  bare="$(burst "http://127.0.0.1:$port/api/diun" "$EVENTS" "$MEASURED" "$WORK/bare-$round.ids")"
  stop_app "$bare_pid"

  port="$(free_port)"
  data="$WORK/data-$round"
  mkdir -p "$data"
  start_app "$SERVICE_BIN" "$WORK/service-$round.log" "${COMMON_ENV[@]}" ASPNETCORE_URLS="http://127.0.0.1:$port" \
    Webhook__Secret="$SECRET" Webhook__PermitsPerMinute=1000000 Admin__Token="$(random_hex 24)" \
    Approvals__SigningKey="$(random_hex 32)" Backups__SigningKey="$(random_hex 32)" Approvals__BaseUrl="http://127.0.0.1:$port" \
    Store__DataDirectory="$data" Store__Synchronous=Full Docker__Endpoint="$DOCKER_HOST_URI" Updates__RunWorker=false \
    dotnet WebhookUpdater.dll
  service_pid="$LAST_PID"
  wait_http "$service_pid" "$WORK/service-$round.log" "the service" "http://127.0.0.1:$port/readyz"
  log "round $round: warm-up, then the burst"
  burst "http://127.0.0.1:$port/api/diun" "$WARMUP_EVENTS" "$WARM" "$WORK/warm-$round.ids" >/dev/null
  db="$data/webhook-updater.db"
  before="$(sqlite3 -readonly "$db" 'SELECT coalesce(max(id), 0) FROM events')"
  service="$(burst "http://127.0.0.1:$port/api/diun" "$EVENTS" "$MEASURED" "$WORK/service-$round.ids")"
  stop_app "$service_pid"

  # Every 202's eventId is a row; the burst added no row without a 202.
  ids="$WORK/service-$round.ids"
  accepted="$(field "$service" accepted)"
  {
    echo "CREATE TEMP TABLE answered (id INTEGER PRIMARY KEY);"
    awk '/^[0-9]+$/ { print "INSERT OR IGNORE INTO answered VALUES (" $1 ");" }' "$ids"
    echo "SELECT (SELECT count(*) FROM answered WHERE id NOT IN (SELECT id FROM events)), (SELECT count(*) FROM events WHERE id > $before), (SELECT count(*) FROM answered);"
  } >"$WORK/check-$round.sql"
  IFS='|' read -r missing stored distinct < <(sqlite3 "$db" <"$WORK/check-$round.sql")
  decisions="$(sqlite3 -readonly "$db" "SELECT group_concat(decision || ' ' || n, ', ') FROM (SELECT decision, count(*) AS n FROM jobs WHERE event_id > $before GROUP BY decision)")"
  check="every 202 stored"
  if ((missing > 0 || stored != accepted || distinct != accepted || accepted != EVENTS)); then
    check="FAILED: $accepted 202s ($distinct distinct ids), $missing not stored, $stored rows added, other answers $(field "$service" statuses)"
    FAILED=1
  fi
  p99="$(field "$service" p99_ms)"
  verdict="$(awk -v p="$p99" -v bar="$BAR_P99_MS" 'BEGIN { print (p < bar ? "met" : "missed") }')"
  [[ "$verdict" == met ]] || MISSED=1
  for target in bare service; do
    r="${!target}"
    cell="–"
    [[ "$target" == service ]] && cell="$check; decisions: ${decisions:-none}"
    ROWS+=("| $round | $target | $(field "$r" accepted)/$EVENTS | $(field "$r" p50_ms) | $(field "$r" p90_ms) | $(field "$r" p99_ms)$([[ "$target" == service ]] && echo " ($verdict)") | $(field "$r" max_ms) | $(field "$r" per_second) | $cell |")
  done
done

cat <<EOF

## Webhook: a Diun scan burst

- $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo); load average before: $LOAD_BEFORE
- Docker $(dk version --format '{{.Server.Version}}') at $DOCKER_HOST_URI; .NET SDK $(dotnet --version); Store:Synchronous=Full
- $EVENTS events from $SENDERS concurrent senders for $CONTAINER_COUNT containers (update.policy=$POLICY), after a $WARMUP_EVENTS-event warm-up; bar: p99 under $BAR_P99_MS ms, every 202 stored

| round | target | 202 | p50 ms | p90 ms | p99 ms | max ms | events/s | journal |
|---:|---|---:|---:|---:|---:|---:|---:|---|
EOF
printf '%s\n' "${ROWS[@]}"
echo
if ((FAILED)); then echo "RESULT: event check FAILED"; exit 1; fi
if ((MISSED)); then echo "RESULT: every 202 stored; p99 bar missed in a round"; exit 2; fi
echo "RESULT: every 202 stored; p99 under $BAR_P99_MS ms in every round"
