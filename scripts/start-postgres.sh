#!/usr/bin/env bash
# Start a PRIVATE PostgreSQL cluster for tests: its own data directory, bound to 127.0.0.1 only, on
# a free (or given) port, with a database and role `airflow`. Prints the SQLAlchemy URL as the last
# line of stdout; progress goes to stderr. Stop it with scripts/stop-postgres.sh DIR.
#
#   scripts/start-postgres.sh DIR [PORT]
#
# initdb refuses to run as root, so as root the cluster runs as the `postgres` system user (DIR is
# created and handed to that user; its parent directories must be traversable by it).
set -euo pipefail

if [ $# -lt 1 ]; then
    echo "usage: $0 DATA_DIR [PORT]" >&2
    exit 2
fi
base_dir="$(realpath -m "$1")"
port="${2:-}"
if [ -z "$port" ]; then
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi

bin_dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$bin_dir" ] || [ ! -x "$bin_dir/initdb" ]; then
    echo "PostgreSQL server binaries not found under /usr/lib/postgresql: run scripts/install-postgres.sh" >&2
    exit 1
fi

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

mkdir -p "$base_dir"
if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$base_dir"
    chmod 700 "$base_dir"
fi
data_dir="$base_dir/data"
socket_dir="$base_dir"
log_file="$base_dir/postgres.log"
password="${MESHMARK_PG_PASSWORD:-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}"

if [ ! -f "$data_dir/PG_VERSION" ]; then
    echo "initdb $data_dir" >&2
    as_owner "$bin_dir/initdb" -D "$data_dir" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >&2
fi

if as_owner "$bin_dir/pg_ctl" -D "$data_dir" status >/dev/null 2>&1 && [ -f "$base_dir/port" ]; then
    port="$(cat "$base_dir/port")"
    echo "postgres in $data_dir already running on 127.0.0.1:$port" >&2
else
    echo "starting postgres on 127.0.0.1:$port" >&2
    as_owner "$bin_dir/pg_ctl" -D "$data_dir" -l "$log_file" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $socket_dir" start >&2
    echo "$port" | as_owner tee "$base_dir/port" >/dev/null
fi

psql_local() {
    as_owner psql -h "$socket_dir" -p "$port" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"
}
# Idempotent: a restarted cluster keeps its role; the password is reset to the one printed below.
if [ "$(psql_local -c "SELECT 1 FROM pg_roles WHERE rolname = 'airflow'")" != "1" ]; then
    psql_local -c "CREATE ROLE airflow LOGIN"
fi
psql_local -c "ALTER ROLE airflow PASSWORD '$password'"
if [ "$(psql_local -c "SELECT 1 FROM pg_database WHERE datname = 'airflow'")" != "1" ]; then
    psql_local -c "CREATE DATABASE airflow OWNER airflow"
fi

echo "postgresql+psycopg2://airflow:$password@127.0.0.1:$port/airflow"
