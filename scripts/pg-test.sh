#!/usr/bin/env bash
# A throwaway PostgreSQL on 127.0.0.1 for the ticket crate's tests.
#
#   eval "$(scripts/pg-test.sh start)"   # installs if needed, starts, prints `export TICKET_TEST_PG_URL=…`
#   scripts/pg-test.sh stop              # stops it and removes its data directory
#
# Env: PG_TEST_PORT (default 55432), PG_TEST_DIR (default /tmp/hotline-pg-test).
# Runs the server as the `postgres` user (initdb refuses root). Trust auth on 127.0.0.1 only: test data only.
set -euo pipefail

PORT="${PG_TEST_PORT:-55432}"
DIR="${PG_TEST_DIR:-/tmp/hotline-pg-test}"

pg_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/pg_ctl" ]; then echo "$d"; fi
    done | sort -V | tail -n 1
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local bin
    bin="$(pg_bin)"
    if [ -z "$bin" ]; then
        echo "pg-test: installing postgresql" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq postgresql >&2
        bin="$(pg_bin)"
    fi
    if [ -z "$bin" ]; then
        echo "pg-test: no PostgreSQL server binaries found" >&2
        exit 1
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir "$DIR" --shell /bin/bash postgres
    fi
    mkdir -p "$DIR"
    if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; fi
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
        as_postgres "$bin/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2
    fi
    if ! as_postgres "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        as_postgres "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c max_connections=200" start >&2
    fi
    echo "export TICKET_TEST_PG_URL=postgres://postgres@127.0.0.1:$PORT/postgres"
}

stop() {
    local bin
    bin="$(pg_bin)"
    if [ -n "$bin" ] && [ -f "$DIR/data/PG_VERSION" ]; then
        as_postgres "$bin/pg_ctl" -D "$DIR/data" -m fast stop >&2 || true
    fi
    rm -rf "$DIR"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
