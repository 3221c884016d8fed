#!/usr/bin/env bash
# Idle memory and start-up time: the service against the bare minimal-API app
# (tests/Benchmarks/BareApi), side by side in the same run, same Release build settings.
#
#   bash scripts/bench/idle.sh            # 5 rounds each (BENCH_ROUNDS)
#
# Per round and app: start the process, time until /healthz (service) or any answer (bare)
# returns, then let it idle BENCH_IDLE seconds and read its resident memory (VmRSS and
# VmHWM from /proc). The service runs on embedded defaults with a fresh data folder and
# Docker at /var/run/docker.sock (it answers /readyz only when Docker does). Prints a
# markdown table of medians and the ratio service/bare; the target (idle RSS within 1.3x
# the bare app's) is reported, not enforced.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
ROUNDS="${BENCH_ROUNDS:-5}"
IDLE="${BENCH_IDLE:-10}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '==> %s\n' "$*" >&2; }

log "building the service and the bare app (Release)"
dotnet build src/WebhookUpdater -c Release -v q -nologo >/dev/null
dotnet build tests/Benchmarks/BareApi -c Release -v q -nologo >/dev/null
SERVICE_DLL="$ROOT/src/WebhookUpdater/bin/Release/net10.0/WebhookUpdater.dll"
BARE_DLL="$(ls "$ROOT"/tests/Benchmarks/BareApi/bin/Release/net10.0/BareApi.dll)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
now_ms() { date +%s%3N; }

# measure NAME DLL PATH: prints "startup_ms rss_kib hwm_kib"
measure() {
  local name="$1" dll="$2" path="$3" port data pid start ready
  port="$(free_port)"
  data="$WORK/$name-$RANDOM"
  mkdir -p "$data"
  start="$(now_ms)"
  ASPNETCORE_URLS="http://127.0.0.1:$port" ASPNETCORE_ENVIRONMENT=Production \
    Webhook__Secret=bench-webhook-secret-0123456789 Admin__Token=bench-admin-token-0123456789 \
    Approvals__SigningKey=bench-signing-key-0123456789-0123456789 Backups__SigningKey=bench-backup-signing-key-0123456789-01234 Approvals__BaseUrl="http://127.0.0.1:$port" \
    Store__DataDirectory="$data" Logging__LogLevel__Default=Warning \
    dotnet "$dll" >"$data/out.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 600); do
    if curl -s -o /dev/null "http://127.0.0.1:$port$path"; then break; fi
    sleep 0.01
  done
  ready="$(now_ms)"
  sleep "$IDLE"
  local rss hwm
  rss="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
  hwm="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  echo "$((ready - start)) $rss $hwm"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

declare -A STARTUP RSS HWM
for app in bare service; do STARTUP[$app]=""; RSS[$app]=""; HWM[$app]=""; done
for round in $(seq 1 "$ROUNDS"); do
  for app in bare service; do
    if [[ $app == bare ]]; then read -r s r h < <(measure bare "$BARE_DLL" /); else read -r s r h < <(measure service "$SERVICE_DLL" /healthz); fi
    STARTUP[$app]+="$s"$'\n'; RSS[$app]+="$r"$'\n'; HWM[$app]+="$h"$'\n'
    log "round $round $app: ready in ${s} ms, idle RSS ${r} KiB (peak ${h} KiB)"
  done
done

row() { local app="$1"; printf '| %s | %s | %s | %s |\n' "$app" \
  "$(printf '%s' "${STARTUP[$app]}" | median)" \
  "$(( $(printf '%s' "${RSS[$app]}" | median) / 1024 ))" \
  "$(( $(printf '%s' "${HWM[$app]}" | median) / 1024 ))"; }

bare_rss="$(printf '%s' "${RSS[bare]}" | median)"
service_rss="$(printf '%s' "${RSS[service]}" | median)"
echo
echo "| app | start to ready, ms (median) | idle RSS, MiB (median) | peak RSS, MiB (median) |"
echo "|---|---|---|---|"
row bare
row service
awk -v s="$service_rss" -v b="$bare_rss" 'BEGIN { r = s / b; printf "\nidle RSS service/bare: %.2f (target <= 1.30: %s)\n", r, (r <= 1.30 ? "met" : "missed") }'
