#!/usr/bin/env bash
# Update downtime and pipeline overhead, side by side with a plain
# `docker stop` + `docker rm` + `docker run` of the same, already pulled image, in one run.
#
#   bash scripts/bench/update.sh          # BENCH_ROUNDS=5
#
# Needs the test environment (scripts/testenv/up.sh: engine at /var/run/docker.sock, registry
# on 127.0.0.1:5000, localhost:5000/wu-test/app:{1.0,1.1}). Downtime is "the old container
# stops" to "the new one is healthy (Docker HEALTHCHECK)": for the service the health gate
# runs with HealthGate:StableFor=0 so both end at the same event; read from the job's step
# timeline (recreate start → health-gate end: the new container was created before, while the
# old one still ran, so the window holds stop, rename and start). Overhead is the job's wall
# time minus its backup, pull and health-wait steps. Prints a markdown table of medians;
# targets (downtime at most 0.9x the plain baseline, overhead under 300 ms) are reported, not
# enforced.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
ROUNDS="${BENCH_ROUNDS:-5}"
REPO="localhost:5000/wu-bench/app-$$"
WORK="$(mktemp -d)"
SERVICE_PID=""
cleanup() {
  [[ -n "$SERVICE_PID" ]] && kill "$SERVICE_PID" 2>/dev/null || true
  docker ps -aq --filter label=wu.bench.update=true | xargs -r docker rm -f >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf '==> %s\n' "$*" >&2; }
now_ms() { date +%s%3N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
publish() { docker tag "localhost:5000/wu-test/app:$1" "$REPO:stable" && docker push -q "$REPO:stable" >/dev/null; docker image inspect "$REPO:stable" --format '{{range .RepoDigests}}{{println .}}{{end}}' | grep "^$REPO@" | cut -d@ -f2; }
wait_healthy() { for _ in $(seq 1 600); do [[ "$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" == healthy ]] && return 0; sleep 0.02; done; return 1; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

log "building the service (Release)"
dotnet build src/WebhookUpdater -c Release -v q -nologo >/dev/null
port="$(free_port)"
SECRET=bench-webhook-secret-0123456789 TOKEN=bench-admin-token-0123456789
ASPNETCORE_URLS="http://127.0.0.1:$port" ASPNETCORE_ENVIRONMENT=Production Webhook__Secret=$SECRET Admin__Token=$TOKEN \
  Approvals__SigningKey=bench-signing-key-0123456789-0123456789 Backups__SigningKey=bench-backup-signing-key-0123456789-01234 Approvals__BaseUrl="http://127.0.0.1:$port" \
  Store__DataDirectory="$WORK/data" Logging__LogLevel__Default=Warning Webhook__PermitsPerMinute=100000 \
  HealthGate__StableFor=00:00:00 HealthGate__PollInterval=00:00:00.050 \
  dotnet src/WebhookUpdater/bin/Release/net10.0/WebhookUpdater.dll >"$WORK/service.log" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 1 300); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.05; done

PLAIN="" DOWN="" OVER="" TOTAL=""
for round in $(seq 1 "$ROUNDS"); do
  # Plain baseline: the new image is already local; stop, remove, run, wait for healthy.
  app_port="$(free_port)"
  docker run -d --name "wu-bench-plain-$round" --network host -e APP_PORT="$app_port" -l wu.bench.update=true localhost:5000/wu-test/app:1.0 >/dev/null
  wait_healthy "wu-bench-plain-$round"
  t0="$(now_ms)"
  docker stop "wu-bench-plain-$round" >/dev/null && docker rm "wu-bench-plain-$round" >/dev/null
  docker run -d --name "wu-bench-plain-$round" --network host -e APP_PORT="$app_port" -l wu.bench.update=true localhost:5000/wu-test/app:1.1 >/dev/null
  wait_healthy "wu-bench-plain-$round"
  plain=$(( $(now_ms) - t0 ))
  docker rm -f "wu-bench-plain-$round" >/dev/null

  # The service: 1.0 under a moving tag, then 1.1 published and announced as Diun would.
  publish 1.0 >/dev/null
  name="wu-bench-upd-$round"
  docker run -d --name "$name" --network host -e APP_PORT="$(free_port)" -l wu.bench.update=true -l update.policy=automatic "$REPO:stable" >/dev/null
  wait_healthy "$name"
  digest="$(publish 1.1)"
  body=$(printf '{"status":"update","provider":"docker","image":"%s:stable","digest":"%s","metadata":{"ctn_names":"%s"}}' "$REPO" "$digest" "$name")
  job=$(curl -fsS -X POST "http://127.0.0.1:$port/api/diun" -H "Authorization: Bearer $SECRET" -d "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
  for _ in $(seq 1 1200); do
    state=$(curl -fsS "http://127.0.0.1:$port/api/jobs/$job" -H "Authorization: Bearer $TOKEN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    [[ "$state" == succeeded || "$state" == failed || "$state" == rolled_back ]] && break
    sleep 0.1
  done
  [[ "$state" == succeeded ]] || { log "round $round: job $job ended $state"; exit 1; }
  read -r down over total < <(curl -fsS "http://127.0.0.1:$port/api/jobs/$job" -H "Authorization: Bearer $TOKEN" | python3 -c '
import json, sys
from datetime import datetime
job = json.load(sys.stdin)
def t(s): return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000
steps = {s["name"]: s for s in job["steps"]}
dur = lambda n: t(steps[n]["endedAt"]) - t(steps[n]["startedAt"])
first = min(t(s["startedAt"]) for s in job["steps"]); last = max(t(s["endedAt"]) for s in job["steps"])
down = t(steps["health-gate"]["endedAt"]) - t(steps["recreate"]["startedAt"])
over = (last - first) - dur("backup") - dur("pull") - dur("health-gate")
print(int(down), int(over), int(last - first))')
  docker rm -f "$name" >/dev/null
  log "round $round: plain ${plain} ms; service downtime ${down} ms, overhead ${over} ms, job ${total} ms"
  PLAIN+="$plain"$'\n'; DOWN+="$down"$'\n'; OVER+="$over"$'\n'; TOTAL+="$total"$'\n'
done

p=$(printf '%s' "$PLAIN" | median); d=$(printf '%s' "$DOWN" | median); o=$(printf '%s' "$OVER" | median); t=$(printf '%s' "$TOTAL" | median)
echo
echo "| measure (median of $ROUNDS) | ms |"
echo "|---|---|"
echo "| plain docker stop + rm + run, to healthy | $p |"
echo "| service: downtime (stop → healthy) | $d |"
echo "| service: pipeline overhead (job − backup − pull − health wait) | $o |"
echo "| service: whole job | $t |"
awk -v d="$d" -v p="$p" -v o="$o" 'BEGIN { r = d / p; printf "\ndowntime service/plain: %.2f (target <= 0.90: %s); overhead %d ms (target < 300: %s)\n", r, (r <= 0.9 ? "met" : "missed"), o, (o < 300 ? "met" : "missed") }'
