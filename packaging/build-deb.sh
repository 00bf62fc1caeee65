#!/usr/bin/env bash
# build-deb.sh: builds dist/panoptes_VERSION_ARCH.deb from the working tree (`make deb`).
#
# Contents: /usr/bin/panoptes, the systemd unit panoptes-sensor.service (not enabled),
# /etc/panoptes/sensor.conf (a conffile: local edits survive upgrades), a udev rule that
# lets group panoptes read the NICs' PTP clocks (/dev/ptpN), the README. The postinst
# creates the system group and user panoptes and gives sensor.conf to root:panoptes
# 0640. Needs go and dpkg-deb; no root (the files' owner is set to root in the archive
# with --root-owner-group; the group comes from dpkg-statoverride at install).
#
# Environment: VERSION (default: 0.0~git<commit date>.<short hash>), DIST (output
# directory, default dist/), GOARCH (default: the host's).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
dist=${DIST:-$repo/dist}
arch=${GOARCH:-$(go env GOARCH)}
if [ -z "${VERSION:-}" ]; then
  VERSION="0.0~git$(git -C "$repo" log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date +%Y%m%d).$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
fi
case $VERSION in [0-9]*) ;; *) echo "build-deb.sh: VERSION must start with a digit (Debian policy): $VERSION" >&2; exit 2 ;; esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/lib/udev/rules.d" "$root/etc/panoptes" "$root/usr/share/doc/panoptes"

(cd "$repo" && CGO_ENABLED=0 GOARCH=$arch go build -trimpath -ldflags "-s -w" -o "$root/usr/bin/panoptes" ./cmd/panoptes)
install -m 0644 "$here/panoptes-sensor.service" "$root/lib/systemd/system/panoptes-sensor.service"
# 0640: it may hold secrets; the postinst's statoverride makes its group panoptes, which
# the service (User=panoptes) reads it through.
install -m 0640 "$here/sensor.conf" "$root/etc/panoptes/sensor.conf"
# /dev/ptpN is root's alone (0600) by default; the sensor reads the NIC's clock to put
# hardware timestamps on the wall clock (the unit's DeviceAllow=char-ptp r). Read access
# is what clock_gettime needs; setting the clock needs write access.
cat >"$root/lib/udev/rules.d/60-panoptes-ptp.rules" <<'RULES'
# Panoptes: the sensor (user panoptes) reads the NICs' PTP hardware clocks.
SUBSYSTEM=="ptp", GROUP="panoptes", MODE="0640"
RULES
chmod 0644 "$root/lib/udev/rules.d/60-panoptes-ptp.rules"
install -m 0644 "$repo/README.md" "$root/usr/share/doc/panoptes/README.md"

cat >"$root/DEBIAN/control" <<CONTROL
Package: panoptes
Version: $VERSION
Architecture: $arch
Maintainer: Panoptes developers <panoptes@localhost>
Section: net
Priority: optional
Depends: adduser, libc6
Recommends: systemd
Installed-Size: $(du -sk "$root" | cut -f1)
Homepage: https://openargus.org
Description: network audit sensor: packets to bidirectional flow records
 Panoptes turns packets (live, with XDP/AF_XDP or AF_PACKET, or from pcap files)
 into bidirectional flow records, as Argus does, and reads, filters and
 aggregates them with Argus-compatible tools (panoptes read, cluster, ...).
 The panoptes-sensor service captures with the capabilities it needs only.
CONTROL
echo /etc/panoptes/sensor.conf >"$root/DEBIAN/conffiles"

cat >"$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  # The group is the service's and the record socket's (/run/panoptes/records.sock,
  # 0660): operators join it to read records live; it may exist without the user.
  if ! getent group panoptes >/dev/null; then
    addgroup --system panoptes >/dev/null
  fi
  if ! getent passwd panoptes >/dev/null; then
    adduser --system --ingroup panoptes --home /var/lib/panoptes --no-create-home --gecos "Panoptes sensor" panoptes >/dev/null
  fi
  # sensor.conf may hold secrets: root:panoptes 0640. An override dpkg keeps applies on
  # every upgrade; an administrator's own override is left alone.
  if ! dpkg-statoverride --list /etc/panoptes/sensor.conf >/dev/null 2>&1; then
    dpkg-statoverride --update --add root panoptes 0640 /etc/panoptes/sensor.conf
  fi
  # The udev rule gives existing /dev/ptpN to the group created above.
  if [ -e /run/udev/control ] && command -v udevadm >/dev/null; then
    udevadm trigger --subsystem-match=ptp --action=change >/dev/null 2>&1 || true
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
  fi
  echo "panoptes: set 'interface' in /etc/panoptes/sensor.conf, then: systemctl enable --now panoptes-sensor"
fi
exit 0
POSTINST
cat >"$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop panoptes-sensor.service >/dev/null 2>&1 || true
fi
exit 0
PRERM
cat >"$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  # Before the group may go: dpkg refuses to run with an override naming a lost group.
  if dpkg-statoverride --list /etc/panoptes/sensor.conf >/dev/null 2>&1; then
    dpkg-statoverride --remove /etc/panoptes/sensor.conf >/dev/null 2>&1 || true
  fi
  # The archive in /var/lib/panoptes is data: it is kept; the user goes.
  if getent passwd panoptes >/dev/null && command -v deluser >/dev/null; then
    deluser --system panoptes >/dev/null 2>&1 || true
  fi
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
POSTRM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

mkdir -p "$dist"
out=$dist/panoptes_${VERSION}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
