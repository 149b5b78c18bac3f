#!/usr/bin/env bash
# Make sure the Redis server behind the URL answers; start the local one if it does not.
# The PostgreSQL pass runs with Redis as the cache, as production does: it fails if Redis cannot be reached.
set -euo pipefail
url="${1:-redis://127.0.0.1:6379/15}"
hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$hostport" ] && port=6379
ready() { redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG; }
if ! ready; then
  echo "Redis at $host:$port is not answering; starting the local server"
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  for _ in $(seq 1 10); do ready && break; sleep 1; done
fi
if ! ready; then
  echo "FAIL: Redis at $host:$port cannot be reached" >&2
  exit 1
fi
echo "Redis ready at $host:$port"
