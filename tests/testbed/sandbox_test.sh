#!/usr/bin/env bash
# The sandbox as a test (a step of `make test`): deploy inventories/prod with the sandbox overlay onto local
# containers, then prove the end state:
#   1. site.yml from nothing (rc 0), an API key, a chat completion through the gateway;
#   2. a second site.yml: changed=0 on every host;
#   3. site.yml --check --diff: nothing to change on any host;
#   4. the end-state checks (tests/testbed/staging_verify.yml) and the behaviour checks (sandbox_verify.yml);
#   5. the site report in headless Chromium, healthy and with a replica and a host stopped (tests/report/).
# The sandbox is removed at the end unless ONPREM_SANDBOX_KEEP=1. Logs: .testbed/logs/sandbox-*.log
source "$(dirname "$0")/lib.sh"
cd "$TESTBED_ROOT"
export PATH="${TESTBED_VENV}/bin:${PATH}"
inv=(-i inventories/prod -i inventories/sandbox.yml)
logs="${TESTBED_ROOT}/.testbed/logs"
mkdir -p "$logs"

step() {
  local name=$1; shift
  local start rc
  start=$(date +%s)
  log "sandbox: ${name}"
  "$@" >"${logs}/sandbox-${name}.log" 2>&1
  rc=$?
  log "sandbox: ${name} rc=${rc} in $(( $(date +%s) - start ))s"
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "${logs}/sandbox-${name}.log" >&2
  fi
  return "$rc"
}

# "host : ok=N changed=N ..." lines of the play recap: every host must show changed=0 failed=0 unreachable=0.
assert_no_change() {
  local name=$1 log="${logs}/sandbox-$1.log" bad
  bad=$(awk '/^PLAY RECAP/ {r=1; next} r && /ok=/ {if ($0 !~ /changed=0 / || $0 !~ /unreachable=0 / || $0 !~ /failed=0 /) print}' "$log")
  if [ -n "$bad" ] || ! grep -q '^PLAY RECAP' "$log"; then
    log "sandbox: ${name} changed something (or failed):"
    echo "$bad" >&2
    return 1
  fi
  log "sandbox: ${name}: changed=0 on $(awk '/^PLAY RECAP/ {r=1; next} r && /ok=/' "$log" | wc -l) hosts"
}

cleanup() {
  if [ "${ONPREM_SANDBOX_KEEP:-0}" != 1 ]; then
    step down ansible-playbook "${inv[@]}" tests/testbed/sandbox_down.yml || true
    rm -rf .sandbox
  fi
}
trap cleanup EXIT

set +e
step image ansible-playbook tests/testbed/build_site_image.yml || exit 1
step prepare ansible-playbook "${inv[@]}" tests/testbed/sandbox_prepare.yml || exit 1
step up ansible-playbook "${inv[@]}" tests/testbed/sandbox_up.yml || exit 1
step site-first ansible-playbook "${inv[@]}" site.yml || exit 1
step api-key ansible-playbook "${inv[@]}" tests/testbed/sandbox_api_key.yml || exit 1
step chat ansible-playbook "${inv[@]}" tests/testbed/sandbox_chat.yml || exit 1
grep -o 'Chat completion served through the gateway[^"]*' "${logs}/sandbox-chat.log" | head -n 1
step site-second ansible-playbook "${inv[@]}" site.yml || exit 1
assert_no_change site-second || exit 1
step site-check ansible-playbook "${inv[@]}" site.yml --check --diff || exit 1
assert_no_change site-check || exit 1
step staging-verify ansible-playbook "${inv[@]}" tests/testbed/staging_verify.yml || exit 1
step sandbox-verify ansible-playbook "${inv[@]}" tests/testbed/sandbox_verify.yml || exit 1
step report bash tests/report/sandbox_report_check.sh || exit 1
log "sandbox: every step passed"
