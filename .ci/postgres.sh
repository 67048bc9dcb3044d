#!/usr/bin/env bash
# A throwaway PostgreSQL on 127.0.0.1 for the sweep tests that need an RDB storage.
#   source .ci/postgres.sh start   -> exports MBEGU_TEST_POSTGRES_URL
#   .ci/postgres.sh stop
set -euo pipefail
# A free port unless one is given, so a server left over from an earlier run cannot collide.
PORT="${MBEGU_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
DIR="${MBEGU_PG_DIR:-/tmp/mbegu-pg}"
BIN="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)")"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-}" in
  start)
    if [ ! -x "$BIN/initdb" ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      BIN="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")"
    fi
    rm -rf "$DIR" && mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    as_pg "$BIN/initdb" -D "$DIR/data" -U mbegu --auth=trust -E UTF8 >/dev/null
    as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
      -o "-h 127.0.0.1 -p $PORT -k $DIR" start >/dev/null
    as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U mbegu mbegu_sweeps
    as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U mbegu mbegu_mlflow
    export MBEGU_TEST_POSTGRES_URL="postgresql://mbegu@127.0.0.1:$PORT/mbegu_sweeps"
    # The team tracking server's database (tests/test_team_server.py).
    export MBEGU_TEST_POSTGRES_MLFLOW_URL="postgresql://mbegu@127.0.0.1:$PORT/mbegu_mlflow"
    echo "postgres: $MBEGU_TEST_POSTGRES_URL, $MBEGU_TEST_POSTGRES_MLFLOW_URL"
    ;;
  stop)
    [ -d "$DIR/data" ] && as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null || true
    rm -rf "$DIR"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
