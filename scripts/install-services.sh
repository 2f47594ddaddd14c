#!/usr/bin/env bash
# Install every Debian package the test suite's services need (Prometheus, PostgreSQL, Chromium)
# in one apt transaction, then let each install script confirm its own. Idempotent and quick when
# everything is there. Services are started by the tests themselves, on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-services.sh: need root (apt-get) to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Keep package post-install scripts from starting system services (tests start their own).
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

bash ./install-prometheus.sh
bash ./install-postgres.sh
bash ./install-chromium.sh
