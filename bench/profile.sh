#!/usr/bin/env bash
# profile.sh [FRAMES] [sensor|raw]
#
# CPU of one receiver at the generator's maximum rate, and where it goes: a 1-queue veth
# pair (the sending end in a namespace this script creates and removes), trafgen sending
# FRAMES (default 2,000,000) 64-byte UDP frames of 256 flows from CPU0, the receiver
# pinned to CPU1 — `panoptes sensor` (default) or bench/rawxsk (`raw`, the raw AF_XDP
# consumer) — and its CPU ticks (user + system, /proc/PID/stat) over the send, printed as
# ns per frame. With PERF=1, `perf record -g` samples the receiver meanwhile into
# OUT/perf.data (`perf report -i OUT/perf.data --no-children --sort sym`). Needs root,
# trafgen (netsniff-ng) and, for PERF=1, perf.
#
# Environment: PANOPTES (a binary to profile instead of building one), OUT (where the
# outputs go, default a temporary directory that is kept), XDP_FLAGS (extra flags for
# either receiver), QUOTA (CFS quota in µs per 50 ms period: makes the receiver drain
# large batches, as in loss.sh's share phase).
#
# This is how the per-frame costs in RESULTS.md ("Latest run") were found; numbers from
# runs minutes apart differ by a fifth on this shared VM, so compare within one run.
set -euo pipefail
n=${1:-2000000} what=${2:-sensor}
case $n in '' | *[!0-9]* | 0) echo "profile.sh: FRAMES must be a positive integer" >&2; exit 2 ;; esac
case $what in sensor | raw) ;; *) echo "profile.sh: want sensor or raw, not $what" >&2; exit 2 ;; esac
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
if [ -n "${PANOPTES:-}" ]; then cp "$PANOPTES" "$out/panoptes"; else (cd "$repo" && go build -o "$out/panoptes" ./cmd/panoptes); fi
(cd "$repo" && go build -o "$out/rawxsk" ./bench/rawxsk)
ns=pnprof$$ c=pp$$c s=pp$$s rpid= ppid= cg=
cleanup() {
  [ -z "$ppid" ] || kill -INT "$ppid" 2>/dev/null || true
  if [ -n "$rpid" ]; then kill -INT "$rpid" 2>/dev/null || true; wait "$rpid" 2>/dev/null || true; fi
  ip link del "$c" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  [ -z "$cg" ] || rmdir "$cg" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"
ip link add "$c" numtxqueues 1 numrxqueues 1 address 02:00:00:00:01:0b type veth \
  peer name "$s" numtxqueues 1 numrxqueues 1 address 02:00:00:00:01:0a netns "$ns"
sysctl -qw net.ipv6.conf."$c".disable_ipv6=1
ip netns exec "$ns" sysctl -qw net.ipv6.conf."$s".disable_ipv6=1
ip link set "$c" up
ip -n "$ns" link set "$s" up
ip -n "$ns" addr add 10.209.1.1/24 dev "$s"
ip -n "$ns" neigh replace 10.209.1.2 lladdr 02:00:00:00:01:0b dev "$s" nud permanent
printf '{\n  eth(da=02:00:00:00:01:0b, sa=02:00:00:00:01:0a),\n  ipv4(sa=10.209.1.1, da=10.209.1.2, ttl=64),\n  udp(sp=dinc(10000, 10255), dp=9000),\n  fill(0x41, 18)\n}\n' >"$out/udp.cfg"
if [ "$what" = raw ]; then
  taskset -c 1 "$out/rawxsk" -i "$c" --queues 1 ${XDP_FLAGS:-} 2>"$out/err" &
else
  taskset -c 1 "$out/panoptes" sensor -i "$c" -w /dev/null --queues 1 ${XDP_FLAGS:-} 2>"$out/err" &
fi
rpid=$!
for _ in $(seq 100); do ip link show "$c" | grep -q ' xdp' && break; sleep 0.05; done
sleep 0.5
kill -0 "$rpid" 2>/dev/null || { cat "$out/err" >&2; exit 1; }
if [ -n "${QUOTA:-}" ]; then
  cg=/sys/fs/cgroup/cpu/pnprof$$
  mkdir -p "$cg"
  echo 50000 >"$cg/cpu.cfs_period_us"
  echo "$QUOTA" >"$cg/cpu.cfs_quota_us"
  echo "$rpid" >"$cg/cgroup.procs"
fi
cpu0=$(awk '{print $14 + $15}' "/proc/$rpid/stat")
if [ "${PERF:-0}" = 1 ]; then
  perf record -F 4999 -g -p "$rpid" -o "$out/perf.data" 2>/dev/null &
  ppid=$!
  sleep 0.3
fi
t0=$(date +%s%N)
ip netns exec "$ns" taskset -c 0 trafgen --no-sock-mem --qdisc-path -P1 -o "$s" -i "$out/udp.cfg" -n "$n" >"$out/trafgen.out" 2>&1
t1=$(date +%s%N)
sleep 0.3
cpu1=$(awk '{print $14 + $15}' "/proc/$rpid/stat")
if [ -n "$ppid" ]; then kill -INT "$ppid"; wait "$ppid" 2>/dev/null || true; ppid=; fi
kill -INT "$rpid"
wait "$rpid" || true
rpid=
hz=$(getconf CLK_TCK)
echo "$what: $n frames in $(((t1 - t0) / 1000000)) ms ($((n * 1000000000 / (t1 - t0))) frames/s), receiver CPU $((cpu1 - cpu0)) ticks = $(((cpu1 - cpu0) * 1000000000 / hz / n)) ns per frame; outputs in $out"
tail -3 "$out/err"
