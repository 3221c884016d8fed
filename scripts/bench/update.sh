#!/usr/bin/env bash
# Update downtime and pipeline overhead, side by side with a plain
# `docker stop` + `docker rm` + `docker run` of the same, already pulled image, in one run.
#
#   bash scripts/bench/update.sh          # BENCH_ROUNDS=5
#
# Needs the test environment (scripts/testenv/up.sh: engine at /var/run/docker.sock, registry
# on 127.0.0.1:5000, localhost:5000/wu-test/app:{1.0,1.1}).
#
# Downtime, as users see it: a prober asks the app's port every 10 ms during the update; the
# downtime is the longest gap between two answers. "To healthy" is the old container told to
# stop → the new one healthy by Docker's HEALTHCHECK: for the service the health gate runs with
# HealthGate:StableFor=0 so both end at the same event, read from the job's step timeline
# (recreate start → health-gate end). Docker runs the first health check one interval (1 s for
# the test image) after the start, in both, so that column has a floor neither can go below.
# Overhead is the job's wall time minus its backup, pull and health-wait steps, minus the time
# Docker itself takes for the calls every update makes (create, rename, rename, stop, start,
# remove), timed with curl on the socket against a twin container in the same round: what the
# pipeline adds (its look-ups, journal writes and waits). Prints a markdown table of medians;
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
# probe PORT FILE: writes the time (ms) of every answer of the app until killed.
probe() {
  python3 - "$1" "$2" >/dev/null 2>&1 <<'PY' &
import socket, sys, time
port, out = int(sys.argv[1]), open(sys.argv[2], "w", buffering=1)
while True:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            if b" 200" in s.recv(32):
                out.write(f"{int(time.time()*1000)}\n")
    except OSError:
        pass
    time.sleep(0.01)
PY
  echo $!
}
# wait_answered FILE: until the prober has seen the app answer (python takes a while to start).
wait_answered() { for _ in $(seq 1 500); do [[ -s "$1" ]] && return 0; sleep 0.01; done; return 1; }
# longest_gap FILE: the longest time between two answers, in ms.
longest_gap() { awk 'NR > 1 && $1 - p > g { g = $1 - p } { p = $1 } END { print g + 0 }' "$1"; }
api() { curl -s -o /dev/null -w '%{time_total}\n' --unix-socket /var/run/docker.sock -X "$1" "http://localhost/v1.41$2" ${3:+-H 'Content-Type: application/json' -d "$3"}; }
# docker_work IMAGE PORT: seconds Docker takes for the calls of an update, on a twin container.
docker_work() {
  local twin="wu-bench-twin-$$" total=0 t
  docker run -d --name "$twin" --network host -e APP_PORT="$2" -l wu.bench.update=true "$1" >/dev/null
  wait_healthy "$twin"
  for call in \
    "POST /containers/create?name=$twin.new {\"Image\":\"$1\",\"Env\":[\"APP_PORT=$2\"],\"Labels\":{\"wu.bench.update\":\"true\"},\"HostConfig\":{\"NetworkMode\":\"host\"}}" \
    "POST /containers/$twin/rename?name=$twin.old" "POST /containers/$twin.new/rename?name=$twin" \
    "POST /containers/$twin.old/stop" "POST /containers/$twin/start" "DELETE /containers/$twin.old"; do
    read -r method path body <<<"$call"
    t=$(api "$method" "$path" "$body"); total=$(awk -v a="$total" -v b="$t" 'BEGIN { print a + b }')
  done
  docker rm -f "$twin" >/dev/null
  awk -v s="$total" 'BEGIN { printf "%d\n", s * 1000 }'
}

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

