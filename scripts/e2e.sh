#!/usr/bin/env bash
# The end-to-end tests on their own: PostgreSQL (Debian package, private cluster) + the four Airflow
# services natively on this machine, meshmark_nightly triggered over the REST API, the Parquet
# dataset and trend report checked, and the UI trigger form opened in headless Chromium.
# Progress lines go to stderr; on failure the Airflow home with all logs is kept in var/e2e-logs/.
#
#   scripts/e2e.sh              # all of tests/e2e
#   scripts/e2e.sh -k trigger   # extra pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/pytest ]; then
    echo "no .venv: run 'make setup' first" >&2
    exit 2
fi
exec .venv/bin/pytest tests/e2e -q -ra -s -p no:cacheprovider "$@"
