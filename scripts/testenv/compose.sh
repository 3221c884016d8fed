#!/usr/bin/env bash
# Installs Debian's docker-compose (1.29.2), the only Compose available here: no compose v2
# plugin is packaged for Debian or npm. The deployment tests validate compose/docker-compose.yml
# with it and bring the stack up with stand-in images. Idempotent; installs only if missing.
# Called by up.sh (which holds .state/lock); nothing to stop in down.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ ${EUID} -eq 0 ]] || die "compose.sh must run as root (apt-get)"
mkdir -p "$LOG_DIR"

if [[ "$(dpkg-query -W -f='${Status}' docker-compose 2>/dev/null || true)" == *"ok installed" ]]; then
  log "docker-compose: present ($(docker-compose version --short 2>/dev/null || echo '?'))"
  exit 0
fi

log "docker-compose: installing Debian's docker-compose"
{
  DEBIAN_FRONTEND=noninteractive apt-get update &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose
} >"$LOG_DIR/apt-compose.log" 2>&1 || {
  tail -n 30 "$LOG_DIR/apt-compose.log" >&2
  die "apt-get install docker-compose failed (see $LOG_DIR/apt-compose.log)"
}
log "docker-compose: installed $(docker-compose version --short)"