PLAIN="" DOWN="" OVER="" TOTAL="" POUT="" SOUT="" WORKS="" NET=""
for round in $(seq 1 "$ROUNDS"); do
  # Plain baseline: the new image is already local; stop, remove, run, wait for healthy.
  app_port="$(free_port)"
  docker run -d --name "wu-bench-plain-$round" --network host -e APP_PORT="$app_port" -l wu.bench.update=true localhost:5000/wu-test/app:1.0 >/dev/null
  wait_healthy "wu-bench-plain-$round"
  prober="$(probe "$app_port" "$WORK/plain-$round.probe")"
  wait_answered "$WORK/plain-$round.probe"
  t0="$(now_ms)"
  docker stop "wu-bench-plain-$round" >/dev/null && docker rm "wu-bench-plain-$round" >/dev/null
  docker run -d --name "wu-bench-plain-$round" --network host -e APP_PORT="$app_port" -l wu.bench.update=true localhost:5000/wu-test/app:1.1 >/dev/null
  wait_healthy "wu-bench-plain-$round"
  plain=$(( $(now_ms) - t0 ))
  kill "$prober"; wait "$prober" 2>/dev/null || true
  plain_out="$(longest_gap "$WORK/plain-$round.probe")"
  docker rm -f "wu-bench-plain-$round" >/dev/null

  # The service: 1.0 under a moving tag, then 1.1 published and announced as Diun would.
  publish 1.0 >/dev/null
  name="wu-bench-upd-$round"
  svc_port="$(free_port)"
  docker run -d --name "$name" --network host -e APP_PORT="$svc_port" -l wu.bench.update=true -l update.policy=automatic "$REPO:stable" >/dev/null
  wait_healthy "$name"
  digest="$(publish 1.1)"
  prober="$(probe "$svc_port" "$WORK/svc-$round.probe")"
  wait_answered "$WORK/svc-$round.probe"
  body=$(printf '{"status":"update","provider":"docker","image":"%s:stable","digest":"%s","metadata":{"ctn_names":"%s"}}' "$REPO" "$digest" "$name")
  job=$(curl -fsS -X POST "http://127.0.0.1:$port/api/diun" -H "Authorization: Bearer $SECRET" -d "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
  for _ in $(seq 1 1200); do
    state=$(curl -fsS "http://127.0.0.1:$port/api/jobs/$job" -H "Authorization: Bearer $TOKEN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    [[ "$state" == succeeded || "$state" == failed || "$state" == rolled_back ]] && break
    sleep 0.1
  done
  kill "$prober"; wait "$prober" 2>/dev/null || true
  svc_out="$(longest_gap "$WORK/svc-$round.probe")"
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
  work="$(docker_work localhost:5000/wu-test/app:1.1 "$(free_port)")"
  net=$(( over - work ))
  log "round $round: outage plain ${plain_out} ms, service ${svc_out} ms; to healthy plain ${plain} ms, service ${down} ms; overhead ${over} ms - docker ${work} ms = ${net} ms; job ${total} ms"
  PLAIN+="$plain"$'\n'; DOWN+="$down"$'\n'; OVER+="$over"$'\n'; TOTAL+="$total"$'\n'
  POUT+="$plain_out"$'\n'; SOUT+="$svc_out"$'\n'; WORKS+="$work"$'\n'; NET+="$net"$'\n'
done

p=$(printf '%s' "$PLAIN" | median); d=$(printf '%s' "$DOWN" | median); o=$(printf '%s' "$OVER" | median); t=$(printf '%s' "$TOTAL" | median)
po=$(printf '%s' "$POUT" | median); so=$(printf '%s' "$SOUT" | median); w=$(printf '%s' "$WORKS" | median); n=$(printf '%s' "$NET" | median)
echo
echo "| measure (median of $ROUNDS) | plain stop + rm + run | service |"
echo "|---|---:|---:|"
echo "| downtime: longest gap between two answers of the app (ms) | $po | $so |"
echo "| to healthy: stop → Docker HEALTHCHECK healthy (ms) | $p | $d |"
echo "| job − backup − pull − health wait (ms) | | $o |"
echo "| of which Docker's own create, rename ×2, stop, start, remove (ms) | | $w |"
echo "| pipeline overhead (ms) | | $n |"
echo "| whole job (ms) | | $t |"
awk -v so="$so" -v po="$po" -v d="$d" -v p="$p" -v n="$n" 'BEGIN { r = so / po; h = d / p; printf "\ndowntime service/plain: %.2f (target <= 0.90: %s); to healthy: %.2f; overhead %d ms (target < 300: %s)\n", r, (r <= 0.9 ? "met" : "missed"), h, n, (n < 300 ? "met" : "missed") }'
