#!/usr/bin/env bash
# Runs a throw-away OpenSSH SFTP server in the foreground on 127.0.0.1:PORT for the user that
# prepare.sh made under DIR. The process becomes sshd itself (exec), so its PID is sshd's;
# stop it with SIGTERM (its session processes are its children).
# Its command line names this folder (PidFile), so tests/run-tests.sh's leftover sweep finds it.
# Usage: start.sh DIR USER PORT [HOSTKEY_NAME [SFTP_SERVER_OPTIONS...]]
#   HOSTKEY_NAME: a file in DIR/hostkeys, default host_ed25519
#   SFTP_SERVER_OPTIONS: extra internal-sftp options, e.g. -P posix-rename to refuse that request
# Environment: SSHD_CONFIG_EXTRA, sshd_config lines appended to the config (e.g. "MaxStartups 3:100:3"
#   for a server that limits connections); none by default.
#   SSHD_SFTP_COMMAND, the command of the sftp Subsystem and of ForceCommand, for a server whose SFTP
#   does not start (e.g. /usr/lib/openssh/sftp-server, which the user's nologin shell refuses to run);
#   set but empty: no sftp Subsystem at all (ForceCommand stays internal-sftp). Default internal-sftp.
# Ready when 127.0.0.1:PORT answers with an SSH banner (ssh-keyscan -p PORT 127.0.0.1).
# Pin: ssh-keygen -lf DIR/hostkeys/HOSTKEY_NAME.pub
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$(realpath "$1")
user=$2
port=$3
hostkey=${4:-host_ed25519}
shift $(( $# < 4 ? $# : 4 ))
[ -x /usr/sbin/sshd ] || { echo "sshd is not installed: run tests/servers/sftp/install.sh" >&2; exit 1; }
[ -f "$dir/hostkeys/$hostkey" ] || { echo "no host key $dir/hostkeys/$hostkey: run prepare.sh first" >&2; exit 1; }

config="$dir/sshd-$port.conf"
sftp_command=${SSHD_SFTP_COMMAND-internal-sftp}
subsystem="Subsystem sftp ${sftp_command:-internal-sftp}"
[ -n "$sftp_command" ] || subsystem="# no sftp Subsystem"
cat > "$config" <<CONFIG
Port $port
ListenAddress 127.0.0.1
HostKey $dir/hostkeys/$hostkey
UsePAM no
PermitRootLogin no
PasswordAuthentication yes
PubkeyAuthentication yes
KbdInteractiveAuthentication no
AuthorizedKeysFile $dir/home/%u/.ssh/authorized_keys
StrictModes yes
AllowUsers $user
X11Forwarding no
AllowTcpForwarding no
$subsystem
ForceCommand ${sftp_command:-internal-sftp} $*
CONFIG
if [ -n "${SSHD_CONFIG_EXTRA:-}" ]; then printf '%s\n' "$SSHD_CONFIG_EXTRA" >> "$config"; fi

# Privilege separation directory; the distribution's service normally creates it.
mkdir -p /run/sshd "$here/.run"
chmod 755 /run/sshd
exec /usr/sbin/sshd -D -e -f "$config" -o "PidFile=$here/.run/sshd-$port.pid"
