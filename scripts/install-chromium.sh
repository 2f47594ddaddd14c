#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the report browser test (tests/reporting, marker
# `services`). Idempotent: does nothing when `chromium` is already on PATH; runs `apt-get update`
# only when the package index does not know the package yet.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(chromium --version 2>/dev/null || echo unknown version)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

if ! apt-cache show chromium >/dev/null 2>&1; then
    $SUDO apt-get update -q
fi
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
chromium --version
