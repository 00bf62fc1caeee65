#!/usr/bin/env bash
# build-deb.sh: builds dist/panoptes_VERSION_ARCH.deb from the working tree (`make deb`).
#
# Contents: /usr/bin/panoptes, its man pages (make man) and bash, zsh and fish
# completions, the systemd units panoptes-sensor.service and panoptes-relay.service (not
# enabled), /etc/panoptes/sensor.conf and relay.conf (conffiles: local edits survive
# upgrades), a udev rule that
# lets group panoptes read the NICs' PTP clocks (/dev/ptpN), the README. The postinst
# creates the system group and user panoptes and gives sensor.conf and relay.conf to
# root:panoptes 0640. Needs go and dpkg-deb; no root (the files' owner is set to root in the archive
# with --root-owner-group; the group comes from dpkg-statoverride at install).
#
# Environment: VERSION (default: packaging/version.sh's 0.0~git<commit date>.<short
# hash>), DIST (output directory, default dist/), GOARCH (default: the host's),
# MAINTAINER and HOMEPAGE (the control file's; defaults below).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
dist=${DIST:-$repo/dist}
arch=${GOARCH:-$(go env GOARCH)}
VERSION=${VERSION:-$("$here/version.sh")}
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || true)
# The project has no public home yet: example.org (reserved, RFC 2606) marks the
# address and page as placeholders to replace, rather than someone else's domain.
MAINTAINER=${MAINTAINER:-Panoptes maintainers <panoptes@panoptes.example.org>}
HOMEPAGE=${HOMEPAGE:-https://panoptes.example.org/}
# The changelog's and man pages' date: the commit's (reproducible), else now.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
case $VERSION in [0-9]*) ;; *) echo "build-deb.sh: VERSION must start with a digit (Debian policy): $VERSION" >&2; exit 2 ;; esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
doc=$root/usr/share/doc/panoptes
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/lib/udev/rules.d" "$root/etc/panoptes" "$doc" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" "$root/usr/share/fish/vendor_completions.d" \
  "$root/usr/share/lintian/overrides"

# The version and revision as `make build` sets them (see internal/buildinfo).
ldflags="-s -w -X panoptes/internal/buildinfo.version=$VERSION -X panoptes/internal/buildinfo.revision=$revision"
(cd "$repo" && CGO_ENABLED=0 GOARCH=$arch go build -trimpath -ldflags "$ldflags" -o "$root/usr/bin/panoptes" ./cmd/panoptes)
# Man pages and completions come from the binary (the text of --help); one built for
# another architecture cannot run here, so a host build writes them.
gen=$root/usr/bin/panoptes
if [ "$arch" != "$(go env GOHOSTARCH)" ]; then
  gen=$stage/panoptes-host
  (cd "$repo" && go build -ldflags "$ldflags" -o "$gen" ./cmd/panoptes)
fi
"$gen" __man "$root/usr/share/man"
gzip -9n "$root"/usr/share/man/man*/*
"$gen" completion bash >"$root/usr/share/bash-completion/completions/panoptes"
"$gen" completion zsh >"$root/usr/share/zsh/vendor-completions/_panoptes"
"$gen" completion fish >"$root/usr/share/fish/vendor_completions.d/panoptes.fish"
chmod 0644 "$root"/usr/share/man/man*/* "$root/usr/share/bash-completion/completions/panoptes" \
  "$root/usr/share/zsh/vendor-completions/_panoptes" "$root/usr/share/fish/vendor_completions.d/panoptes.fish"
install -m 0644 "$here/panoptes-sensor.service" "$root/lib/systemd/system/panoptes-sensor.service"
install -m 0644 "$here/panoptes-relay.service" "$root/lib/systemd/system/panoptes-relay.service"
# 0640: they may hold secrets; the postinst's statoverride makes their group panoptes,
# which the services (User=panoptes) read them through.
install -m 0640 "$here/sensor.conf" "$root/etc/panoptes/sensor.conf"
install -m 0640 "$here/relay.conf" "$root/etc/panoptes/relay.conf"
# /dev/ptpN is root's alone (0600) by default; the sensor reads the NIC's clock to put
# hardware timestamps on the wall clock (the unit's DeviceAllow=char-ptp r). Read access
# is what clock_gettime needs; setting the clock needs write access.
cat >"$root/lib/udev/rules.d/60-panoptes-ptp.rules" <<'RULES'
# Panoptes: the sensor (user panoptes) reads the NICs' PTP hardware clocks.
SUBSYSTEM=="ptp", GROUP="panoptes", MODE="0640"
RULES
chmod 0644 "$root/lib/udev/rules.d/60-panoptes-ptp.rules"
install -m 0644 "$repo/README.md" "$doc/README.md"

