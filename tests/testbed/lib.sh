#!/usr/bin/env bash
# Shared helpers of the test bed scripts. Sourced, not run.
set -euo pipefail

TESTBED_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TESTBED_CACHE="${ONPREM_TESTBED_CACHE:-/var/cache/onprem-deepseek}"
TESTBED_VENV="${ONPREM_VENV:-${TESTBED_ROOT}/.venv}"

log() { printf '[testbed %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# The Debian mirror this machine's apt already uses (never written into the project).
# Override with ONPREM_DEBIAN_MIRROR / ONPREM_DEBIAN_SECURITY_MIRROR.
apt_uris() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] && awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$f"
  done
  [ -r /etc/apt/sources.list ] && awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' /etc/apt/sources.list
  return 0
}

debian_mirror() {
  if [ -n "${ONPREM_DEBIAN_MIRROR:-}" ]; then echo "${ONPREM_DEBIAN_MIRROR}"; return; fi
  apt_uris | grep -v -- '-security' | head -n 1
}

debian_security_mirror() {
  if [ -n "${ONPREM_DEBIAN_SECURITY_MIRROR:-}" ]; then echo "${ONPREM_DEBIAN_SECURITY_MIRROR}"; return; fi
  apt_uris | grep -- '-security' | head -n 1
}
