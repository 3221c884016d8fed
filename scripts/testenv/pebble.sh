#!/usr/bin/env bash
# Debian's pebble (an ACME test server) on loopback, for the certificate renewal tests.
#   pebble.sh start   install if missing, make its TLS certificate, start it (or reuse it),
#                     and add its address and CA to .state/env.sh
#   pebble.sh stop    stop the pebble this script started (by its recorded PID)
# Called by up.sh and down.sh, which hold .state/lock: this script takes no lock itself.
#   ACME directory   https://127.0.0.1:14000/dir   (management API on 127.0.0.1:15000)
#   its TLS CA       .state/pebble/ca.pem          (certbot needs it in REQUESTS_CA_BUNDLE)
# PEBBLE_VA_ALWAYS_VALID=1: every challenge passes, so any made-up domain is issued without
# reaching it. Restarting pebble forgets every account: lineages issued before then fail to
# renew (accountDoesNotExist), so tests obtain their certificates afresh.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PEBBLE_ADDR="127.0.0.1:14000"
PEBBLE_MANAGEMENT_ADDR="127.0.0.1:15000"
PEBBLE_DIR="$STATE_DIR/pebble"
PEBBLE_DIRECTORY_URL="https://$PEBBLE_ADDR/dir"

pebble_answers() { curl -fsS -m 3 --cacert "$PEBBLE_DIR/ca.pem" "$PEBBLE_DIRECTORY_URL" >/dev/null 2>&1; }

ensure_pebble_package() {
  if dpkg-query -W -f='${Status}' pebble 2>/dev/null | grep -q 'ok installed'; then
    return
  fi
  log "pebble: installing Debian's pebble"
  {
    DEBIAN_FRONTEND=noninteractive apt-get update &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends pebble openssl curl
  } >"$LOG_DIR/apt-pebble.log" 2>&1 || {
    tail -n 20 "$LOG_DIR/apt-pebble.log" >&2
    die "apt-get install pebble failed (see $LOG_DIR/apt-pebble.log)"
  }
}

# The package ships no TLS certificate for pebble's own HTTPS listener: make a CA and a
# certificate for localhost and 127.0.0.1, signed by it. Kept between runs.
ensure_pebble_tls() {
  if [[ -s "$PEBBLE_DIR/ca.pem" && -s "$PEBBLE_DIR/cert.pem" && -s "$PEBBLE_DIR/key.pem" ]]; then
    return
  fi
  mkdir -p "$PEBBLE_DIR"
  local tmp="$PEBBLE_DIR/tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=wu-test pebble CA" \
    -keyout "$tmp/ca.key" -out "$tmp/ca.pem" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.csr" >/dev/null 2>&1
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$tmp/ext.cnf"
  openssl x509 -req -in "$tmp/cert.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
    -days 3650 -extfile "$tmp/ext.cnf" -out "$tmp/cert.pem" >/dev/null 2>&1
  chmod 644 "$tmp/ca.pem" "$tmp/cert.pem"
  mv "$tmp/ca.key" "$tmp/ca.pem" "$tmp/key.pem" "$tmp/cert.pem" "$PEBBLE_DIR/"
  rm -rf "$tmp"
  log "pebble: made a TLS CA and a certificate for localhost,127.0.0.1 in $PEBBLE_DIR"
}

write_pebble_config() {
  cat >"$PEBBLE_DIR/pebble-config.json" <<EOF
{
  "pebble": {
    "listenAddress": "$PEBBLE_ADDR",
    "managementListenAddress": "$PEBBLE_MANAGEMENT_ADDR",
    "certificate": "$PEBBLE_DIR/cert.pem",
    "privateKey": "$PEBBLE_DIR/key.pem",
    "httpPort": 5002,
    "tlsPort": 5001,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF
}

# Replaces this script's lines in env.sh (up.sh writes the rest of it just before).
export_pebble_env() {
  local env="$STATE_DIR/env.sh" tmp="$STATE_DIR/env.sh.pebble"
  : >"$tmp"
  if [[ -f "$env" ]]; then
    grep -v '^export WU_TEST_PEBBLE_' "$env" >"$tmp" || true
  fi
  cat >>"$tmp" <<EOF
export WU_TEST_PEBBLE_DIRECTORY=$PEBBLE_DIRECTORY_URL
export WU_TEST_PEBBLE_CA=$PEBBLE_DIR/ca.pem
EOF
  mv "$tmp" "$env"
}

start() {
  mkdir -p "$STATE_DIR" "$PID_DIR" "$LOG_DIR"
  ensure_pebble_package
  ensure_pebble_tls
  if pebble_answers; then
    log "pebble: reusing $PEBBLE_DIRECTORY_URL"
  else
    write_pebble_config
    pid_of pebble >/dev/null || {
      log "pebble: starting on $PEBBLE_ADDR (log: $LOG_DIR/pebble.log)"
      # NONCEREJECT=0: pebble otherwise rejects 5% of good nonces on purpose, which makes
      # certbot runs fail at random.
      start_bg pebble "pebble -config" "$LOG_DIR/pebble.log" \
        env PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
        /usr/bin/pebble -config "$PEBBLE_DIR/pebble-config.json"
    }
    wait_for 30 pebble pebble_answers || {
      tail -n 20 "$LOG_DIR/pebble.log" >&2 || true
      die "pebble did not answer at $PEBBLE_DIRECTORY_URL within 30 s"
    }
    log "pebble: up at $PEBBLE_DIRECTORY_URL"
  fi
  export_pebble_env
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid pebble 20 ;;
  *) die "usage: pebble.sh start|stop" ;;
esac
