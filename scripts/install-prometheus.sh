#!/usr/bin/env bash
# Install Debian's Prometheus server binary for the resource-metrics tests (idempotent).
# The package's systemd service is never started here: tests run their own prometheus on 127.0.0.1.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1; then
  echo "prometheus already installed: $(prometheus --version 2>&1 | head -1)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-prometheus.sh: must run as root (apt-get)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Keep the package's postinst from starting the service (no init system in CI containers anyway).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

if ! apt-cache show prometheus >/dev/null 2>&1; then
  apt-get update -q
fi
apt-get install -y -q --no-install-recommends prometheus
prometheus --version 2>&1 | head -1
