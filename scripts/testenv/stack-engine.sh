#!/usr/bin/env bash
# Engine S: a dockerd inside its own network namespace, for the test of the stack as shipped
# (compose/docker-compose.yml with its bridge network and published ports, unchanged).
#   stack-engine.sh start   make the namespace (loopback only, no route anywhere), start the
#                           engine in it (or reuse it), give the namespace the client
#                           addresses 192.0.2.1-4 (on its loopback link), load the stand-in images, add its
#                           socket and namespace to .state/env.sh
#   stack-engine.sh stop    stop the engine this script started, remove the namespace
# Its bridges, container addresses and published ports exist only inside the namespace: the
# tests reach them from inside it (nsenter --net, or sockets opened there), never from the host.
# Called by up.sh and down.sh, which hold .state/lock: this script takes no lock itself.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

S_NETNS="wu-stack"
S_NETNS_PATH="/run/netns/$S_NETNS"
S_RUN="/run/wu-stack"
S_DATA="/var/lib/wu-stack"
DOCKER_S="unix://$S_RUN/docker.sock"
# The images the stack test names in its .env (the updater image it builds and moves in itself).
S_IMAGES=(postgres:15 stack-gitea:1 stack-nginx:1 certbot:2 stack-diun:1 ses:2)

dS() { "$DOCKER_CLI" -H "$DOCKER_S" "$@"; }

start() {
  [[ ${EUID} -eq 0 ]] || die "stack-engine.sh must run as root (network namespace, dockerd)"
  if [[ ! -e "$S_NETNS_PATH" ]]; then
    log "engine S: making network namespace $S_NETNS (loopback only)"
    ip netns add "$S_NETNS"
  fi
  ip netns exec "$S_NETNS" ip link set lo up
  # Client addresses (a documentation range, local to the namespace): distinct callers of nginx.
  for a in 1 2 3 4; do
    ip -n "$S_NETNS" addr replace "192.0.2.$a/32" dev lo
  done
  if ! engine_answers "$DOCKER_S"; then
    mkdir -p "$S_RUN" "$S_DATA"
    if [[ -f "$S_RUN/docker.pid" ]] && ! kill -0 "$(cat "$S_RUN/docker.pid")" 2>/dev/null; then
      rm -f "$S_RUN/docker.pid"
    fi
    # nsenter, not `ip netns exec`: that one remounts /sys and hides the cgroup mounts dockerd needs.
    # Bridges, iptables and masquerading on: they act on the namespace's own tables only.
    log "engine S: starting dockerd in $S_NETNS (log: $LOG_DIR/dockerd-s.log)"
    start_bg dockerd-s "dockerd -H $DOCKER_S" "$LOG_DIR/dockerd-s.log" \
      nsenter --net="$S_NETNS_PATH" env PATH="$SYS_PATH" /usr/sbin/dockerd \
      -H "$DOCKER_S" \
      --data-root "$S_DATA" \
      --exec-root "$S_RUN/exec" \
      --pidfile "$S_RUN/docker.pid" \
      --cgroup-parent /wu-stack
    if ! wait_for 60 "engine S" engine_answers "$DOCKER_S"; then
      tail -n 30 "$LOG_DIR/dockerd-s.log" >&2 || true
      die "engine S did not answer within 60 s"
    fi
  else
    log "engine S: reusing $DOCKER_S"
  fi
  local image ref moved=0
  for image in "${S_IMAGES[@]}"; do
    ref="$IMAGE_PREFIX/$image"
    if [[ "$(dS image inspect -f '{{.Id}}' "$ref" 2>/dev/null || true)" != "$(dA image inspect -f '{{.Id}}' "$ref")" ]]; then
      dA save "$ref" | dS load -q >/dev/null || die "engine S: could not load $ref"
      moved=$((moved + 1))
    fi
  done
  log "engine S: up in $S_NETNS, has the stack's stand-in images ($moved moved in now)"
  sed -i '/WU_TEST_STACK_/d' "$STATE_DIR/env.sh"
  cat >>"$STATE_DIR/env.sh" <<EOF
export WU_TEST_STACK_DOCKER_HOST=$DOCKER_S WU_TEST_STACK_NETNS=$S_NETNS_PATH
EOF
}

stop() {
  if engine_answers "$DOCKER_S"; then
    local ids
    ids="$(dS ps -aq)"
    # shellcheck disable=SC2086
    [[ -z "$ids" ]] || dS rm -fv $ids >/dev/null || warn "engine S: some containers could not be removed"
  fi
  pid_of dockerd-s >/dev/null && stop_pid dockerd-s 60
  if [[ -e "$S_NETNS_PATH" ]] && ! pid_of dockerd-s >/dev/null; then
    ip netns delete "$S_NETNS" || warn "could not remove network namespace $S_NETNS"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: stack-engine.sh start|stop" ;;
esac
