#!/bin/bash
# Entry point of the wu-test postgres image.
# Env: POSTGRES_USER (default postgres), POSTGRES_PASSWORD, POSTGRES_DB (default
# $POSTGRES_USER), each also as *_FILE; PGPORT (default 5432); PGDATA;
# POSTGRES_LISTEN_ADDRESSES (default 127.0.0.1). Scripts in
# /docker-entrypoint-initdb.d (*.sql, *.sh) run once, on first start.
set -euo pipefail

file_env() {
  local var="$1" def="${2:-}" fvar="${1}_FILE"
  if [[ -n "${!var:-}" && -n "${!fvar:-}" ]]; then
    echo "error: both $var and $fvar are set" >&2
    exit 1
  fi
  local val="$def"
  if [[ -n "${!var:-}" ]]; then
    val="${!var}"
  elif [[ -n "${!fvar:-}" ]]; then
    val="$(<"${!fvar}")"
  fi
  export "$var"="$val"
  unset "$fvar"
}

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

if [[ "${1:-}" != postgres ]]; then
  exec "$@"
fi

export PGPORT="${PGPORT:-5432}"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
file_env POSTGRES_USER postgres
file_env POSTGRES_PASSWORD
file_env POSTGRES_DB "$POSTGRES_USER"
listen="${POSTGRES_LISTEN_ADDRESSES:-127.0.0.1}"

mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  echo "wu-test postgres: initialising $PGDATA (user $POSTGRES_USER, db $POSTGRES_DB, port $PGPORT)"
  pwfile="$(mktemp)"
  chown postgres:postgres "$pwfile"
  auth_host=scram-sha-256
  if [[ -n "$POSTGRES_PASSWORD" ]]; then
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  else
    echo "wu-test postgres: WARNING: no POSTGRES_PASSWORD, TCP connections are trusted" >&2
    auth_host=trust
    printf 'unused\n' >"$pwfile"
  fi
  as_postgres initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host="$auth_host" --encoding=UTF8 --no-locale >/dev/null
  rm -f "$pwfile"

  # Init-time server: unix socket only, so TCP health checks cannot pass early.
  as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p $PGPORT" -w -s start
  psql_init=(psql -v ON_ERROR_STOP=1 --no-psqlrc -q -U "$POSTGRES_USER")
  if [[ "$POSTGRES_DB" != postgres ]]; then
    # psql quotes the name itself (:"db"); variables are not expanded in -c, so use stdin.
    echo 'CREATE DATABASE :"db";' | "${psql_init[@]}" -d postgres --set db="$POSTGRES_DB"
  fi
  shopt -s nullglob
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) echo "wu-test postgres: running $f"; bash "$f" ;;
      *.sql) echo "wu-test postgres: running $f"; "${psql_init[@]}" -d "$POSTGRES_DB" -f "$f" ;;
      *) echo "wu-test postgres: ignoring $f" ;;
    esac
  done
  as_postgres pg_ctl -D "$PGDATA" -m fast -w -s stop
  echo "wu-test postgres: init done"
fi

# setpriv directly (not through the as_postgres function, which would run in a
# subshell): $! must be the postmaster itself so the trap below can signal it.
setpriv --reuid=postgres --regid=postgres --init-groups -- \
  postgres -D "$PGDATA" -c listen_addresses="$listen" -p "$PGPORT" &
pg=$!

# docker stop sends SIGTERM; postgres treats TERM as a "smart" shutdown that waits
# for clients. Turn it into a fast shutdown (SIGINT) so stop returns in about a second.
# shellcheck disable=SC2317 # called by the trap
shutdown() {
  echo "wu-test postgres: fast shutdown"
  kill -INT "$pg" 2>/dev/null || true
}
trap shutdown TERM INT

set +e
# `wait` returns early when a trapped signal arrives: keep waiting while postgres lives,
# then collect its exit status (bash remembers it after the child was reaped).
while kill -0 "$pg" 2>/dev/null; do
  wait "$pg"
done
wait "$pg"
exit $?
