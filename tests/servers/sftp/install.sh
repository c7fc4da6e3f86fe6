#!/usr/bin/env bash
# Installs OpenSSH's sshd for the SFTP integration tests, and sshfs, which mounts that server's folder as a network
# file system (StateOnNetworkFileSystemTests). Idempotent: does nothing when both are present.
# The system service is not started; the tests run their own sshd on a free 127.0.0.1 port.
set -euo pipefail
if [ -x /usr/sbin/sshd ] && command -v sshfs >/dev/null 2>&1; then
  echo "sshd already installed: $(/usr/sbin/sshd -V 2>&1 | head -n 1); $(sshfs --version 2>&1 | grep -i "^sshfs" | head -n 1)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends openssh-server sshfs
# Debian's postinst may try to start the service; make sure nothing listens on port 22.
if command -v service >/dev/null 2>&1; then service ssh stop >/dev/null 2>&1 || true; fi
echo "installed: $(/usr/sbin/sshd -V 2>&1 | head -n 1)"
