#!/usr/bin/env bash
# Compare lynis hardening indexes on two fresh containers of the same Debian 12 systemd image:
#   bare: only lynis and procps installed;  ours: onprem.deepseek.base_os with its defaults.
# Last line of output: "lynis bare=N ours=N".
#
# Runs from a plain shell: the Ansible tools come from the project's own venv (make venv collection-link), or
# from ONPREM_VENV. bench/openscap_compare.sh sources this file for its functions and adds the OpenSCAP scans.
#
# Environment:
#   BENCH_IMAGE       image to test (default local/debian12-systemd:latest)
#   BENCH_NET_SYSCTL  1 (default): make the container's network-namespace sysctls writable, as they are on
#                     a real host (Docker mounts /proc/sys read-only; kernel.*/fs.*/vm.* stay read-only,
#                     they belong to the machine). 0: leave /proc/sys as Docker mounts it.
#   ONPREM_VENV       the venv holding ansible-playbook (default: the project's .venv)
# The only variable set on top of the role defaults is base_os_chrony_servers=[] (the test bed sends no
# traffic outside the machine). Containers are labelled and removed by the IDs this script created.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${BENCH_IMAGE:-local/debian12-systemd:latest}
net_sysctl=${BENCH_NET_SYSCTL:-1}
venv=${ONPREM_VENV:-$repo/.venv}
cache=${ONPREM_TESTBED_CACHE:-/var/cache/onprem-deepseek}/apt/$(basename "${image%%:*}")
work=""
ids=()
bare="" ours="" bare_index="" ours_index=""

bench_init() {  # name of the bench -> sets work (a folder removed at exit) and checks the tools
  if [ ! -x "$venv/bin/ansible-playbook" ]; then
    echo "no ansible-playbook in $venv: run 'make venv collection-link' in $repo (or set ONPREM_VENV)" >&2
    exit 1
  fi
  if [ ! -e "$repo/.ansible/collections/ansible_collections/onprem/deepseek" ]; then
    echo "the collection link is missing: run 'make collection-link' in $repo" >&2
    exit 1
  fi
  work=$(mktemp -d "${ONPREM_TESTBED_CACHE:-/var/cache/onprem-deepseek}/$1.XXXXXX")
  trap cleanup EXIT
}

cleanup() {
  local id
  for id in "${ids[@]}"; do docker rm -f "$id" >/dev/null 2>&1 || true; done
  if [ -n "$work" ]; then rm -rf "$work"; fi
}

start_container() {  # name label -> prints the container ID
  # Each container gets its own copy of the shared apt archive: apt locks its archive folder, and two
  # containers (or a molecule run) on one folder fail with "Could not get lock".
  mkdir -p "$work/apt-$1"
  cp -a "$cache/." "$work/apt-$1/" 2>/dev/null || true
  docker run -d --name "$1" --hostname "$1" \
    --label owner=bench --label "onprem.deepseek.bench=$2" \
    --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /tmp \
    -v "$work/apt-$1:/var/cache/apt/archives" \
    --stop-signal SIGRTMIN+3 "$image" /lib/systemd/systemd
}

start_pair() {  # label -> sets bare and ours (container IDs), both booted
  local id state
  mkdir -p "$cache/partial"
  bare=$(start_container "base_os-bench-bare-$$" "$1"); ids+=("$bare")
  ours=$(start_container "base_os-bench-ours-$$" "$1"); ids+=("$ours")
  for id in "$bare" "$ours"; do  # wait for systemd (its bus appears a moment after the start)
    for _ in $(seq 60); do
      state=$(docker exec "$id" systemctl is-system-running --wait 2>/dev/null || true)
      case "$state" in running|degraded) break ;; esac
      sleep 2
    done
  done
  if [ "$net_sysctl" = 1 ]; then
    docker exec "$ours" bash -c 'mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net'
  fi
}

container_name() {  # id -> its name
  local name
  name=$(docker inspect -f '{{.Name}}' "$1")
  echo "${name#/}"
}

ansible_playbook() {  # inventory playbook [args...]: the project's ansible-playbook on the docker connection
  local inventory=$1 playbook=$2
  shift 2
  ( cd "$repo" && ANSIBLE_PIPELINING=True ANSIBLE_CONFIG="$repo/ansible.cfg" \
      ANSIBLE_COLLECTIONS_PATH="$repo/.ansible/collections" \
      "$venv/bin/ansible-playbook" -i "$inventory" "$playbook" "$@" )
}

converge_ours() {  # converge the "ours" container with base_os (defaults)
  local ours_name
  ours_name=$(container_name "$ours")
  cat >"$work/inventory.yml" <<INV
all:
  hosts:
    ${ours_name}:
      ansible_connection: community.docker.docker
      base_os_chrony_servers: []
INV
  echo "converging ${ours_name} with onprem.deepseek.base_os (defaults)"
  ansible_playbook "$work/inventory.yml" playbooks/base_os.yml >"$work/converge.log" 2>&1 || {
    tail -40 "$work/converge.log"; echo "converge failed (log: $work/converge.log)" >&2; exit 1; }
  grep -A12 'Summarise the run' "$work/converge.log" | sed -n '/skipped/,$p' | head -12 || true
}

install_lynis() {  # id
  docker exec "$1" bash -c 'export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends lynis procps >/dev/null'
}

audit() {  # id -> prints the hardening index
  docker exec "$1" lynis audit system --quick --no-colors >"$work/$1.lynis.txt" 2>&1 || true
  docker exec "$1" cat /var/log/lynis-report.dat >"$work/$1.report.dat"
  grep -E '^(suggestion|warning)\[\]=' "$work/$1.report.dat" | cut -d'|' -f1-3 >"$work/$1.findings" || true
  sed -n 's/^hardening_index=//p' "$work/$1.report.dat"
}

print_lynis_findings() {  # the lynis findings left on ours
  echo "--- lynis findings left on ours (bare had $(wc -l <"$work/$bare.findings"), ours has $(wc -l <"$work/$ours.findings")):"
  cat "$work/$ours.findings"
}

lynis_pair() {  # converge ours with base_os and audit both -> sets bare_index and ours_index
  local bare_job
  # The bare container is audited while base_os converges the other one.
  ( install_lynis "$bare" && audit "$bare" >"$work/bare.index" ) >"$work/bare.log" 2>&1 &
  bare_job=$!
  converge_ours
  install_lynis "$ours"
  ours_index=$(audit "$ours")
  wait "$bare_job" || { cat "$work/bare.log"; exit 1; }
  bare_index=$(cat "$work/bare.index")
}

main() {
  bench_init lynis_compare
  start_pair lynis_compare
  lynis_pair
  print_lynis_findings
  echo "lynis bare=${bare_index} ours=${ours_index}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
