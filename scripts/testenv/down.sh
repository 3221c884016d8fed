#!/usr/bin/env bash
# Stops what scripts/testenv/up.sh started (by the PIDs it recorded in .state/pids),
# after removing test containers labelled wu.test=true on both engines.
# Anything up.sh found already running and reused is left alone.
# Caches stay: images, registry storage, unpacked docker26, node_modules.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ ${EUID} -eq 0 ]] || die "down.sh must run as root"
mkdir -p "$STATE_DIR" "$PID_DIR"
exec 9>"$STATE_DIR/lock"
flock -w 900 9 || die "another up.sh/down.sh holds $STATE_DIR/lock"

remove_test_objects() {
  local name="$1" host="$2" ids
  engine_answers "$host" || return 0
  # wu.test=true: containers made by the tests; wu.testenv.verify=true: up.sh's own
  # short-lived checks (left over only if up.sh was interrupted).
  ids="$( ("$DOCKER_CLI" -H "$host" ps -aq --filter label=wu.test=true &&
    "$DOCKER_CLI" -H "$host" ps -aq --filter label=wu.testenv.verify=true) | sort -u)"
  if [[ -n "$ids" ]]; then
    log "engine $name: removing $(wc -w <<<"$ids") test container(s) labelled wu.test=true"
    # A paused container (a backup test cut short mid-copy) blocks `rm -f` on dockerd 20.10: thaw it first.
    # shellcheck disable=SC2086
    "$DOCKER_CLI" -H "$host" ps -q --filter status=paused $(printf -- '--filter id=%s ' $ids) | xargs -r "$DOCKER_CLI" -H "$host" unpause >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    "$DOCKER_CLI" -H "$host" rm -fv $ids >/dev/null || warn "engine $name: some containers could not be removed"
  fi
  ids="$("$DOCKER_CLI" -H "$host" network ls -q --filter label=wu.test=true)"
  if [[ -n "$ids" ]]; then
    log "engine $name: removing $(wc -w <<<"$ids") test network(s)"
    # shellcheck disable=SC2086
    "$DOCKER_CLI" -H "$host" network rm $ids >/dev/null 2>&1 || true
  fi
  ids="$("$DOCKER_CLI" -H "$host" volume ls -q --filter label=wu.test=true)"
  if [[ -n "$ids" ]]; then
    log "engine $name: removing $(wc -w <<<"$ids") test volume(s)"
    # shellcheck disable=SC2086
    "$DOCKER_CLI" -H "$host" volume rm -f $ids >/dev/null 2>&1 || true
  fi
}

if [[ -n "$DOCKER_CLI" ]]; then
  remove_test_objects A "$DOCKER_A"
  remove_test_objects B "$DOCKER_B"
fi

bash "$TESTENV_DIR/pebble.sh" stop
bash "$TESTENV_DIR/stack-engine.sh" stop
stopped=0
pid_of smtp >/dev/null && stop_pid smtp 20 && stopped=$((stopped + 1))
for name in s3rver ses registry dockerd-b containerd-b dockerd-a; do
  if pid_of "$name" >/dev/null; then
    case "$name" in
      dockerd-*) stop_pid "$name" 60 ;;
      *) stop_pid "$name" 20 ;;
    esac
    stopped=$((stopped + 1))
  fi
done
if ((stopped == 0)); then
  log "nothing to stop (up.sh started no process that is still running)"
else
  log "stopped $stopped process(es); caches kept"
fi
