#!/usr/bin/env bash
# Stop a private cluster started by scripts/start-postgres.sh DIR. Safe to call when it is not running.
set -euo pipefail

if [ $# -lt 1 ]; then
    echo "usage: $0 DATA_DIR" >&2
    exit 2
fi
data_dir="$(realpath -m "$1")/data"
bin_dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ ! -f "$data_dir/postmaster.pid" ]; then
    echo "postgres in $data_dir is not running" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$bin_dir/pg_ctl" -D "$data_dir" -m fast -w stop >&2
else
    "$bin_dir/pg_ctl" -D "$data_dir" -m fast -w stop >&2
fi
