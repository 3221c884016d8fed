#!/usr/bin/env bash
# Records `docker inspect` of one container that uses every kind of configuration the update
# recreates (named, bind and anonymous volumes, network aliases, a secondary network, restart
# policy, resource limits, healthcheck), and of its image, from each test engine, as test data
# for the fast ContainerBlueprint tests. Run it again after changing what the container uses:
#   source scripts/testenv/.state/env.sh && scripts/testenv/record-inspect.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/WebhookUpdater.Tests/Containers/InspectData
image="${WU_TEST_IMAGE_PREFIX:-localhost:5000/wu-test}/app:1.0"
mkdir -p "$out"

record() { # engine-letter docker-host
  local engine=$1 host=$2 name=wu-blueprint-app bind
  bind=$(mktemp -d /tmp/wu-blueprint-bind.XXXXXX)
  export DOCKER_HOST=$host
  cleanup() {
    docker rm -f -v "$name" >/dev/null 2>&1 || true
    docker network rm wu-blueprint-front wu-blueprint-back >/dev/null 2>&1 || true
    docker volume rm wu-blueprint-data >/dev/null 2>&1 || true
  }
  cleanup
  docker image inspect "$image" >/dev/null 2>&1 || docker pull "$image" >/dev/null
  docker volume create wu-blueprint-data >/dev/null
  docker network create wu-blueprint-front >/dev/null
  docker network create wu-blueprint-back >/dev/null
  # Created, not started: nothing is sent over these networks (test traffic stays on loopback).
  docker create --name "$name" \
    --network wu-blueprint-front --network-alias git --network-alias gitea.internal \
    --restart unless-stopped --memory 128m --memory-reservation 64m --cpus 0.5 --pids-limit 200 \
    --health-cmd 'wget -q -O- http://127.0.0.1:3000/ || exit 1' --health-interval 7s --health-timeout 3s \
    --health-retries 4 --health-start-period 11s \
    -v wu-blueprint-data:/data -v "$bind":/config:ro -v /cache \
    -e APP_PORT=3000 -e OPERATOR_SETTING=kept \
    -l update.policy=automatic -l backup.paths=/data \
    "$image" >/dev/null
  docker network connect --alias db-client wu-blueprint-back "$name"
  docker inspect "$name" >"$out/container-engine-$engine.json"
  docker image inspect "$image" >"$out/image-engine-$engine.json"
  echo "engine $engine ($(docker version --format '{{.Server.Version}}')): $out/container-engine-$engine.json"
  cleanup
  rmdir "$bind"
}

record a "${WU_TEST_DOCKER_HOST_A:-unix:///var/run/docker.sock}"
record b "${WU_TEST_DOCKER_HOST_B:?source scripts/testenv/.state/env.sh first: engine B is needed too}"
