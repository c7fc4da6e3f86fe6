#!/usr/bin/env bash
# Removes the user prepare.sh made (the caller stops sshd first and deletes DIR), and users the test
# fixture made in earlier runs that crashed before cleaning up: named desftp + 8 hex digits, home gone.
# Usage: cleanup.sh USER
set -euo pipefail
user=$1
if id -u "$user" >/dev/null 2>&1; then
  userdel "$user"
fi
getent passwd | while IFS=: read -r name _ _ _ _ home _; do
  if [[ $name =~ ^desftp[0-9a-f]{8}$ ]] && [ ! -d "$home" ]; then
    userdel "$name" || true
  fi
done
