#!/usr/bin/env bash
# OpenSCAP (SCAP Security Guide, ANSSI BP-028) and lynis on the pair of bench/lynis_compare.sh: two fresh
# containers of the same Debian 12 systemd image, "bare" as it is and "ours" converged with
# onprem.deepseek.base_os (defaults). Each container is audited by lynis first, then scanned per profile by
# playbooks/compliance.yml (the compliance role: openscap-scanner from the image's mirror, the Debian 12 data
# stream from the offline folder that tests/testbed/scap_content.sh caches).
# Output, one line per profile, then the lynis line last:
#   openscap profile=<profile> bare_pass=P/N ours_pass=P/N      (N: applicable rules, P: passing)
#   lynis bare=N ours=N
#
# Environment: those of bench/lynis_compare.sh, and
#   BENCH_PROFILES    profiles to scan (default "anssi_bp28_intermediary anssi_bp28_enhanced")
set -euo pipefail
# shellcheck source=bench/lynis_compare.sh
source "$(dirname "${BASH_SOURCE[0]}")/lynis_compare.sh"

profiles=${BENCH_PROFILES:-anssi_bp28_intermediary anssi_bp28_enhanced}

scan_profiles() {  # inventory -> one compliance run per profile; reports under $work/reports/<profile>
  local profile
  for profile in $profiles; do
    echo "scanning bare and ours with ${profile}"
    ansible_playbook "$1" playbooks/compliance.yml -e "compliance_profile=${profile}" \
      -e "compliance_report_dir=$work/reports/${profile}" >"$work/scan-${profile}.log" 2>&1 || {
      tail -40 "$work/scan-${profile}.log"; echo "compliance run failed (${profile})" >&2; exit 1; }
  done
}

summary() {  # profile host pass|failing -> "P/N" (passing/applicable), or the failing rule IDs, of its summary.yml
  "$venv/bin/python" - "$work/reports/$1/latest/$2/summary.yml" "$3" <<'PY'
import sys
import yaml
with open(sys.argv[1], encoding="utf-8") as f:
    s = yaml.safe_load(f)
if s.get("status") != "scanned":
    sys.exit("%s was not scanned: %s" % (s.get("host"), s.get("reason")))
print("%d/%d" % (s["counts"]["pass"], s["applicable"]) if sys.argv[2] == "pass" else "\n".join(s["failing"]))
PY
}

main() {
  local content bare_name ours_name profile id
  bench_init openscap_compare
  content=$(bash "$repo/tests/testbed/scap_content.sh" | tail -n 1)
  start_pair openscap_compare
  bare_name=$(container_name "$bare")
  ours_name=$(container_name "$ours")
  # lynis first (ours converged with base_os), as bench/lynis_compare.sh does.
  lynis_pair

  # Both hosts get the same offline folder (the data stream only) and are scanned by the compliance role.
  for id in "$bare" "$ours"; do
    docker exec "$id" mkdir -p /srv/offline/scap
    docker cp "$content/ssg-debian12-ds.xml" "$id:/srv/offline/scap/ssg-debian12-ds.xml"
  done
  cat >"$work/scan-inventory.yml" <<INV
all:
  vars:
    ansible_connection: community.docker.docker
    compliance_offline_package_dir: /srv/offline/scap
  hosts:
    ${bare_name}: {}
    ${ours_name}: {}
INV
  scan_profiles "$work/scan-inventory.yml"

  print_lynis_findings
  for profile in $profiles; do
    echo "--- ${profile}: rules failing on ours:"
    summary "$profile" "$ours_name" failing
  done
  for profile in $profiles; do
    echo "openscap profile=${profile} bare_pass=$(summary "$profile" "$bare_name" pass)" \
      "ours_pass=$(summary "$profile" "$ours_name" pass)"
  done
  echo "lynis bare=${bare_index} ours=${ours_index}"
}

main "$@"
