#!/bin/sh
# Checks what the compose file hands gitea (the database password secret), then serves like Gitea.
set -eu
pw="${GITEA__database__PASSWD__FILE:-}"
[ -n "$pw" ] && [ -s "$pw" ] || { echo "gitea stand-in: GITEA__database__PASSWD__FILE is not a readable file" >&2; exit 1; }
port="${GITEA__server__HTTP_PORT:-3000}"
echo "gitea stand-in: listening on :$port"
httpd -f -p "0.0.0.0:$port" -h /www &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; exit 0' TERM INT
while kill -0 "$child" 2>/dev/null; do wait "$child" || true; done
exit 2
