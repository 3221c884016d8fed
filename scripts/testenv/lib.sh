# shellcheck shell=bash disable=SC2034
# (SC2034: the settings below are used by the scripts that source this file.)
# Shared settings and helpers for scripts/testenv/up.sh and down.sh.
# Sourced, not run. Everything here talks to loopback or local sockets only.

TESTENV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="$TESTENV_DIR/.state"
PID_DIR="$STATE_DIR/pids"
LOG_DIR="$STATE_DIR/logs"

# Caches that survive between runs (and between clones of the repo).
CACHE_DIR="${WU_TESTENV_CACHE:-/var/cache/wu-testenv}"
DOCKER26_DIR="$CACHE_DIR/docker26"

# Engine A: Debian bookworm docker.io (20.10, API 1.41).
DOCKER_A="unix:///var/run/docker.sock"
# Engine B: Debian trixie docker.io (26.1, API 1.45), own sockets and folders.
B_RUN="/run/wu-docker26"
B_DATA="/var/lib/wu-docker26"
DOCKER_B="unix://$B_RUN/docker.sock"
B_CONTAINERD_SOCK="$B_RUN/containerd/containerd.sock"
B_EXPECTED_API="1.45"

REGISTRY_ADDR="127.0.0.1:5000"
REGISTRY_DATA="/var/lib/wu-registry"
REGISTRY="localhost:5000"
IMAGE_PREFIX="$REGISTRY/wu-test"

S3_ADDR="127.0.0.1"
S3_PORT="4568"
SES_ADDR="127.0.0.1"
SES_PORT="8005"
SMTP_ADDR="127.0.0.1"
SMTP_PORT="2525"
SMTP_MAILDIR="$STATE_DIR/smtp-maildir"

# A PATH free of user tool folders, for the daemons we start.
SYS_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The machine's docker CLI (28.x at /usr/local/bin/docker); Debian's 20.10 CLI also works.
DOCKER_CLI="$(command -v docker || true)"
# No buildx plugin here: use the classic builder explicitly (quiet, no deprecation noise).
export DOCKER_BUILDKIT=0
export DOCKER_CLI_HINTS=false

# With WU_LOG_T0 set (up.sh sets it), each line shows the seconds elapsed since then.
log() {
  if [[ -n "${WU_LOG_T0:-}" ]]; then
    printf '==> [%3ds] %s\n' "$((SECONDS - WU_LOG_T0))" "$*"
  else
    printf '==> %s\n' "$*"
  fi
}
warn() { printf '==> WARNING: %s\n' "$*" >&2; }
die() { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }

dA() { "$DOCKER_CLI" -H "$DOCKER_A" "$@"; }
dB() { "$DOCKER_CLI" -H "$DOCKER_B" "$@"; }

# engine_answers HOST: true when a daemon answers on HOST.
engine_answers() {
  timeout 10 "$DOCKER_CLI" -H "$1" version --format '{{.Server.APIVersion}}' >/dev/null 2>&1
}

# pid_of NAME: prints the recorded PID of a process we started, if it is still
# alive and still the same program (guards against PID reuse). Cleans stale files.
pid_of() {
  local name="$1" f="$PID_DIR/$1.pid" pid pat cmd
  [[ -f "$f" ]] || return 1
  read -r pid pat <"$f" || true
  if [[ -n "${pid:-}" ]] && running "$pid"; then
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    if [[ -z "${pat:-}" || "$cmd" == *"$pat"* ]]; then
      printf '%s\n' "$pid"
      return 0
    fi
  fi
  rm -f "$f"
  return 1
}

# start_bg NAME MATCH LOGFILE CMD...: start CMD detached (own session, no stdin),
# record "PID MATCH" so down.sh can stop exactly this process later.
start_bg() {
  local name="$1" match="$2" logfile="$3"
  shift 3
  mkdir -p "$PID_DIR" "$(dirname "$logfile")"
  # 9>&-: do not hand up.sh's lock (fd 9) to a long-lived daemon.
  setsid "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
  local pid=$!
  printf '%s %s\n' "$pid" "$match" >"$PID_DIR/$name.pid"
}

# wait_for SECONDS WHAT CMD...: poll CMD every 0.5 s until it succeeds.
wait_for() {
  local secs="$1"
  shift 2 # $2 names the wait, for the reader
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.5
  done
}

# running PID: alive and not a zombie. Our daemons outlive up.sh, so PID 1 reaps
# them, and here it does so only every couple of seconds: a zombie counts as gone.
running() {
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st="$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)"
  [[ -n "$st" && "$st" != Z ]]
}

# stop_pid NAME [GRACE]: SIGTERM the recorded process, wait, then SIGKILL.
stop_pid() {
  local name="$1" grace="${2:-30}" pid
  if ! pid="$(pid_of "$name")"; then
    return 0
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + grace))
  while running "$pid"; do
    if ((SECONDS >= deadline)); then
      warn "$name (pid $pid) did not stop in ${grace}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_DIR/$name.pid"
}

http_code() { curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true; }
# http_answers URL: any HTTP status at all (s3rver answers 403 to an unsigned GET /).
http_answers() { local c; c="$(http_code "$1")"; [[ -n "$c" && "$c" != "000" ]]; }
