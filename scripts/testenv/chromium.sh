#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (Microsoft.Playwright drives it with
# ExecutablePath=/usr/bin/chromium; it downloads no browser of its own). Idempotent: does
# nothing when the package is present. Starts nothing, so down.sh has nothing to stop.
# Called by up.sh (which holds .state/lock); runs standalone too.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ ${EUID} -eq 0 ]] || die "chromium.sh must run as root (apt-get)"
mkdir -p "$LOG_DIR"

if dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'ok installed' && [[ -x /usr/bin/chromium ]]; then
  log "chromium: present ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

log "chromium: installing Debian's chromium (log: $LOG_DIR/apt-chromium.log)"
{
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends chromium fonts-liberation
} >"$LOG_DIR/apt-chromium.log" 2>&1 || {
  tail -n 30 "$LOG_DIR/apt-chromium.log" >&2
  die "apt-get install chromium failed (see $LOG_DIR/apt-chromium.log)"
}
/usr/bin/chromium --version >/dev/null 2>&1 || die "chromium was installed but /usr/bin/chromium does not run"
log "chromium: installed ($(/usr/bin/chromium --version))"
