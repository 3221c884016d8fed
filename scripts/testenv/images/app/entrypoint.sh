#!/bin/sh
# PID 1 of the wu-test app image. busybox sh as PID 1 ignores SIGTERM unless it
# traps it, so the trap below is what makes `docker stop` return at once.
port="${APP_PORT:-8080}"
mkdir -p /data
# Data that must survive an update: one line per start, the version that started.
echo "$APP_VERSION" >>/data/versions.log
echo "wu-test app $APP_VERSION ($APP_MODE) listening on 127.0.0.1:$port"

httpd -f -p "127.0.0.1:$port" -h /www &
child=$!

# shellcheck disable=SC2317 # called by the trap
stop() {
  echo "wu-test app $APP_VERSION: stopping"
  kill -TERM "$child" 2>/dev/null
  wait "$child" 2>/dev/null
  exit 0
}
trap stop TERM INT

if [ "$APP_MODE" = exits ]; then
  sleep 1
  echo "wu-test app $APP_VERSION: simulated crash, exit 1" >&2
  kill -TERM "$child" 2>/dev/null
  exit 1
fi

# `wait` returns early when a trapped signal arrives; loop while httpd lives.
while kill -0 "$child" 2>/dev/null; do
  wait "$child"
done
echo "wu-test app $APP_VERSION: httpd ended" >&2
exit 2
