#!/usr/bin/env bash
# Install Docker, debootstrap and zstd from Debian when missing, and start dockerd when no engine answers.
source "$(dirname "$0")/lib.sh"

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v zstd >/dev/null || need+=(zstd)
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# Each systemd container takes inotify instances; the kernel's default of 128 per user runs out
# with a score of test hosts ("Failed to create inotify object: Too many open files").
if [ "$(cat /proc/sys/fs/inotify/max_user_instances)" -lt 1024 ]; then
  sysctl -q -w fs.inotify.max_user_instances=1024 || log "could not raise fs.inotify.max_user_instances"
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi
log "starting dockerd"
mkdir -p /var/log/onprem-deepseek
nohup dockerd >/var/log/onprem-deepseek/dockerd.log 2>&1 &
echo $! >/run/onprem-deepseek-dockerd.pid
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && { log "dockerd ready"; exit 0; }
  sleep 1
done
log "dockerd did not start; see /var/log/onprem-deepseek/dockerd.log"
tail -n 20 /var/log/onprem-deepseek/dockerd.log >&2 || true
exit 1
