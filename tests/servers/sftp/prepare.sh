#!/usr/bin/env bash
# Prepares everything a throw-away OpenSSH SFTP server needs, under DIR (run as root):
#   - a local user USER whose home is DIR/home/USER (password read from stdin, one line)
#   - client keys in DIR/keys: RSA (OpenSSH and PEM), ECDSA, Ed25519, and passphrase-protected
#     Ed25519 (OpenSSH) and RSA (PEM); the passphrase comes from $KEY_PASSPHRASE
#   - their public keys in the user's authorized_keys
#   - two Ed25519 host keys in DIR/hostkeys (host_ed25519, host_ed25519_rekeyed), to test a changed key
#   - DIR/home/USER/readonly: a folder the user cannot write to
# Usage: printf '%s\n' "$PASSWORD" | KEY_PASSPHRASE=... prepare.sh DIR USER
# Start the server with start.sh, remove the user with cleanup.sh.
set -euo pipefail
dir=$(realpath "$1")
user=$2
: "${KEY_PASSPHRASE:?set KEY_PASSPHRASE}"
IFS= read -r password

[ -x /usr/sbin/sshd ] || { echo "sshd is not installed: run tests/servers/sftp/install.sh" >&2; exit 1; }

home="$dir/home/$user"
mkdir -p "$dir/keys" "$dir/hostkeys" "$home/.ssh" "$home/readonly"
# The user walks down to its home: every folder above it must be searchable.
chmod 755 "$dir" "$dir/home"

if ! id -u "$user" >/dev/null 2>&1; then
  useradd -M -d "$home" -s /usr/sbin/nologin "$user"
fi
printf '%s:%s\n' "$user" "$password" | chpasswd

generate() { # file type [ssh-keygen options...]
  local file=$1 type=$2; shift 2
  [ -f "$file" ] || ssh-keygen -q -t "$type" -C "$(basename "$file")" -f "$file" "$@"
}
generate "$dir/hostkeys/host_ed25519" ed25519 -N ''
generate "$dir/hostkeys/host_ed25519_rekeyed" ed25519 -N ''
generate "$dir/keys/id_rsa" rsa -b 3072 -N ''
generate "$dir/keys/id_rsa_pem" rsa -b 2048 -m PEM -N ''
generate "$dir/keys/id_ecdsa" ecdsa -b 256 -N ''
generate "$dir/keys/id_ed25519" ed25519 -N ''
generate "$dir/keys/id_ed25519_protected" ed25519 -N "$KEY_PASSPHRASE"
generate "$dir/keys/id_rsa_pem_protected" rsa -b 2048 -m PEM -N "$KEY_PASSPHRASE"
chmod 600 "$dir"/keys/id_* "$dir"/hostkeys/host_*

cat "$dir"/keys/*.pub > "$home/.ssh/authorized_keys"
chown -R "$user:" "$home"
chown root: "$home/readonly"
chmod 755 "$home" "$home/readonly"
chmod 700 "$home/.ssh"
chmod 600 "$home/.ssh/authorized_keys"
