#!/usr/bin/env bash
# Cache the SCAP content of the test bed: the offline folder an operator would point
# compliance_offline_package_dir at. Debian 12's own ssg-debian holds Debian 10/11 content only; the Debian 12
# data stream comes from Debian 13's ssg-debian, fetched with `apt-get download` in a throw-away container of
# the local Debian 13 image (its apt sources are the mirror the image was built from).
# The folder ends up holding the package and the data stream extracted from it:
#   ${ONPREM_TESTBED_CACHE:-/var/cache/onprem-deepseek}/scap/ssg-debian_<version>_all.deb
#   ${ONPREM_TESTBED_CACHE:-/var/cache/onprem-deepseek}/scap/ssg-debian12-ds.xml
# A second run checks the package's checksum and changes nothing. Prints the folder on its last line.
source "$(dirname "$0")/lib.sh"

version=0.1.76-1
sha256=f6880719015c16e8e221bc2503c0e5a9f83d6a09fc6f9292d3522e46bf4fc9d7
image=${ONPREM_SCAP_IMAGE:-local/debian13-systemd:latest}
dest="${TESTBED_CACHE}/scap"
deb="${dest}/ssg-debian_${version}_all.deb"
datastream="${dest}/ssg-debian12-ds.xml"

mkdir -p "$dest"
if [ ! -f "$deb" ] || ! echo "${sha256}  ${deb}" | sha256sum --check --status; then
  log "downloading ssg-debian ${version} in a container of ${image}"
  work=$(mktemp -d "${dest}/download.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  chmod 0777 "$work"  # apt downloads as its _apt user
  docker run --rm --label owner=testbed --label onprem.deepseek.testbed=scap_content \
    -v "${work}:/out" -w /out "$image" \
    bash -c "apt-get update -qq && apt-get download -q ssg-debian=${version}" >&2
  if ! echo "${sha256}  ${work}/ssg-debian_${version}_all.deb" | sha256sum --check --status; then
    log "ssg-debian_${version}_all.deb does not have the expected sha256 ${sha256}"
    exit 1
  fi
  mv "${work}/ssg-debian_${version}_all.deb" "$deb"
  chown "$(id -u):$(id -g)" "$deb"
  rm -f "$datastream"
fi

if [ ! -s "$datastream" ]; then
  log "extracting ssg-debian12-ds.xml"
  extract=$(mktemp -d "${dest}/extract.XXXXXX")
  dpkg-deb -x "$deb" "$extract"
  install -m 0644 "${extract}/usr/share/xml/scap/ssg/content/ssg-debian12-ds.xml" "$datastream.tmp"
  mv "$datastream.tmp" "$datastream"
  rm -rf "$extract"
fi
chmod 0755 "$dest"
chmod 0644 "$deb" "$datastream"
echo "$dest"
