#!/usr/bin/env bash
# Compare lynis hardening indexes on two fresh containers of the same Debian 12 systemd image:
#   bare: only lynis and procps installed;  ours: onprem.deepseek.base_os with its defaults.
# Last line of output: "lynis bare=N ours=N".
#
# Environment:
#   BENCH_IMAGE       image to test (default local/debian12-systemd:latest)
#   BENCH_NET_SYSCTL  1 (default): make the container's network-namespace sysctls writable, as they are on
#                     a real host (Docker mounts /proc/sys read-only; kernel.*/fs.*/vm.* stay read-only,
#                     they belong to the machine). 0: leave /proc/sys as Docker mounts it.
# The only variable set on top of the role defaults is base_os_chrony_servers=[] (the test bed sends no
# traffic outside the machine). Containers are labelled and removed by the IDs this script created.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
image=${BENCH_IMAGE:-local/debian12-systemd:latest}
net_sysctl=${BENCH_NET_SYSCTL:-1}
cache=${ONPREM_TESTBED_CACHE:-/var/cache/onprem-deepseek}/apt/$(basename "${image%%:*}")
work=$(mktemp -d "${ONPREM_TESTBED_CACHE:-/var/cache/onprem-deepseek}/lynis_compare.XXXXXX")
ids=()

cleanup() {
  local id
  for id in "${ids[@]}"; do docker rm -f "$id" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

start_container() {  # name -> prints the container ID
  # Each container gets its own copy of the shared apt archive: apt locks its archive folder, and two
  # containers (or a molecule run) on one folder fail with "Could not get lock".
  mkdir -p "$work/apt-$1"
  cp -a "$cache/." "$work/apt-$1/" 2>/dev/null || true
  docker run -d --name "$1" --hostname "$1" \
    --label owner=bench --label onprem.deepseek.bench=lynis_compare \
    --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /tmp \
    -v "$work/apt-$1:/var/cache/apt/archives" \
    --stop-signal SIGRTMIN+3 "$image" /lib/systemd/systemd
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

mkdir -p "$cache/partial"
suffix=$$
bare=$(start_container "base_os-bench-bare-$suffix"); ids+=("$bare")
ours=$(start_container "base_os-bench-ours-$suffix"); ids+=("$ours")
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

# The bare container is audited while base_os converges the other one.
( install_lynis "$bare" && audit "$bare" >"$work/bare.index" ) >"$work/bare.log" 2>&1 &
bare_job=$!

ours_name=$(docker inspect -f '{{.Name}}' "$ours"); ours_name=${ours_name#/}
cat >"$work/inventory.yml" <<INV
all:
  hosts:
    ${ours_name}:
      ansible_connection: community.docker.docker
      base_os_chrony_servers: []
INV
echo "converging ${ours_name} with onprem.deepseek.base_os (defaults)"
( cd "$repo" && ANSIBLE_PIPELINING=True ANSIBLE_CONFIG="$repo/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$repo/.ansible/collections" \
    ansible-playbook -i "$work/inventory.yml" playbooks/base_os.yml >"$work/converge.log" 2>&1 ) || {
  tail -40 "$work/converge.log"; echo "converge failed" >&2; exit 1; }
grep -A12 'Summarise the run' "$work/converge.log" | sed -n '/skipped/,$p' | head -12 || true
install_lynis "$ours"
ours_index=$(audit "$ours")

wait "$bare_job" || { cat "$work/bare.log"; exit 1; }
bare_index=$(cat "$work/bare.index")

echo "--- lynis findings left on ours (bare had $(wc -l <"$work/$bare.findings"), ours has $(wc -l <"$work/$ours.findings")):"
cat "$work/$ours.findings"
echo "lynis bare=${bare_index} ours=${ours_index}"
