#!/usr/bin/env bash
# Webhook latency benchmark (issue 2): POST /api/diun of the service against a bare
# minimal-API endpoint (tests/Benchmarks/BareApi) on the same host, same Kestrel, same
# Release build settings and logging level, loaded by wrk with the same threads/connections.
#
#   bash scripts/bench/webhook.sh
#
# What it does, in order:
#   1. builds the service and BareApi in Release (the working tree, or BENCH_REF's snapshot);
#   2. creates two containers of localhost:5000/wu-test/app:1.0 (update.policy=automatic,
#      label wu.bench=true, --network host, APP_PORT on a free loopback port): the measured
#      one, and one that only the warm-up's events name;
#   3. starts BareApi once (and warms it up), then, for each Store:Synchronous mode (Full,
#      Normal) and each connection profile (-c1, -c16 steady, -c64 burst): starts the service
#      on a fresh data folder, sends one event by hand (must be 202, naming the container),
#      warms it up, then runs wrk with the same settings against the bare endpoint and then
#      the service (alternating); every request is a new event (scripts/bench/diun-post.lua
#      puts a fresh digest in each);
#   4. checks "no 202 without a stored event", per service run: every eventId the service
#      answered 202 with is a row of `events`, and the rows the run added are exactly the
#      202s, plus at most the requests wrk left in flight when its time was up (it closes
#      those connections without reading the answer, but the service may already have
#      written the event; the table shows them as "N (202s + M unanswered)");
#   5. prints a markdown table: p50, p99, req/s, 202s, stored events, p99 service/bare, CPU
#      per request (server, dockerd) and how busy the rest of the machine was (noisy runs
#      are flagged).
# Everything it started (processes, containers, temp folder) is removed on exit (trap).
# Exit status: 0 when every event check passed, 1 when one failed (or on any error).
# The latency target (p99 within 1.5x the bare endpoint's) is reported, not enforced.
#
# Knobs (environment):
#   BENCH_DURATION=5s        length of each measured wrk run (1-30 s)
#   BENCH_WARMUP=2s          warm-up per target before measuring (0-10 s)
#   BENCH_THREADS=2          wrk threads (the machine has 2 cores)
#   BENCH_CONNECTIONS="1 16 64 10/5"  connection profiles, run in this order (1: one request
#                            at a time, as one Diun worker sends them; 16: steady; 64: burst,
#                            both as fast as the server answers, so their p99 is mostly
#                            queueing; N/P: N connections that each pause P ms before their
#                            next request (10/5: Diun's default 10 watch workers notifying
#                            back to back at up to ~2,000 events/s, below both servers'
#                            capacity, so the p99 is the answer's own time, not a queue; wrk
#                            does not count the pause in the latency)); wrk threads =
#                            min(BENCH_THREADS, connections)
#   BENCH_WARMUP_CONNECTIONS=16
#   BENCH_SYNC_MODES="Full Normal"
#   BENCH_TIMEOUT=10s        wrk --timeout (answers slower than this count as timeouts)
#   BENCH_REF=               empty: build the working tree; a git ref (e.g. HEAD): build a
#                            `git archive` snapshot of src/ in the temp folder (BareApi is
#                            always built from the working tree)
#   BENCH_PATCH=             a patch file (git diff format) applied to the service's source
#                            before the build, for a measurement that needs changed code; the
#                            source is then a snapshot (BENCH_REF, default HEAD), never the
#                            working tree. scripts/bench/no-journal.patch answers without
#                            writing the journal (the ceiling of any journal design): its runs
#                            fail the event check by design (exit status 1)
#   BENCH_POLICY=automatic   the container's update.policy label
#   BENCH_WORKER=off         off: Updates__RunWorker=false, so the numbers are the webhook's
#                            own path (auth, validation, Docker lookups, journal commit);
#                            on: the update worker runs too and takes every queued job
#                            (backup, pull, ...) while the load runs, competing for CPU,
#                            Docker and the journal's write lock
#   BENCH_SERVICE_ENV=       extra settings for the service, "Key__Sub=value ..." (no spaces
#                            in values), e.g. for a setting a newer commit requires at start
#   BENCH_DOCKER_HOST=unix:///var/run/docker.sock
#   BENCH_KEEP=0             1: keep the temp folder (logs, databases, wrk outputs)
#
# Only loopback (127.0.0.1) and the local Docker socket are used.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LUA="$ROOT/scripts/bench/diun-post.lua"
BARE_PROJECT="$ROOT/tests/Benchmarks/BareApi"

