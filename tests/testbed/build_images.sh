#!/usr/bin/env bash
# Build the local systemd base images (Debian 12 and 13) the scenarios and the sandbox run on.
# A zstd tarball of each rootfs is cached under $TESTBED_CACHE/images, so a rebuild takes seconds.
source "$(dirname "$0")/lib.sh"

# tag suite
IMAGES=("debian12-systemd bookworm" "debian13-systemd trixie")
# iproute2: Ansible reads a host's addresses and default route with `ip` (every server has it).
PACKAGES="systemd,systemd-sysv,python3,python3-apt,sudo,dbus,ca-certificates,iproute2"
# A change of the package list gives new cache names, so a stale tarball or image is never reused.
PACKAGES_ID=$(printf '%s' "$PACKAGES" | sha256sum | cut -c1-12)

build_one() {
  local name=$1 suite=$2
  local tag="local/${name}:latest" tarball="${TESTBED_CACHE}/images/${name}-${PACKAGES_ID}.tar.zst"
  if [ "$(docker image inspect -f '{{ index .Config.Labels "onprem.deepseek.packages" }}' "$tag" 2>/dev/null)" = "$PACKAGES_ID" ]; then
    return 0
  fi
  if [ ! -s "$tarball" ]; then
    local mirror security rootfs
    mirror=$(debian_mirror)
    security=$(debian_security_mirror)
    [ -n "$mirror" ] || { log "no Debian mirror found in this machine's apt configuration; set ONPREM_DEBIAN_MIRROR"; return 1; }
    rootfs=$(mktemp -d "${TESTBED_CACHE}/rootfs.XXXXXX")
    log "debootstrap ${suite} into ${rootfs}"
    debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$rootfs" "$mirror" >"${rootfs}.log" 2>&1 \
      || { tail -n 30 "${rootfs}.log" >&2; rm -rf "$rootfs"; return 1; }
    {
      echo "deb ${mirror} ${suite} main"
      echo "deb ${mirror} ${suite}-updates main"
      [ -n "$security" ] && echo "deb ${security} ${suite}-security main"
    } >"${rootfs}/etc/apt/sources.list"
    # Hosts of the test bed are reached with the docker connection; no getty on a console.
    rm -f "${rootfs}"/etc/systemd/system/getty.target.wants/* "${rootfs}/etc/machine-id"
    touch "${rootfs}/etc/machine-id"
    echo 'APT::Keep-Downloaded-Packages "true";' >"${rootfs}/etc/apt/apt.conf.d/10keep-downloads"
    rm -f "${rootfs}/etc/apt/apt.conf.d/docker-clean"
    tar -C "$rootfs" --numeric-owner -c . | zstd -q -T0 -o "${tarball}.tmp"
    mv "${tarball}.tmp" "$tarball"
    rm -rf "$rootfs" "${rootfs}.log"
  fi
  log "importing ${tag}"
  zstd -dc "$tarball" | docker import -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' \
    -c "LABEL onprem.deepseek.packages=${PACKAGES_ID}" - "$tag" >/dev/null
}

mkdir -p "${TESTBED_CACHE}/images" "${TESTBED_CACHE}/apt"
pids=()
for spec in "${IMAGES[@]}"; do
  # shellcheck disable=SC2086
  build_one $spec &
  pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
exit $rc
