#!/usr/bin/env bash
# Benchmark of backups: a ~1 GB database backed up to S3 and restored from it by the service,
# side by side in one run with what operators write by hand against the same S3 server:
#   backup:  docker exec pg_dump -Fc | aws s3 cp - s3://…
#   restore: aws s3 cp s3://… - | docker exec -i pg_restore
# and the service's peak memory growth during each. Not a test: it prints numbers for
# docs/benchmarks.md ("Backup of a ~1 GB database to S3"). Installs Debian's awscli if missing.
#
# Needs the servers of scripts/testenv/up.sh (engine A, registry images, s3rver). Loopback only.
# Settings (env): BENCH_SIZE_MB (default 1024), BENCH_RUNS (default 2), BENCH_PART_MIB (default 8),
# DOCKER_HOST (default engine A), WU_TEST_S3_URL (default http://127.0.0.1:4568).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SIZE_MB="${BENCH_SIZE_MB:-1024}"
RUNS="${BENCH_RUNS:-2}"
PART_MIB="${BENCH_PART_MIB:-8}"
export DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}"
S3_URL="${WU_TEST_S3_URL:-http://127.0.0.1:4568}"
IMAGE="${WU_TEST_IMAGE_PREFIX:-localhost:5000/wu-test}/postgres:15"
APP_IMAGE="${WU_TEST_IMAGE_PREFIX:-localhost:5000/wu-test}/app:1.0"
TAG="wu-bench-backup-$$"
PG="$TAG-pg"
SMALL="$TAG-small"
BUCKET="wu-bench-$$"
WORK="$(mktemp -d /tmp/wu-bench-backup.XXXXXX)"
TOKEN="bench-admin-token-0123456789"
SERVICE_PID=""

