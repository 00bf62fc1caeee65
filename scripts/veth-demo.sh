#!/usr/bin/env bash
# veth-demo.sh PANOPTES CAPTURE... : the live demo behind `make run`.
# Creates a network namespace with one end of a 4-queue veth pair (the other end, the
# capture port, stays here), starts `panoptes sensor` on the capture end, replays the
# captures into the namespace end with tcpreplay, stops the sensor, prints the flows and
# removes what it created. Needs root, iproute2 and tcpreplay.
set -euo pipefail
bin=${1:?usage: veth-demo.sh PANOPTES CAPTURE...}
shift
[ $# -gt 0 ] || { echo "veth-demo: no capture to replay" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "veth-demo: needs root (XDP and network namespaces)" >&2; exit 2; }
for t in ip tcpreplay; do
  command -v $t >/dev/null || { echo "veth-demo: needs $t (apt-get install -y iproute2 tcpreplay)" >&2; exit 2; }
done
ns=pnpdemo$$
cap=pnpcap$$
send=pnpsnd$$
out=$(mktemp -d)
cleanup() {
  [ -n "${spid:-}" ] && kill -INT "$spid" 2>/dev/null && wait "$spid" 2>/dev/null || true
  ip link del "$cap" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT
ip netns add "$ns"
ip link add "$cap" numtxqueues 4 numrxqueues 4 type veth peer name "$send" numtxqueues 4 numrxqueues 4 netns "$ns"
# Captures hold frames larger than 1500 bytes (taken before segmentation offload); 3500
# is the largest MTU veth allows with native XDP.
ip link set "$cap" mtu 3500 up
ip -n "$ns" link set "$send" mtu 3500 up
ip netns exec "$ns" sysctl -qw net.ipv6.conf."$send".disable_ipv6=1
sysctl -qw net.ipv6.conf."$cap".disable_ipv6=1
echo "== capturing on $cap (4 RX queues); replaying $* from namespace $ns"
"$bin" sensor -i "$cap" -w "$out/flows.pnp" --status-interval 60s --frame-size 4096 --umem-frames 4096 --ring-size 2048 &
spid=$!
# Wait for the program to be attached (the sensor binds its sockets right after).
for _ in $(seq 50); do
  ip link show "$cap" | grep -q xdp && break
  kill -0 "$spid" 2>/dev/null || break
  sleep 0.1
done
sleep 0.3
# One replay per capture, so that one tcpreplay cannot send (it sends Ethernet frames
# only: a raw-IP capture is refused) is said and does not hide the others.
for f in "$@"; do
  if log=$(ip netns exec "$ns" tcpreplay -q --topspeed -i "$send" "$f" 2>&1); then
    echo "   $f: $(sed -n 's/^Actual: \([0-9]*\) packets.*/\1/p' <<<"$log") packets sent"
  else
    why=$(grep -m1 -i unable <<<"$log" || grep -m1 -i error <<<"$log" || tail -1 <<<"$log")
    echo "veth-demo: tcpreplay could not send $f (skipped): ${why# }" >&2
  fi
done
sleep 1
kill -INT "$spid" 2>/dev/null || true
rc=0
wait "$spid" || rc=$?
spid=
[ "$rc" = 0 ] || { echo "veth-demo: the sensor failed (exit $rc)" >&2; exit "$rc"; }
echo
"$bin" read -r "$out/flows.pnp" -s stime,dur,proto,saddr,sport,dir,daddr,dport,spkts,dpkts,sbytes,dbytes,state,clock,inf
