#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on loopback for the test suite; print its URL.
#
#   eval "$(scripts/start_test_postgres.sh)"      # exports ROP_TEST_DB and ROP_TEST_PG_URL
#   .venv/bin/python -m pytest tests/unit/store tests/unit/services
#   scripts/start_test_postgres.sh --stop
#
# Needs Debian's `postgresql` package (initdb and pg_ctl under /usr/lib/postgresql/<v>/bin).
# The cluster lives in $ROP_TEST_PG_DIR (default /tmp/rop-test-pg), listens on 127.0.0.1 only,
# on port $ROP_TEST_PG_PORT (default 54329), with TLS on (a self-signed certificate) and
# `trust` authentication for its one superuser `rop_test`: a scratch server for tests, never data.
# PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
set -euo pipefail

PORT="${ROP_TEST_PG_PORT:-54329}"
DIR="${ROP_TEST_PG_DIR:-/tmp/rop-test-pg}"
USER_NAME=rop_test
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -x "$BIN/initdb" ] || { echo "start_test_postgres: PostgreSQL not installed (apt-get install -y postgresql)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = "--stop" ]; then
  [ -d "$DIR/data" ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >&2 || true
  rm -rf "$DIR"
  exit 0
fi

if ! as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
  rm -rf "$DIR"
  mkdir -p "$DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
  as_owner "$BIN/initdb" -D "$DIR/data" -U "$USER_NAME" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  if command -v openssl >/dev/null 2>&1; then
    as_owner openssl req -new -x509 -days 30 -nodes -subj "/CN=localhost" \
      -keyout "$DIR/data/server.key" -out "$DIR/data/server.crt" >/dev/null 2>&1
    as_owner chmod 600 "$DIR/data/server.key"
    echo "ssl = on" | as_owner tee -a "$DIR/data/postgresql.conf" >/dev/null
  fi
  cat <<CONF | as_owner tee -a "$DIR/data/postgresql.conf" >/dev/null
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >&2
fi

URL="postgresql+psycopg://$USER_NAME@127.0.0.1:$PORT/postgres"
echo "export ROP_TEST_DB=postgresql"
echo "export ROP_TEST_PG_URL=$URL"