log() { printf '==> %s\n' "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
# Empty bodies only (bucket and object deletes, listings): the payload hash is that of nothing.
s3() { curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$@"; }
now() { date +%s.%N; }

cleanup() {
  [[ -n "${BENCH_LOG:-}" && -f "$WORK/service.log" ]] && cp "$WORK/service.log" "$BENCH_LOG"
  [[ -n "$SERVICE_PID" ]] && kill "$SERVICE_PID" 2>/dev/null && wait "$SERVICE_PID" 2>/dev/null || true
  docker rm -fv "$PG" "$SMALL" >/dev/null 2>&1 || true
  # Empty and remove the bucket (s3rver keeps objects on disk).
  for key in $(s3 "$S3_URL/$BUCKET?list-type=2&max-keys=1000" 2>/dev/null | grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g'); do
    s3 -X DELETE "$S3_URL/$BUCKET/$key" >/dev/null 2>&1 || true
  done
  s3 -X DELETE "$S3_URL/$BUCKET" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [[ ! -x /usr/bin/aws ]]; then
  log "installing Debian's awscli (the operators' hand-made pipeline)"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli >/dev/null
fi
aws() { AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 /usr/bin/aws --endpoint-url "$S3_URL" "$@"; }

log "building the service (Release)"
dotnet build -c Release "$ROOT/src/WebhookUpdater" -o "$WORK/app" -v quiet -nologo >/dev/null

log "starting $PG and filling it with ${SIZE_MB} MiB of incompressible rows"
docker run -d --name "$PG" --label wu.bench=true --label backup.postgres=true --network host \
  -e POSTGRES_USER=bench -e POSTGRES_PASSWORD=bench-password -e POSTGRES_DB=bench -e PGPORT="$(free_port)" \
  "$IMAGE" >/dev/null
for _ in $(seq 1 120); do
  [[ "$(docker inspect -f '{{.State.Health.Status}}' "$PG")" == healthy ]] && break
  sleep 0.5
done
psql() { docker exec "$PG" psql -U bench -d bench -v ON_ERROR_STOP=1 -Atq "$@"; }
psql -c "CREATE EXTENSION IF NOT EXISTS pgcrypto; CREATE TABLE blobs (id int PRIMARY KEY, data bytea); ALTER TABLE blobs ALTER data SET STORAGE EXTERNAL;"
# One MiB of random bytes per row; the correlated WHERE makes the subquery run for every row.
fill() { psql -c "INSERT INTO blobs SELECT g, (SELECT string_agg(gen_random_bytes(1024), ''::bytea) FROM generate_series(1, 1024) WHERE g > 0) FROM generate_series($1, $2) g;"; }
fill 1 16

docker run -d --name "$SMALL" --label wu.bench=true --label backup.paths=/data --network none "$APP_IMAGE" >/dev/null
s3 -X PUT "$S3_URL/$BUCKET" >/dev/null

PORT="$(free_port)"
log "starting the service on 127.0.0.1:$PORT (S3 $S3_URL/$BUCKET, parts of $PART_MIB MiB)"
(
  cd "$WORK/app"
  export ASPNETCORE_URLS="http://127.0.0.1:$PORT" ASPNETCORE_ENVIRONMENT=Production
  export Admin__Token="$TOKEN" Webhook__Secret="bench-webhook-secret-0123456789" Store__DataDirectory="$WORK/data"
  export Backups__SigningKey="bench-backup-signing-key-0123456789abcdef"
  export Approvals__SigningKey="bench-approval-signing-key-0123456789abcdef" Approvals__BaseUrl="http://127.0.0.1:$PORT"
  export Updates__RunWorker=false Logging__LogLevel__Default=Warning
  export Logging__Console__TimestampFormat="HH:mm:ss.fff "
  export Backups__Store=S3 Backups__Bucket="$BUCKET" Backups__ServiceUrl="$S3_URL" Backups__ForcePathStyle=true
  export Backups__UseChunkEncoding=false Backups__PartSizeMiB="$PART_MIB" Backups__Schedule="" Backups__KeepManual=1
  export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
  exec dotnet WebhookUpdater.dll --Logging:LogLevel:WebhookUpdater.Backups="${BENCH_LOG_LEVEL:-Warning}"
) >"$WORK/service.log" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.25
done
backup() { curl -fsS -m 1800 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"containers\":[\"$1\"]}" "http://127.0.0.1:$PORT/api/backups"; }
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$SERVICE_PID/status"; }
# CPU seconds (user + system) the service has used so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$SERVICE_PID/stat"; }

log "warm-up: a small archive and a 16 MiB dump (JIT and pools of every path measured, S3 and Docker clients)"
backup "$SMALL" >/dev/null
backup "$PG" >/dev/null
fill 17 "$SIZE_MB"
DUMP_BYTES="$(docker exec "$PG" pg_dump --format=custom --dbname bench -U bench | wc -c)"
log "dump size: $DUMP_BYTES bytes"

restore() { curl -fsS -m 1800 -X POST -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/backups/$1/restore"; }
# Peak RSS growth over a command run against the service: the peak is reset to the current RSS first.
measure() {
  local before peak t0
  before="$(kib VmRSS)"
  echo 5 >"/proc/$SERVICE_PID/clear_refs"
  t0="$(now)"
  "$@"
  TOOK="$(echo "$(now) - $t0" | bc)"
  peak="$(kib VmHWM)"
  GROWTH="$(echo "($peak - $before) / 1024" | bc -l)"
}
timed() { local t0; t0="$(now)"; "$@"; TOOK="$(echo "$(now) - $t0" | bc)"; }
by_hand_backup() { docker exec "$PG" pg_dump --format=custom --dbname bench -U bench | aws s3 cp --only-show-errors - "s3://$BUCKET/by-hand/bench.dump"; }
by_hand_restore() {
  aws s3 cp --only-show-errors "s3://$BUCKET/by-hand/bench.dump" - \
    | docker exec -i "$PG" pg_restore --clean --create --if-exists --exit-on-error --no-password -U bench --dbname postgres
}

printf '| run | load (1 min) | by hand: pg_dump \\| aws s3 cp (s) | service backup, verified (s) | ratio (target ≤ 1.0) | growth (MiB) | by hand: aws s3 cp \\| pg_restore (s) | service restore (s) | ratio (target ≤ 1.15) | growth (MiB) |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for run in $(seq 1 "$RUNS"); do
  load="$(cut -d' ' -f1 /proc/loadavg)"
  timed by_hand_backup; hand_backup="$TOOK"
  measure backup "$PG" >"$WORK/answer.json"; service_backup="$TOOK"; backup_growth="$GROWTH"
  grep -q '"failures":\[\]' "$WORK/answer.json" || { cat "$WORK/answer.json" >&2; exit 1; }
  set_id="$(grep -o '"id":"[^"]*"' "$WORK/answer.json" | head -1 | cut -d'"' -f4)"

  timed by_hand_restore; hand_restore="$TOOK"
  measure restore "$set_id" >"$WORK/restore.json"; service_restore="$TOOK"; restore_growth="$GROWTH"
  grep -q '"succeeded":true' "$WORK/restore.json" || { cat "$WORK/restore.json" >&2; exit 1; }
  printf '| %s | %s | %.1f | %.1f | %.2f | %.0f | %.1f | %.1f | %.2f | %.0f |\n' "$run" "$load" \
    "$hand_backup" "$service_backup" "$(echo "$service_backup / $hand_backup" | bc -l)" "$backup_growth" \
    "$hand_restore" "$service_restore" "$(echo "$service_restore / $hand_restore" | bc -l)" "$restore_growth"
done
printf '\ndump: %s bytes; parts of %s MiB; %s; %s; %s cores; uptime: %s\n' "$DUMP_BYTES" "$PART_MIB" "$(docker version -f 'Docker {{.Server.Version}}')" "$(/usr/bin/aws --version 2>&1)" "$(nproc)" "$(uptime)"
