#!/usr/bin/env bash
# Make sure the PostgreSQL server behind the URL answers; start the local cluster if it does not.
# A suite that cannot reach PostgreSQL fails: it is never silently skipped.
set -euo pipefail
url="${1:-postgres://postgres@127.0.0.1:5432/hufen}"
hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$hostport" ] && port=5432
db="${url##*/}"; db="${db%%\?*}"
user="${url#*://}"; user="${user%%@*}"; user="${user%%:*}"
ready() { pg_isready -q -h "$host" -p "$port" -t 3; }
if ! ready; then
  echo "PostgreSQL at $host:$port is not answering; starting the local cluster"
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    for version in $(ls /etc/postgresql 2>/dev/null); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
  fi
  for _ in $(seq 1 20); do ready && break; sleep 1; done
fi
if ! ready; then
  echo "FAIL: PostgreSQL at $host:$port cannot be reached; the PostgreSQL suite cannot run" >&2
  exit 1
fi
# The test runner creates test_<db>; the base database must exist for the connection.
if ! psql -h "$host" -p "$port" -U "$user" -d postgres -tAc "select 1 from pg_database where datname='$db'" | grep -q 1; then
  createdb -h "$host" -p "$port" -U "$user" "$db"
fi
echo "PostgreSQL ready at $host:$port/$db"
