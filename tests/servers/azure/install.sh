#!/usr/bin/env bash
# Installs Azurite (pinned in package-lock.json) for the Azure destination tests. Idempotent: does nothing
# when the locked version is already installed. Azurite declares node >= 22 but runs on node 20 (tested).
set -euo pipefail
cd "$(dirname "$0")"
if [ -x node_modules/.bin/azurite-blob ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
test -x node_modules/.bin/azurite-blob
