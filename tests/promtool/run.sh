#!/usr/bin/env bash
# Run the promtool unit tests of the monitoring role's alert rules (rendered with the role's defaults):
# deepseek_rules_test.yml must pass, deepseek_rules_wrong_test.yml must FAIL (proves a wrong
# expectation is caught). promtool comes from Debian's `prometheus` package, installed when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null
  else
    echo "promtool not found and cannot be installed (needs root and apt-get)" >&2
    exit 2
  fi
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$python" "$here/render_rules.py" "$work/deepseek.rules.yml"
cp "$here"/deepseek_rules_test.yml "$here"/deepseek_rules_wrong_test.yml "$work/"
cd "$work"
promtool check rules deepseek.rules.yml
promtool test rules deepseek_rules_test.yml
if promtool test rules deepseek_rules_wrong_test.yml >wrong.log 2>&1; then
  echo "promtool accepted a deliberately wrong expectation" >&2
  exit 1
fi
grep -q FAILED wrong.log
echo "negative check: promtool rejected the wrong expectation as intended"
