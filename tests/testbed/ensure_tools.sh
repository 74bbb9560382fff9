#!/usr/bin/env bash
# Controller-side tools the unit tests need, unpacked from Debian's packages into the test bed
# cache without installing them (installing `prometheus` would start a server on this machine):
#   promtool (package prometheus) -> $TESTBED_CACHE/bin/promtool
# and installs the site report's checkers from the machine's apt sources: chromium (headless, the page's DOM and
# screenshot), tidy (HTML validation) and testssl.sh (the sandbox's TLS listeners). None starts a service.
source "$(dirname "$0")/lib.sh"

if ! command -v chromium >/dev/null || ! command -v tidy >/dev/null || ! command -v testssl >/dev/null; then
  log "installing chromium, tidy and testssl.sh (the site report's checks)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends chromium tidy fonts-dejavu-core testssl.sh >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null; apt-get install -y -q --no-install-recommends chromium tidy fonts-dejavu-core testssl.sh >/dev/null; }
fi

bin="${TESTBED_CACHE}/bin"
mkdir -p "$bin"
if command -v promtool >/dev/null || [ -x "${bin}/promtool" ]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "unpacking promtool from Debian's prometheus package"
(cd "$work" && apt-get download -q prometheus >/dev/null 2>&1) || { apt-get update -q >/dev/null; (cd "$work" && apt-get download -q prometheus >/dev/null); }
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
install -m 0755 "$work/root/usr/bin/promtool" "${bin}/promtool"
