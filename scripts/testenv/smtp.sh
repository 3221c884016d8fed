#!/usr/bin/env bash
# A real SMTP server for the MailKit sender's tests: Debian's python3-aiosmtpd on
# 127.0.0.1:2525, delivering every message into a Maildir (.state/smtp-maildir/new/).
# Idempotent: installs only if missing, reuses a server that answers. down.sh stops it.
# Called by up.sh (which holds .state/lock); runs standalone too.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ ${EUID} -eq 0 ]] || die "smtp.sh must run as root (apt-get)"
mkdir -p "$LOG_DIR" "$PID_DIR" "$SMTP_MAILDIR"/{new,cur,tmp}

smtp_answers() { timeout 3 bash -c "exec 3<>/dev/tcp/$SMTP_ADDR/$SMTP_PORT && head -c 3 <&3 | grep -q 220" 2>/dev/null; }

if smtp_answers; then
  log "smtp: reusing $SMTP_ADDR:$SMTP_PORT"
  exit 0
fi

if ! dpkg-query -W -f='${Status}' python3-aiosmtpd 2>/dev/null | grep -q 'ok installed'; then
  log "smtp: installing python3-aiosmtpd (log: $LOG_DIR/apt-smtp.log)"
  {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends python3-aiosmtpd
  } >"$LOG_DIR/apt-smtp.log" 2>&1 || {
    tail -n 30 "$LOG_DIR/apt-smtp.log" >&2
    die "apt-get install python3-aiosmtpd failed (see $LOG_DIR/apt-smtp.log)"
  }
fi

pid_of smtp >/dev/null || {
  log "smtp: starting aiosmtpd on $SMTP_ADDR:$SMTP_PORT (Maildir $SMTP_MAILDIR)"
  start_bg smtp "aiosmtpd" "$LOG_DIR/smtp.log" \
    /usr/bin/python3 -m aiosmtpd -n -l "$SMTP_ADDR:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$SMTP_MAILDIR"
}
wait_for 30 smtp smtp_answers || {
  tail -n 20 "$LOG_DIR/smtp.log" >&2 || true
  die "aiosmtpd did not answer within 30 s"
}
log "smtp: up"
