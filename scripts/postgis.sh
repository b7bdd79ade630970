#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL + PostGIS cluster on loopback for tests.
#   scripts/postgis.sh start   (scripts/test.sh then sets TEST_DATABASE_URL)
#   scripts/postgis.sh stop
# Needs Debian's postgresql and postgresql-15-postgis-3 (scripts/setup.sh --test installs them).
set -euo pipefail
PGPORT="${INSIGHT_PGPORT:-55432}"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
STATE=/tmp/insight-pg-"$PGPORT"

pg_start() {
  if [ -z "$PGBIN" ]; then echo "PostgreSQL is not installed (apt-get install postgresql postgresql-15-postgis-3)" >&2; return 1; fi
  if [ -f "$STATE/data/postmaster.pid" ]; then pg_stop || true; fi
  rm -rf "$STATE"; mkdir -p "$STATE"; chown postgres:postgres "$STATE"
  runuser -u postgres -- "$PGBIN/initdb" -D "$STATE/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$STATE/data" -l "$STATE/log" -w \
    -o "-h 127.0.0.1 -p $PGPORT -k /tmp -c fsync=off -c full_page_writes=off -c synchronous_commit=off" start >/dev/null
  psql -q -h 127.0.0.1 -p "$PGPORT" -U postgres -c "CREATE DATABASE insight_test" >/dev/null
  psql -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d insight_test -c "CREATE EXTENSION postgis" >/dev/null
  export TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/insight_test"
  echo "PostGIS test cluster on 127.0.0.1:$PGPORT ($TEST_DATABASE_URL)"
}

pg_stop() {
  if [ -n "$PGBIN" ] && [ -d "$STATE/data" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$STATE/data" -m fast stop >/dev/null 2>&1 || true
  fi
  rm -rf "$STATE"
}

case "${1:-}" in
  start) pg_start ;;
  stop) pg_stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
