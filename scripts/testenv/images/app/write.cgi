#!/bin/sh
# GET /cgi-bin/write?n=N writes /data/queues/N: a request that changes the data volume, as
# Gitea's do. While the container is paused the request waits, as Gitea's would.
n="${QUERY_STRING#n=}"
case "$n" in
  '' | *[!0-9]*) printf 'Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nn must be a number\n'; exit 0 ;;
esac
mkdir -p /data/queues && echo "$n" >"/data/queues/$n"
printf 'Content-Type: text/plain\r\n\r\n%s\n' "$n"
