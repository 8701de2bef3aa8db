#!/usr/bin/env bash
# A throwaway PostgreSQL for the store tests, on 127.0.0.1 only, data under target/pg.
# (Under /tmp instead when the postgres user cannot enter this checkout.)
#
#   source .ci/postgres.sh        start it (or reuse the running one) and export
#                                 GATEWAY_TEST_DATABASE_URL
#   bash .ci/postgres.sh          the same, printing the export line
#   bash .ci/postgres.sh stop     stop it
#
# Installs Debian's postgresql when no server binaries are found. PostgreSQL refuses to run as
# root, so as root the server runs as the postgres user (runuser). Loopback connections are
# trusted: the server listens on 127.0.0.1 only and holds nothing but test databases.

_gateway_pg_as() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_gateway_pg_bin() {
    local bin
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return
    fi
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bin" ] || [ ! -x "$bin/pg_ctl" ]; then
        echo "postgres.sh: installing Debian's postgresql" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    echo "$bin"
}

# target/pg of this checkout; when the postgres user cannot reach the checkout (a parent
# directory closed to other users), a directory under /tmp named after the checkout's path.
_gateway_pg_root() {
    local repo
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$repo" 2>/dev/null; then
        echo "/tmp/invitation-gateway-pg-$(printf %s "$repo" | cksum | cut -d ' ' -f 1)"
    else
        echo "$repo/target/pg"
    fi
}

_gateway_pg_start() {
    local root bin data port
    root=$(_gateway_pg_root)
    bin=$(_gateway_pg_bin) || return 1
    data="$root/data"
    mkdir -p "$root"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$root"
    fi
    if [ -f "$root/port" ] && _gateway_pg_as "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        port=$(cat "$root/port")
    else
        if [ ! -f "$data/PG_VERSION" ]; then
            _gateway_pg_as "$bin/initdb" -D "$data" -U postgres --auth=trust \
                --encoding=UTF8 --locale=C.UTF-8 >"$root/initdb.log" 2>&1 || {
                cat "$root/initdb.log" >&2
                return 1
            }
        fi
        # The first free port from 55432 (other worktrees or runs may hold one).
        port=55432
        while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
            port=$((port + 1))
        done
        echo "$port" >"$root/port"
        # No Unix socket (its path would depend on the checkout's); fsync off: test data only.
        _gateway_pg_as "$bin/pg_ctl" -D "$data" -l "$root/server.log" -w -t 60 \
            -o "-h 127.0.0.1 -p $port -c unix_socket_directories= -c fsync=off -c max_connections=200" \
            start >/dev/null || {
            cat "$root/server.log" >&2
            return 1
        }
    fi
    if ! "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'gateway_test'" | grep -q 1; then
        "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE gateway_test" >/dev/null
    fi
    export GATEWAY_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/gateway_test?sslmode=disable"
    echo "postgres.sh: PostgreSQL on 127.0.0.1:$port (GATEWAY_TEST_DATABASE_URL exported)" >&2
}

_gateway_pg_stop() {
    local root bin
    root=$(_gateway_pg_root)
    bin=$(_gateway_pg_bin) || return 1
    if [ -f "$root/data/PG_VERSION" ]; then
        _gateway_pg_as "$bin/pg_ctl" -D "$root/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -f "$root/port"
    echo "postgres.sh: stopped" >&2
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced: start and export into the caller's shell, leaving its options alone.
    _gateway_pg_start
else
    set -euo pipefail
    case "${1:-start}" in
        start)
            _gateway_pg_start
            echo "export GATEWAY_TEST_DATABASE_URL='$GATEWAY_TEST_DATABASE_URL'"
            ;;
        stop) _gateway_pg_stop ;;
        *)
            echo "usage: $0 [start|stop]" >&2
            exit 2
            ;;
    esac
fi
