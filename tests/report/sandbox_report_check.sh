#!/usr/bin/env bash
# The site report on the running sandbox (a step of `make staging`, or on its own after `make sandbox`):
#   1. playbooks/report.yml, testssl.sh on every TLS listener it found (testssl_listeners.sh: only TLS 1.3 offered),
#      the report again with those findings, then the page in headless Chromium with no network: one row per
#      inventory host, no red row, each inference_light host showing the revision its inventory pins;
#   2. one replica stopped (infer-l-02's model-serving) and one host's container stopped (train-d-02): the report is
#      written again once Alertmanager has TargetDown for the replica; the page shows that alert, the replica's row
#      failing and the stopped host's row red (unreachable) with the reason;
#   3. both are started again.
# Artifacts (pages, JSON, DOM, screenshots): .testbed/report/{healthy,degraded}/
source "$(dirname "$0")/../testbed/lib.sh"
cd "$TESTBED_ROOT"
export PATH="${TESTBED_VENV}/bin:${PATH}"
inv=(-i inventories/prod -i inventories/sandbox.yml)
out="${TESTBED_ROOT}/.testbed/report"
replica=infer-l-02.example.internal
stopped=train-d-02.example.internal
rm -rf "$out"
mkdir -p "$out"

mapfile -t hosts < <(ansible-inventory "${inv[@]}" --list | python3 -c '
import json, sys
data = json.load(sys.stdin)
print("\n".join(sorted(data["_meta"]["hostvars"])))')
container() { ansible-inventory "${inv[@]}" --host "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ansible_host"])'; }
revision() { ansible-inventory "${inv[@]}" --host "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["model_serving_model_revision"])'; }
mapfile -t inference < <(ansible-inventory "${inv[@]}" --graph inference_light | sed -n 's/^ *|--//p')

report() {  # report <folder> [ansible-playbook arguments]
  local name=$1
  shift
  ansible-playbook "${inv[@]}" playbooks/report.yml -e "deepseek_report_dir=${out}/${name}" "$@" >"${out}/${name}.log" 2>&1
}

# Wait (up to 5 minutes) until the replica's engine answers /health on the host's address.
wait_healthy() {
  docker exec "$(container "$1")" sh -c 'for i in $(seq 1 60); do
      python3 -c "import sys, urllib.request; urllib.request.urlopen(\"http://%s:8000/health\" % sys.argv[1], timeout=3)" \
        "$(hostname -I | cut -d" " -f1)" 2>/dev/null && exit 0; sleep 5; done; exit 1'
}

restore() {
  docker start "$(container "$stopped")" >/dev/null 2>&1 || true
  docker exec "$(container "$replica")" systemctl start model-serving >/dev/null 2>&1 || true
  wait_healthy "$replica" || log "report: ${replica} did not answer /health again within 5 minutes"
}
trap restore EXIT

for host in "${inference[@]}"; do
  wait_healthy "$host" || { log "report: ${host} does not answer /health before the test"; exit 1; }
done

log "report: healthy site (${#hosts[@]} hosts)"
# A first report names the TLS listeners; testssl.sh scans each of them; the healthy report then carries its findings.
report listeners || { tail -n 40 "${out}/listeners.log"; exit 1; }
bash tests/report/testssl_listeners.sh "${out}/listeners/site-report.json" "${out}/testssl" || exit 1
report healthy -e "report_testssl_dir=${out}/testssl" || { tail -n 40 "${out}/healthy.log"; exit 1; }
python3 - "${out}/healthy/site-report.json" "${out}/testssl" <<'PY' || exit 1
import glob, json, os, sys
report = json.load(open(sys.argv[1]))
scanned = {os.path.basename(p).rsplit('_', 1)[0] for p in glob.glob(os.path.join(sys.argv[2], '*.json'))}
missing = sorted(h['name'] for h in report['hosts'] if h['name'] in scanned and not (h.get('security') or {}).get('testssl'))
print('report: testssl findings shown for %d of %d scanned hosts' % (len(scanned) - len(missing), len(scanned)))
sys.exit(1 if missing or not scanned else 0)
PY
expect=(--expect-hosts "${#hosts[@]}")
for host in "${hosts[@]}"; do expect+=(--expect-status "${host}=ok|warn"); done
for host in "${inference[@]}"; do expect+=(--expect-revision "${host}=$(revision "$host")"); done
python3 tests/report/browser_check.py "${out}/healthy/site-report.html" "${out}/healthy" "${expect[@]}" || exit 1

log "report: stopping the replica of ${replica} and the container of ${stopped}"
docker exec "$(container "$replica")" systemctl stop model-serving || exit 1
docker stop "$(container "$stopped")" >/dev/null || exit 1
start=$(date +%s)
for attempt in 1 2 3 4 5 6 7 8; do
  sleep 20
  report degraded || { tail -n 40 "${out}/degraded.log"; exit 1; }
  if python3 - "${out}/degraded/site-report.json" "$replica" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
sys.exit(0 if any(a['name'] == 'TargetDown' and a.get('host') == sys.argv[2] for a in report['operations']['alerts'])
         else 1)
PY
  then
    log "report: TargetDown of ${replica} in the report $(( $(date +%s) - start )) s after the stop (attempt ${attempt})"
    break
  fi
done
address=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print([a["instance"] for a in r["operations"]["alerts"] if a["name"]=="TargetDown" and a.get("host")==sys.argv[2]][0])' "${out}/degraded/site-report.json" "$replica") || { log "report: no TargetDown for ${replica}"; exit 1; }
python3 tests/report/browser_check.py "${out}/degraded/site-report.html" "${out}/degraded" \
  --expect-hosts "${#hosts[@]}" --expect-status "${replica}=fail" --expect-status "${stopped}=unreachable" \
  --expect-alert "TargetDown@${address}" || exit 1
grep -o 'is not running[^<]*' "${out}/degraded/dom.html" | head -n 1
log "report: every check passed; screenshots in ${out#"${TESTBED_ROOT}"/}/{healthy,degraded}/site-report.png"
