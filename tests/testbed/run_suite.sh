#!/usr/bin/env bash
# Run the named steps of the test suite, keep going after a failure, print a summary table and
# exit non-zero when any step failed. Steps: lint sanity units molecule:<scenario> ... sandbox
# Logs: .testbed/logs/<step>.log
source "$(dirname "$0")/lib.sh"
cd "$TESTBED_ROOT"
set +e
export PATH="${TESTBED_VENV}/bin:${PATH}:${TESTBED_CACHE}/bin"
export ONPREM_TESTBED=1
export ANSIBLE_CONFIG="${TESTBED_ROOT}/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="${TESTBED_ROOT}/.ansible/collections"
export PYTHONPATH="${TESTBED_ROOT}/.ansible/collections${PYTHONPATH:+:${PYTHONPATH}}"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1

logs="${TESTBED_ROOT}/.testbed/logs"
mkdir -p "$logs"
results=()
failed=0

run_step() {
  local step=$1 log="${logs}/${1//:/_}.log" start rc
  start=$(date +%s)
  log "step ${step} (log: ${log#"${TESTBED_ROOT}"/})"
  case "$step" in
    lint) ansible-lint --offline -q >"$log" 2>&1 ;;
    sanity) bash tests/testbed/sanity.sh >"$log" 2>&1 ;;
    units) python -m pytest -q -p no:cacheprovider tests/unit >"$log" 2>&1 ;;
    molecule:*) molecule test -s "${step#molecule:}" >"$log" 2>&1 ;;
    sandbox) bash tests/testbed/sandbox_test.sh >"$log" 2>&1 ;;
    *) echo "unknown step ${step}" >"$log"; false ;;
  esac
  rc=$?
  local secs=$(( $(date +%s) - start ))
  if [ "$rc" -eq 0 ]; then
    results+=("$(printf '%-28s %-6s %5ss' "$step" PASS "$secs")")
  else
    failed=$((failed + 1))
    results+=("$(printf '%-28s %-6s %5ss  (exit %s, see %s)' "$step" FAIL "$secs" "$rc" "${log#"${TESTBED_ROOT}"/}")")
    log "step ${step} FAILED; last lines of its log:"
    tail -n 40 "$log" >&2
  fi
  # The sandbox's own step lines (time and outcome of each deployment and check).
  [ "$step" = sandbox ] && grep -E '^\[testbed .*sandbox: |Chat completion served' "$log" || true
  # Keep the passing lines of the test runners visible in the overall output.
  grep -E '^(=+ .*(passed|failed).* =+|[0-9]+ passed.*)$' "$log" | tail -n 1 || true
}

suite_start=$(date +%s)
for step in "$@"; do
  run_step "$step"
done

echo
echo "==================== onprem.deepseek test summary ===================="
printf '%s\n' "${results[@]}"
total=${#results[@]}
echo "----------------------------------------------------------------------"
echo "wall time: $(( $(date +%s) - suite_start ))s"
# The closing line, in the plain form CI reads: "<word>: N passed, N failed".
echo "suite: $((total - failed)) passed, ${failed} failed"
[ "$failed" -eq 0 ]