DURATION="${BENCH_DURATION:-5s}"
WARMUP="${BENCH_WARMUP:-2s}"
THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-1 16 64 10/5}"
WARMUP_CONNECTIONS="${BENCH_WARMUP_CONNECTIONS:-16}"
SYNC_MODES="${BENCH_SYNC_MODES:-Full Normal}"
TIMEOUT="${BENCH_TIMEOUT:-10s}"
REF="${BENCH_REF:-}"
PATCH_FILE="${BENCH_PATCH:-}"
POLICY="${BENCH_POLICY:-automatic}"
WORKER="${BENCH_WORKER:-off}"
read -r -a EXTRA_ENV <<<"${BENCH_SERVICE_ENV:-}"
DOCKER_HOST_URI="${BENCH_DOCKER_HOST:-unix:///var/run/docker.sock}"
KEEP="${BENCH_KEEP:-0}"
IMAGE="localhost:5000/wu-test/app:1.0"
TARGET_RATIO="1.5"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf '==> WARNING: %s\n' "$*" >&2; }
die() { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }

seconds_of() { # "5s" or "5" -> 5, within [min, max]
  local value="${1%s}" min="$2" max="$3" name="$4"
  [[ "$value" =~ ^[0-9]+$ ]] || die "$name=$1: use whole seconds, e.g. 5s"
  ((value >= min && value <= max)) || die "$name=$1: use $min to $max seconds"
  printf '%s' "$value"
}
DURATION_S="$(seconds_of "$DURATION" 1 30 BENCH_DURATION)"
WARMUP_S="$(seconds_of "$WARMUP" 0 10 BENCH_WARMUP)"
TIMEOUT_S="$(seconds_of "$TIMEOUT" 1 30 BENCH_TIMEOUT)"
[[ "$THREADS" =~ ^[1-8]$ ]] || die "BENCH_THREADS=$THREADS: use 1 to 8"
valid_profile() { # N or N/P: 1-256 connections, pause 1-1000 ms
  [[ "$1" =~ ^([0-9]+)(/([0-9]+))?$ ]] || return 1
  ((BASH_REMATCH[1] >= 1 && BASH_REMATCH[1] <= 256)) || return 1
  [[ -z "${BASH_REMATCH[3]}" ]] || ((BASH_REMATCH[3] >= 1 && BASH_REMATCH[3] <= 1000))
}
for c in $CONNECTIONS; do
  valid_profile "$c" || die "BENCH_CONNECTIONS: '$c' must be N (1 to 256 connections) or N/P (P: a pause of 1 to 1000 ms)"
done
for c in $WARMUP_CONNECTIONS; do
  [[ "$c" =~ ^[0-9]+$ ]] && ((c >= 1 && c <= 256)) || die "BENCH_WARMUP_CONNECTIONS: '$c' must be 1 to 256"
done
[[ "$WORKER" == on || "$WORKER" == off ]] || die "BENCH_WORKER=$WORKER: use on or off"
[[ "$POLICY" =~ ^[a-z]+$ ]] || die "BENCH_POLICY=$POLICY: use a plain word (automatic, manual)"
for kv in "${EXTRA_ENV[@]}"; do
  [[ "$kv" =~ ^[A-Za-z_][A-Za-z0-9_.]*=.*$ ]] || die "BENCH_SERVICE_ENV: '$kv' is not NAME=value"
done
if [[ -n "$PATCH_FILE" ]]; then
  [[ -f "$PATCH_FILE" ]] || die "BENCH_PATCH=$PATCH_FILE: no such file"
  PATCH_FILE="$(cd "$(dirname "$PATCH_FILE")" && pwd)/$(basename "$PATCH_FILE")"
  REF="${REF:-HEAD}"
