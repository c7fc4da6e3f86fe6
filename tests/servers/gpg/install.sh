#!/usr/bin/env bash
# Installs GnuPG for the OpenPGP encryption tests (they make keys and decrypt exports with the gpg CLI).
# Idempotent: does nothing when gpg and gpgconf are present. No service is started; each test runs its own keyring.
set -euo pipefail
if command -v gpg >/dev/null 2>&1 && command -v gpgconf >/dev/null 2>&1; then
  echo "gpg already installed: $(gpg --version | head -n 1)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends gnupg
echo "installed: $(gpg --version | head -n 1)"
