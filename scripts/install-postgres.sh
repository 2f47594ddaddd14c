#!/usr/bin/env bash
# Install Debian's PostgreSQL server (15 on bookworm) for the Airflow end-to-end test (tests/e2e,
# marker `services`). Idempotent: does nothing when initdb/pg_ctl are already there; runs
# `apt-get update` only when the package index does not know the package yet. The packaged
# cluster ("main") is not used: scripts/start-postgres.sh starts a private one.
set -euo pipefail

find_pg_bin() {
    # Debian keeps initdb/pg_ctl out of PATH, under /usr/lib/postgresql/<major>/bin.
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

bin_dir="$(find_pg_bin || true)"
if [ -n "$bin_dir" ] && [ -x "$bin_dir/initdb" ] && [ -x "$bin_dir/pg_ctl" ]; then
    echo "postgresql already installed: $("$bin_dir/postgres" --version)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

if ! apt-cache show postgresql >/dev/null 2>&1; then
    $SUDO apt-get update -q
fi
# policy-rc.d keeps the package's post-install from starting the system cluster in containers.
$SUDO apt-get install -y -q --no-install-recommends postgresql
bin_dir="$(find_pg_bin)"
"$bin_dir/postgres" --version