fi
for mode in $SYNC_MODES; do
  [[ "$mode" == Full || "$mode" == Normal ]] || die "BENCH_SYNC_MODES: '$mode' is neither Full nor Normal"
done

# ---------------------------------------------------------------- tools

as_root() { if ((EUID == 0)); then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

ensure_tool() { # ensure_tool COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null && return 0
  log "$1 is missing: installing the Debian package $2"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; then
    as_root apt-get update -qq >/dev/null || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null \
      || die "could not install $2 (apt-get); install it and rerun"
  fi
  command -v "$1" >/dev/null || die "$1 still missing after installing $2"
}

for tool in dotnet docker curl git ss awk; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
ensure_tool wrk wrk
ensure_tool sqlite3 sqlite3

dk() { docker -H "$DOCKER_HOST_URI" "$@"; }

# ---------------------------------------------------------------- cleanup

WORK="$(mktemp -d "${TMPDIR:-/tmp}/wu-bench.XXXXXX")"
PIDS=()
CONTAINER_IDS=()
FAILED=0

stop_pid() {
  local pid="$1" i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  for pid in "${PIDS[@]}"; do
    stop_pid "$pid"
  done
  for id in "${CONTAINER_IDS[@]}"; do
    dk rm -fv "$id" >/dev/null 2>&1 || warn "could not remove container $id"
  done
  if [[ "$KEEP" == 1 ]]; then
    log "kept $WORK (logs, databases, wrk outputs)"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

USED_PORTS=" "
free_port() {
  local port i
  for ((i = 0; i < 500; i++)); do
    port=$((20000 + RANDOM % 40000))
    [[ "$USED_PORTS" == *" $port "* ]] && continue
    if ! ss -Hltn "sport = :$port" | grep -q .; then
      USED_PORTS+="$port "
      printf '%s' "$port"
      return 0
    fi
  done
  die "no free loopback port found"
}

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# start_app DIR LOG VAR=VALUE... -- COMMAND...: runs COMMAND in DIR (its content root) with
# the variables set; sets LAST_PID to the app's own process id.
start_app() {
  local dir="$1" log="$2"
  shift 2
  (cd "$dir" && exec env "$@") >"$log" 2>&1 </dev/null &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# wait_http PID LOG WHAT CURL-ARGS...: polls until curl answers 2xx (60 s at most).
wait_http() {
  local pid="$1" logfile="$2" what="$3" i
  shift 3
  for ((i = 0; i < 600; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$logfile" >&2 || true
      die "$what exited during start-up (log above)"
    fi
    curl -fsS -o /dev/null --max-time 2 "$@" 2>/dev/null && return 0
    sleep 0.1
  done
  tail -n 40 "$logfile" >&2 || true
  die "$what did not answer within 60 s"
}

# --- CPU accounting, so that a run disturbed by something else on the machine shows it.
CLK_TCK="$(getconf CLK_TCK)"
NPROC="$(nproc)"

proc_ticks() { # proc_ticks PID...: utime+stime of these processes, in clock ticks
  local total=0 pid stat
  local -a f
  for pid in "$@"; do
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
    read -r -a f <<<"${stat##*) }"
    total=$((total + f[11] + f[12]))
  done
  printf '%s' "$total"
}

engine_pids() { # the dockerd answering on the benchmark's socket, and its direct children (containerd)
  local sock="${DOCKER_HOST_URI#unix://}" pid
  pid="$(ss -xlpn 2>/dev/null | awk -v s="$sock" '$5 == s && match($0, /pid=[0-9]+/) { print substr($0, RSTART + 4, RLENGTH - 4); exit }')"
  [[ -n "$pid" ]] || return 0
  printf '%s\n' "$pid"
  pgrep -P "$pid" || true
}

# cpu_snapshot SERVER_PID: "busy total server engine children" in clock ticks; children =
# the processes this shell has waited for (wrk, through timeout).
cpu_snapshot() {
  local stat busy total u n sy idle io irq sirq steal
  local -a f
  read -r _ u n sy idle io irq sirq steal _ </proc/stat
  busy=$((u + n + sy + irq + sirq + steal))
  total=$((busy + idle + io))
  stat="$(cat "/proc/$$/stat")"
  read -r -a f <<<"${stat##*) }"
  # shellcheck disable=SC2046
  printf '%s %s %s %s %s' "$busy" "$total" "$(proc_ticks "$1")" "$(proc_ticks $(engine_pids))" "$((f[13] + f[14]))"
}

# run_wrk NAME URL CONNECTIONS SECONDS SERVER_PID: runs wrk, leaves its output in
# $WORK/NAME.txt, the accepted eventIds in $WORK/NAME.ids and the parsed summary in R_*
# variables (R_app_ms, R_engine_ms: CPU ms per answered request of the server and of
# dockerd+containerd; R_other_pct: CPU used by everything else, in % of one core).
run_wrk() { # run_wrk NAME URL CONNECTIONS SECONDS SERVER_PID [PAUSE_MS]
  local name="$1" url="$2" conns="$3" secs="$4" server_pid="$5" pause="${6:-}" out line kv threads before after
  local -a b a
  out="$WORK/$name.txt"
  threads=$((conns < THREADS ? conns : THREADS))
  before="$(cpu_snapshot "$server_pid")"
  WU_BENCH_IDS_FILE="$WORK/$name.ids" WU_BENCH_PAUSE_MS="$pause" timeout --kill-after=5 $((secs + TIMEOUT_S + 30)) \
    wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout "${TIMEOUT_S}s" --latency -s "$LUA" "$url" -- "$(random_hex 8)" \
    >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed ($name)"; }
  after="$(cpu_snapshot "$server_pid")"
  line="$(grep '^WU_BENCH ' "$out" | tail -n 1)" || { cat "$out" >&2; die "wrk printed no summary ($name)"; }
  for kv in ${line#WU_BENCH }; do
    printf -v "R_${kv%%=*}" '%s' "${kv#*=}"
  done
  read -r -a b <<<"$before"
  read -r -a a <<<"$after"
  read -r R_app_ms R_engine_ms R_other_pct < <(awk -v busy=$((a[0] - b[0])) -v total=$((a[1] - b[1])) \
    -v app=$((a[2] - b[2])) -v engine=$((a[3] - b[3])) -v kids=$((a[4] - b[4])) \
    -v req="$R_responses" -v hz="$CLK_TCK" -v n="$NPROC" 'BEGIN {
      other = busy - app - engine - kids; if (other < 0) other = 0
      per = (req > 0 ? 1000 / hz / req : 0)
      printf "%.3f %.3f %.0f\n", app * per, engine * per, (total > 0 ? 100 * other * n / total : 0)
    }')
  printf '%s app_ms=%s engine_ms=%s other_pct=%s\n' "$name" "$R_app_ms" "$R_engine_ms" "$R_other_pct" >>"$WORK/cpu.txt"
}

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

db_query() { sqlite3 -readonly -batch -noheader "$1" "$2"; }

# wait_idle DB: waits until the events table stops growing (in-flight requests drained).
wait_idle() {
  local db="$1" last=-1 now i stable=0
  for ((i = 0; i < 60; i++)); do
    now="$(db_query "$db" 'SELECT count(*) FROM events')"
    if [[ "$now" == "$last" ]]; then
      ((++stable >= 3)) && return 0
    else
      stable=0
    fi
    last="$now"
    sleep 0.25
  done
  warn "the events table was still growing after 15 s"
}

# ---------------------------------------------------------------- build

export DOCKER_HOST="$DOCKER_HOST_URI"
if [[ -n "$REF" ]]; then
  COMMIT="$(git -C "$ROOT" rev-parse --verify "$REF^{commit}")" || die "BENCH_REF=$REF is not a commit"
  SOURCE="snapshot of $REF ($(git -C "$ROOT" rev-parse --short "$COMMIT"))"
  mkdir -p "$WORK/src"
  git -C "$ROOT" archive --format=tar "$COMMIT" | tar -x -C "$WORK/src"
  if [[ -n "$PATCH_FILE" ]]; then
    (cd "$WORK/src" && git apply "$PATCH_FILE") || die "BENCH_PATCH=$PATCH_FILE does not apply to $REF"
    SOURCE+=" patched with $(basename "$PATCH_FILE")"
  fi
  SERVICE_PROJECT="$WORK/src/src/WebhookUpdater"
else
  dirty="$(git -C "$ROOT" status --porcelain -- src Directory.Build.props Directory.Packages.props 2>/dev/null | wc -l)"
  SOURCE="working tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  ((dirty > 0)) && SOURCE+=" + $dirty uncommitted change(s) under src/"
  SERVICE_PROJECT="$ROOT/src/WebhookUpdater"
fi

log "building the service ($SOURCE) and BareApi in Release"
dotnet build "$SERVICE_PROJECT" -c Release -nologo >"$WORK/build-service.log" 2>&1 \
  || { grep -E 'error|warning' "$WORK/build-service.log" | sort -u | tail -n 30 >&2; die "the service does not build"; }
dotnet build "$BARE_PROJECT" -c Release -nologo >"$WORK/build-bare.log" 2>&1 \
  || { grep -E 'error|warning' "$WORK/build-bare.log" | sort -u | tail -n 30 >&2; die "BareApi does not build"; }
SERVICE_BIN="$SERVICE_PROJECT/bin/Release/net10.0"
BARE_BIN="$BARE_PROJECT/bin/Release/net10.0"
[[ -f "$SERVICE_BIN/WebhookUpdater.dll" && -f "$BARE_BIN/BareApi.dll" ]] || die "build outputs not found"

# ---------------------------------------------------------------- container

dk version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine answers at $DOCKER_HOST_URI"
dk image inspect "$IMAGE" >/dev/null 2>&1 || die "$IMAGE is not on the engine (run scripts/testenv/up.sh)"
# Leftovers of an earlier run that was killed before its trap ran (its shell is gone).
for stale in $(dk ps -aq --filter label=wu.bench=true); do
  owner="$(dk inspect -f '{{index .Config.Labels "wu.bench.pid"}}' "$stale" 2>/dev/null || true)"
  if [[ "$owner" =~ ^[0-9]+$ ]] && ! kill -0 "$owner" 2>/dev/null; then
    log "removing container $stale left over by an earlier run (pid $owner)"
    dk rm -fv "$stale" >/dev/null 2>&1 || true
  fi
done
# Not labelled wu.test=true on purpose: the integration tests' fixture removes every
# wu.test=true container when a collection starts or ends, which would pull the container
# away from under a concurrent benchmark. Two containers of the same image and policy: the
# warm-up's events name the second one, so that the measured container's journal history
# (which every event's supersede query walks) starts empty at each measured run.
new_container() { # new_container NAME
  local port id
  port="$(free_port)"
  log "creating container $1 ($IMAGE, update.policy=$POLICY, APP_PORT=$port)"
  id="$(dk run -d --name "$1" --network host -e APP_PORT="$port" \
    -l update.policy="$POLICY" -l wu.bench=true -l wu.bench.pid=$$ "$IMAGE")"
  CONTAINER_IDS+=("$id")
}
RUN_TAG="$$-$(random_hex 3)"
CONTAINER="wu-bench-app-$RUN_TAG"
WARM_CONTAINER="wu-bench-warm-$RUN_TAG"
new_container "$CONTAINER"
new_container "$WARM_CONTAINER"

# ---------------------------------------------------------------- machine

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="${LOAD_BEFORE%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  warn "load average $LOAD_BEFORE before the benchmark: something else is busy, numbers will be noisy"
fi
CPU_MODEL="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
MEM_GB="$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)"
FS_TYPE="$(df -PT "$WORK" | awk 'NR == 2 { print $2 }')"
DOCKER_VERSION="$(dk version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
DOTNET_VERSION="$(dotnet --version)"

# ---------------------------------------------------------------- bare endpoint

SECRET="$(random_hex 24)"
ADMIN_TOKEN="$(random_hex 24)"
SIGNING_KEY="$(head -c 48 /dev/urandom | base64 -w0)"
export WU_BENCH_SECRET="$SECRET" WU_BENCH_IMAGE="$IMAGE"

COMMON_ENV=(
  ASPNETCORE_ENVIRONMENT=Production
  Logging__LogLevel__Default=Warning
  Logging__LogLevel__Microsoft.AspNetCore=Warning
)

BARE_PORT="$(free_port)"
BARE_URL="http://127.0.0.1:$BARE_PORT/api/diun"
start_app "$BARE_BIN" "$WORK/bare.log" "${COMMON_ENV[@]}" ASPNETCORE_URLS="http://127.0.0.1:$BARE_PORT" dotnet BareApi.dll
BARE_PID="$LAST_PID"
wait_http "$BARE_PID" "$WORK/bare.log" "BareApi" -X POST --data '{}' "$BARE_URL"
log "BareApi listening on 127.0.0.1:$BARE_PORT"
if ((WARMUP_S > 0)); then
  log "warming up BareApi (${WARMUP_S}s)"
  WU_BENCH_CONTAINER="$WARM_CONTAINER" run_wrk warmup-bare "$BARE_URL" "$WARMUP_CONNECTIONS" "$WARMUP_S" "$BARE_PID"
fi

# ---------------------------------------------------------------- runs

ROWS=()       # markdown rows
SUMMARY=()    # target lines
CHECKS=()     # event-check lines
MAX_RATIO=""  # over all rows
WORKER_ENV="Updates__RunWorker=$([[ "$WORKER" == on ]] && echo true || echo false)"

NOISY=0
noisy() { # noisy PERCENT: the cell, flagged when something else used more than 25% of a core
  if (($1 > 25)); then
    printf '%s%% (noisy)' "$1"
  else
    printf '%s%%' "$1"
  fi
}

record_check() { # record_check OK|FAIL TEXT
  CHECKS+=("- $1: $2")
  [[ "$1" == OK ]] || FAILED=1
}

# start_service NAME MODE: a fresh service on a fresh journal, checked with one event by hand
# and warmed up; sets URL, DB and SERVICE_PID.
start_service() {
  local name="$1" mode="$2" port data smoke
  data="$WORK/data-$name"
  mkdir -p "$data"
  DB="$data/webhook-updater.db"
  port="$(free_port)"
  URL="http://127.0.0.1:$port/api/diun"
  log "[$name] starting the service (Store:Synchronous=$mode, worker $WORKER) on 127.0.0.1:$port"
  start_app "$SERVICE_BIN" "$WORK/service-$name.log" "${COMMON_ENV[@]}" \
    ASPNETCORE_URLS="http://127.0.0.1:$port" \
    Webhook__Secret="$SECRET" Admin__Token="$ADMIN_TOKEN" Webhook__PermitsPerMinute=100000000 \
    Store__DataDirectory="$data" Store__Synchronous="$mode" Docker__Endpoint="$DOCKER_HOST_URI" \
    Approvals__SigningKey="$SIGNING_KEY" Approvals__BaseUrl="http://127.0.0.1:$port" \
    "$WORKER_ENV" "${EXTRA_ENV[@]}" dotnet WebhookUpdater.dll
  SERVICE_PID="$LAST_PID"
  wait_http "$SERVICE_PID" "$WORK/service-$name.log" "the service ($name)" "http://127.0.0.1:$port/readyz"

  # Auth, payload shape and decision are what the benchmark assumes: one event by hand.
  smoke="$(curl -sS --max-time 10 -w ' HTTP%{http_code}' -X POST -H "Authorization: Bearer $SECRET" \
    -H 'Content-Type: application/json' --data-binary @- "$URL" <<EOF
{"diun_version":"4.28.0","hostname":"bench","status":"update","provider":"docker","image":"$IMAGE","hub_link":"","mime_type":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:$(random_hex 32)","created":"2024-10-15T19:58:44Z","platform":"linux/amd64","metadata":{"ctn_names":"$WARM_CONTAINER"}}
EOF
  )"
  [[ "$smoke" == *" HTTP202" && "$smoke" == *"\"container\":\"$WARM_CONTAINER\""* ]] \
    || die "the service's answer to one event is not a 202 naming $WARM_CONTAINER: $smoke"
  [[ "$smoke" == *'"decision":"queued"'* || "$POLICY" != automatic ]] \
    || warn "the event by hand was not queued: $smoke"
  if ((WARMUP_S > 0)); then
    log "[$name] warming up the service (${WARMUP_S}s, events for $WARM_CONTAINER)"
    WU_BENCH_CONTAINER="$WARM_CONTAINER" run_wrk "warmup-$name" "$URL" "$WARMUP_CONNECTIONS" "$WARMUP_S" "$SERVICE_PID"
  fi
}

for mode in $SYNC_MODES; do
  for entry in $CONNECTIONS; do
    conns="${entry%%/*}"
    pause=""
    [[ "$entry" == */* ]] && pause="${entry#*/}"
    profile="-t$((conns < THREADS ? conns : THREADS)) -c$conns -d${DURATION_S}s${pause:+, $pause ms pause}"
    name="$mode-c$conns${pause:+p$pause}"
    start_service "$name" "$mode"

    # Bare endpoint first, then the service, with the same wrk settings.
    sleep 1
    log "[$name] bare endpoint: wrk $profile"
    WU_BENCH_CONTAINER="$CONTAINER" run_wrk "bare-$name" "$BARE_URL" "$conns" "$DURATION_S" "$BARE_PID" "$pause"
    bare_p99="$R_p99_us"
    ((R_other_pct <= 25)) || NOISY=1
    ROWS+=("| $mode | $profile | bare | $(ms "$R_p50_us") | $(ms "$R_p99_us") | $R_rps | $R_accepted | $R_other | – | 1.00 (reference) | $R_app_ms / $R_engine_ms | $(noisy "$R_other_pct") |")
    if ((R_other > 0 || R_err_timeout > 0)); then
      warn "bare endpoint ($name): $R_other non-202 answer(s) ($R_other_statuses), $R_err_timeout timeout(s)"
    fi

    sleep 1
    wait_idle "$DB"
    before_max="$(db_query "$DB" 'SELECT coalesce(max(id), 0) FROM events')"
    log "[$name] service: wrk $profile"
    WU_BENCH_CONTAINER="$CONTAINER" run_wrk "service-$name" "$URL" "$conns" "$DURATION_S" "$SERVICE_PID" "$pause"
    wait_idle "$DB"

    # --- no 202 without a stored event: by eventId, then by count
    ids="$WORK/service-$name.ids"
    acked_lines="$(wc -l <"$ids")"
    {
      echo "CREATE TEMP TABLE acked (id INTEGER PRIMARY KEY);"
      echo "BEGIN;"
      awk '/^[0-9]+$/ { print "INSERT OR IGNORE INTO acked VALUES (" $1 ");" }' "$ids"
      echo "COMMIT;"
      echo "SELECT (SELECT count(*) FROM acked),"
      echo "       (SELECT count(*) FROM acked WHERE id NOT IN (SELECT id FROM events)),"
      echo "       (SELECT count(*) FROM events WHERE id > $before_max),"
      echo "       (SELECT count(*) FROM events WHERE id > $before_max AND id NOT IN (SELECT id FROM acked)),"
      echo "       (SELECT count(*) FROM events WHERE id > $before_max AND resolution = 'deferred');"
    } >"$WORK/service-$name.sql"
    IFS='|' read -r acked missing stored extra deferred < <(sqlite3 -readonly -batch -noheader "$DB" <"$WORK/service-$name.sql")
    [[ -n "${deferred:-}" ]] || die "could not query $DB"
    unanswered=$((R_sent - R_responses))
    duplicates=$((acked_lines - acked))
    decisions="$(db_query "$DB" "SELECT group_concat(decision || ':' || n, ', ') FROM (SELECT decision, count(*) AS n FROM jobs WHERE event_id > $before_max GROUP BY decision ORDER BY decision)")"

    stored_cell="$stored"
    ((extra == 0)) || stored_cell="$stored ($R_accepted + $extra unanswered)"
    what="$name: $R_accepted 202s, $stored events stored"
    if ((missing > 0)); then
      record_check FAIL "$what: $missing 202(s) name an eventId that is not in events"
    elif ((duplicates > 0 || R_accepted_no_id > 0)); then
      record_check FAIL "$what: $duplicates duplicated eventId(s), $R_accepted_no_id 202(s) without an eventId"
    elif ((acked != R_accepted || stored != R_accepted + extra)); then
      record_check FAIL "$what: counts disagree (eventIds $acked, events without a 202: $extra)"
    elif ((extra > unanswered)); then
      record_check FAIL "$what: $extra event(s) stored without a 202, more than the $unanswered request(s) wrk left in flight"
    else
      record_check OK "$what; every 202's eventId is in events; $extra event(s) from the $unanswered request(s) wrk left in flight at the end; deferred: $deferred; decisions: ${decisions:-none}"
    fi
    for id in "${CONTAINER_IDS[@]}"; do
      dk inspect "$id" >/dev/null 2>&1 || record_check FAIL "$name: container $id disappeared during the run (removed by someone else?)"
    done
    stop_pid "$SERVICE_PID"

    ((R_other_pct <= 25)) || NOISY=1
    ratio="$(awk -v s="$R_p99_us" -v b="$bare_p99" 'BEGIN { printf "%.2f", (b > 0 ? s / b : 0) }')"
    verdict="$(awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN { print (r <= t ? "met" : "missed") }')"
    if [[ -z "$MAX_RATIO" ]] || awk -v r="$ratio" -v m="$MAX_RATIO" 'BEGIN { exit !(r > m) }'; then
      MAX_RATIO="$ratio"
    fi
    ROWS+=("| $mode | $profile | service | $(ms "$R_p50_us") | $(ms "$R_p99_us") | $R_rps | $R_accepted | $R_other | $stored_cell | **${ratio}x** ($verdict) | $R_app_ms / $R_engine_ms | $(noisy "$R_other_pct") |")
    SUMMARY+=("- Store:Synchronous=$mode, $profile: p99 $(ms "$R_p99_us") ms vs bare $(ms "$bare_p99") ms = ${ratio}x: target ${TARGET_RATIO}x $verdict")
    if ((R_other > 0 || R_err_timeout > 0)); then
      warn "service ($name): $R_other non-202 answer(s) ($R_other_statuses), $R_err_timeout timeout(s)"
    fi
  done
done

# ---------------------------------------------------------------- report

cat <<EOF

## Webhook latency: service vs bare endpoint

- date: $(date -u '+%Y-%m-%d %H:%M UTC'); source: $SOURCE
- machine: $(nproc) cores, $CPU_MODEL, ${MEM_GB} GiB RAM, kernel $(uname -r); data folder on $FS_TYPE; load average before: $LOAD_BEFORE
- Docker $DOCKER_VERSION at $DOCKER_HOST_URI; .NET SDK $DOTNET_VERSION
- container policy $POLICY; update worker $WORKER; wrk --timeout ${TIMEOUT_S}s, ${DURATION_S}s per run, ${WARMUP_S}s warm-up (-c$WARMUP_CONNECTIONS) per target; every request a new event

| Store:Synchronous | wrk | target | p50 ms | p99 ms | req/s | 202 | other | stored events | p99 service/bare | CPU ms/req app / dockerd | other CPU |
|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
printf '%s\n' "${ROWS[@]}"
echo
echo "CPU ms/req: CPU time of the server process, and of dockerd + containerd, per answered request."
echo "other CPU: what the rest of the machine used during the run, in % of one core (wrk excluded; kernel"
echo "network and journaling work on behalf of the servers lands here too, so 10-20% is usual)."
if ((NOISY)); then
  echo "Rows marked (noisy) shared the machine with other work: rerun them on a quiet machine."
fi
echo
echo "Target: service p99 within ${TARGET_RATIO}x the bare endpoint's p99 (same wrk settings)."
printf '%s\n' "${SUMMARY[@]}"
echo
echo "No 202 without a stored event:"
printf '%s\n' "${CHECKS[@]}"
echo
if ((FAILED)); then
  echo "RESULT: event check FAILED"
  exit 1
fi
echo "RESULT: event check passed; worst p99 ratio ${MAX_RATIO}x (target ${TARGET_RATIO}x)"
