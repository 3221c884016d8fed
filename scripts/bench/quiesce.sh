#!/usr/bin/env bash
# Benchmark of how long Gitea is unavailable while its /data is copied into a backup set, per way
# of holding it still (docs/backups.md, "Gitea's /data and its database at one moment"):
#   pause: docker pause, copy, docker unpause       (what the service does by default)
#   stop:  docker stop, copy, docker start, healthy (what a stop of Gitea for the copy costs)
# The copy is what the service does, by hand: Docker's archive API, gzip at its fastest level,
# streamed to S3 with the AWS CLI. The stand-in is the wu-test app with BENCH_SIZE_MB of random
# bytes in /data (Gitea's repositories are packed, so they do not compress either). Not a test:
# it prints a table for docs/backups.md. Installs Debian's awscli if missing.
#
# Needs the servers of scripts/testenv/up.sh (engine A, registry images, s3rver). Loopback only.
# Settings (env): BENCH_SIZE_MB (default 1024), BENCH_RUNS (default 2), DOCKER_HOST (default
# engine A), WU_TEST_S3_URL (default http://127.0.0.1:4568).
set -euo pipefail

SIZE_MB="${BENCH_SIZE_MB:-1024}"
RUNS="${BENCH_RUNS:-2}"
export DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}"
S3_URL="${WU_TEST_S3_URL:-http://127.0.0.1:4568}"
APP_IMAGE="${WU_TEST_IMAGE_PREFIX:-localhost:5000/wu-test}/app:1.0"
NAME="wu-bench-quiesce-$$"
BUCKET="wu-bench-quiesce-$$"

log() { printf '==> %s\n' "$*" >&2; }
now() { date +%s.%N; }
s3() { curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$@"; }
cleanup() {
  docker rm -fv "$NAME" >/dev/null 2>&1 || true
  for key in $(s3 "$S3_URL/$BUCKET?list-type=2&max-keys=1000" 2>/dev/null | grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g'); do
    s3 -X DELETE "$S3_URL/$BUCKET/$key" >/dev/null 2>&1 || true
  done
  s3 -X DELETE "$S3_URL/$BUCKET" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [[ ! -x /usr/bin/aws ]]; then
  log "installing Debian's awscli"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli >/dev/null
fi
aws() { AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 /usr/bin/aws --endpoint-url "$S3_URL" "$@"; }

log "starting $NAME with ${SIZE_MB} MiB of random bytes in /data"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
docker run -d --name "$NAME" --label wu.bench=true --network host -e APP_PORT="$port" "$APP_IMAGE" >/dev/null
docker exec "$NAME" sh -c "dd if=/dev/urandom of=/data/repositories.pack bs=1048576 count=$SIZE_MB 2>/dev/null"
s3 -X PUT "$S3_URL/$BUCKET" >/dev/null

copy() { docker cp "$NAME:/data" - | gzip -1 | aws s3 cp --only-show-errors - "s3://$BUCKET/data.tar.gz"; }
healthy() {
  for _ in $(seq 1 600); do
    [[ "$(docker inspect -f '{{.State.Health.Status}}' "$NAME")" == healthy ]] && return 0
    sleep 0.1
  done
  return 1
}
healthy

printf '| run | load (1 min) | pause: unavailable (s) | per GiB (s) | stop: unavailable (s) | per GiB (s) | of which stop + start + healthy (s) |\n|---|---|---|---|---|---|---|\n'
for run in $(seq 1 "$RUNS"); do
  load="$(cut -d' ' -f1 /proc/loadavg)"
  t0="$(now)"; docker pause "$NAME" >/dev/null; copy; docker unpause "$NAME" >/dev/null; pause="$(echo "$(now) - $t0" | bc)"
  t0="$(now)"; docker stop "$NAME" >/dev/null; t1="$(now)"; copy; t2="$(now)"; docker start "$NAME" >/dev/null; healthy; stop="$(echo "$(now) - $t0" | bc)"
  overhead="$(echo "$stop - ($t2 - $t1)" | bc)"
  printf '| %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f |\n' "$run" "$load" "$pause" "$(echo "$pause * 1024 / $SIZE_MB" | bc -l)" \
    "$stop" "$(echo "$stop * 1024 / $SIZE_MB" | bc -l)" "$overhead"
done
printf '\n/data: %s MiB of random bytes; %s; %s cores; uptime: %s\n' "$SIZE_MB" "$(docker version -f 'Docker {{.Server.Version}}')" "$(nproc)" "$(uptime)"
