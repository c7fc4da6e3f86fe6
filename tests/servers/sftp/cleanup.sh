#!/usr/bin/env bash
# Removes the user prepare.sh made (the caller stops sshd first and deletes DIR).
# Usage: cleanup.sh USER
set -euo pipefail
user=$1
if id -u "$user" >/dev/null 2>&1; then
  userdel "$user"
fi