# Debian policy 12.5: the copyright file, machine-readable (DEP-5).
cat >"$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: panoptes
Upstream-Contact: $MAINTAINER
Source: $HOMEPAGE

Files: *
Copyright: $(date -u -d "@$SOURCE_DATE_EPOCH" +%Y) Panoptes maintainers
License: other
 No licence has been granted yet: all rights are reserved by the Panoptes
 maintainers until the project publishes one.
Comment: /usr/bin/panoptes is a static Go binary that includes the Go modules
 listed in the project's go.mod (\`go version -m /usr/bin/panoptes\` names them and
 their versions), each under its own licence, found in the module's source.
COPYRIGHT
chmod 0644 "$doc/copyright"
# Policy 12.7: a native package's changelog, compressed.
cat >"$stage/changelog" <<CHANGELOG
panoptes ($VERSION) unstable; urgency=medium

  * Built from commit ${revision:-unknown}.

 -- $MAINTAINER  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
CHANGELOG
gzip -9nc "$stage/changelog" >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
# Go links statically, by design (CGO_ENABLED=0: one binary for any glibc).
echo "panoptes: statically-linked-binary [usr/bin/panoptes]" >"$root/usr/share/lintian/overrides/panoptes"
chmod 0644 "$root/usr/share/lintian/overrides/panoptes"

cat >"$root/DEBIAN/control" <<CONTROL
Package: panoptes
Version: $VERSION
Architecture: $arch
Maintainer: $MAINTAINER
Section: net
Priority: optional
Depends: adduser
Recommends: systemd
Installed-Size: $(du -sk "$root" | cut -f1)
Homepage: $HOMEPAGE
Description: network audit sensor: packets to bidirectional flow records
 Panoptes turns packets (live, with XDP/AF_XDP or AF_PACKET, or from pcap files)
 into bidirectional flow records, as Argus does, and reads, filters and
 aggregates them with Argus-compatible tools (panoptes read, cluster, ...).
 The panoptes-sensor service captures with the capabilities it needs only;
 the panoptes-relay service archives a fleet's records from NATS JetStream.
CONTROL
printf '%s\n' /etc/panoptes/sensor.conf /etc/panoptes/relay.conf >"$root/DEBIAN/conffiles"

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
  # sensor.conf and relay.conf may hold secrets: root:panoptes 0640. An override dpkg
  # keeps applies on every upgrade; an administrator's own override is left alone.
  for conf in /etc/panoptes/sensor.conf /etc/panoptes/relay.conf; do
    if ! dpkg-statoverride --list "$conf" >/dev/null 2>&1; then
      dpkg-statoverride --update --add root panoptes 0640 "$conf"
    fi
  done
  # The udev rule gives existing /dev/ptpN to the group created above.
  if [ -e /run/udev/control ] && command -v udevadm >/dev/null; then
    udevadm trigger --subsystem-match=ptp --action=change >/dev/null 2>&1 || true
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
  fi
  echo "panoptes: set 'interface' in /etc/panoptes/sensor.conf, then: systemctl enable --now panoptes-sensor"
  echo "panoptes: for an archive host, set an input in /etc/panoptes/relay.conf, then: systemctl enable --now panoptes-relay"
fi
exit 0
POSTINST
cat >"$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop panoptes-sensor.service panoptes-relay.service >/dev/null 2>&1 || true
fi
exit 0
PRERM
cat >"$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  # Before the group may go: dpkg refuses to run with an override naming a lost group.
  for conf in /etc/panoptes/sensor.conf /etc/panoptes/relay.conf; do
    if dpkg-statoverride --list "$conf" >/dev/null 2>&1; then
      dpkg-statoverride --remove "$conf" >/dev/null 2>&1 || true
    fi
  done
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
