#!/usr/bin/env bash
# The test command: installs the test servers' packages, builds, runs every test project and prints
# "N passed, N failed" with the real totals. The xunit fixtures start the servers (127.0.0.1, free ports)
# and stop them; a trap stops any that a crashed test host left behind.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 POWERSHELL_TELEMETRY_OPTOUT=1

results="$repo/tests/TestResults"
rm -rf "$results"

stop_leftovers() {
  # Servers the fixtures start run from tests/servers; none should outlive the test run.
  pkill -f "$repo/tests/servers/" 2>/dev/null || true
  # Nor the sshfs mounts of StateOnNetworkFileSystemTests (a test host killed before its Dispose).
  awk '$3 == "fuse.sshfs" && $2 ~ /de-state-network/ { print $2 }' /proc/mounts | xargs -r -n1 fusermount -u -z 2>/dev/null || true
}
trap stop_leftovers EXIT

for installer in tests/servers/*/install.sh; do
  [ -f "$installer" ] || continue
  echo "== installing test servers: $installer"
  bash "$installer" || { echo "0 passed, 1 failed"; echo "installing $installer failed" >&2; exit 1; }
done

echo "== building"
if ! dotnet build DatasetExport.sln -c Debug; then
  echo "0 passed, 1 failed"
  exit 1
fi

echo "== testing"
dotnet test DatasetExport.sln --no-build -c Debug --logger "trx" --results-directory "$results" "$@"
test_exit=$?

read -r passed failed < <(python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
passed = failed = 0
for path in glob.glob(sys.argv[1] + "/*.trx"):
    counters = ET.parse(path).getroot().find(".//{*}Counters")
    passed += int(counters.get("passed", 0))
    failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0)) + int(counters.get("aborted", 0))
print(passed, failed)
PY
)
projects=$(ls tests/*/*.Tests.csproj | wc -l)
reports=$(ls "$results"/*.trx 2>/dev/null | wc -l)
if [ "$reports" -lt "$projects" ]; then
  echo "only $reports of $projects test projects reported results (a test host crashed)" >&2
  failed=$((failed + projects - reports))
fi
if [ "$test_exit" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
