#!/bin/sh
# version.sh prints the version `make build` and `make deb` give the binary and the
# Debian package: 0.0~git<commit date>.<short hash> (digits first, as Debian policy
# wants; "~" sorts it before a release 0.0). Outside a checkout: 0.0~git<today>.unknown.
repo=$(cd "$(dirname "$0")/.." && pwd)
date=$(git -C "$repo" log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date -u +%Y%m%d)
hash=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "0.0~git$date.$hash"
