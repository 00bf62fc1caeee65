#!/usr/bin/env bash
# argus-readtime.sh TRACE [RUNS]
#
# How long argus takes to read a capture, apart from its wait before exiting. argus -r
# does not exit when it has read the file: it exits on a one-second tick, so its elapsed
# time is rounded up to a whole number of seconds (1.00 s for a one-packet capture, 3.00 or
# 4.00 s for the benchmark trace). This script polls /proc/PID/io every 5 ms (POLL=seconds to change) and notes
# when the process has read as many bytes as the file holds ("read done"), and when it
# exits. panoptes import (default workers) runs under the same polling, interleaved, for
# comparison; it exits as soon as it has written its records.
#
# Build the trace first (keep it out of the repository):
#   mkdir -p /work/bench-data && /work/shared/bench/make-trace.sh /work/bench-data/trace.pcap
# then: bench/argus-readtime.sh /work/bench-data/trace.pcap [RUNS]   (RUNS default 5)
#
# "read done" slightly flatters argus: it leaves out argus's final flush of the flow
# table, which panoptes's exit time includes.
set -euo pipefail
trace=${1:?usage: argus-readtime.sh TRACE [RUNS]}
runs=${2:-5}
[ -r "$trace" ] || { echo "argus-readtime.sh: cannot read $trace; build it with /work/shared/bench/make-trace.sh" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
make -s -C "$repo" build >&2
pnp="$repo/bin/panoptes"
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$repo" status --porcelain -- . ':!bench' 2>/dev/null)" ] || rev="$rev+uncommitted changes"
size=$(stat -c %s "$trace")
pkts=$(capinfos -c -M "$trace" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat "$trace" >/dev/null
exec {sfd}<> <(:) # a pipe nobody writes: read -t on it is a sleep without a fork
poll=${POLL:-0.005} # seconds between polls

# measure CMD... -> prints "read_done_s exit_s". Polls with shell builtins only (no fork
# per poll) and stops polling once the whole file has been read, to disturb the measured
# process as little as possible.
measure() {
  local t0 t1 tr="" pid k v st
  t0=$EPOCHREALTIME
  "$@" &
  pid=$!
  while [ -z "$tr" ]; do
    { while read -r k v; do
        if [ "$k" = rchar: ] && [ "$v" -ge "$size" ]; then tr=$EPOCHREALTIME; fi
      done <"/proc/$pid/io"; } 2>/dev/null || break
    st=""
    { read -r st <"/proc/$pid/stat"; } 2>/dev/null || break
    st=${st##*) }
    [ "${st:0:1}" = Z ] && break # exited (a zombie until waited for)
    [ -n "$tr" ] || read -r -t "$poll" -u "$sfd" || true
  done
  wait "$pid"
  t1=$EPOCHREALTIME
  [ -n "$tr" ] || tr=$t1
  awk -v a="$t0" -v r="$tr" -v e="$t1" 'BEGIN {printf "%.3f %.3f\n", r - a, e - a}'
}

echo "# panoptes $rev; $trace: $pkts packets, $size bytes; $runs runs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# run tool read_done_s exit_s"
: >"$dir/argus"
: >"$dir/panoptes"
for r in $(seq 1 "$runs"); do
  rm -f "$dir/x.argus" "$dir/x.pnp"
  m=$(measure argus -r "$trace" -w "$dir/x.argus")
  echo "$r argus $m"
  echo "$m" >>"$dir/argus"
  m=$(measure "$pnp" import -r "$trace" -w "$dir/x.pnp")
  echo "$r panoptes $m"
  echo "$m" >>"$dir/panoptes"
done
med() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ar=$(awk '{print $1}' "$dir/argus" | med)
ae=$(awk '{print $2}' "$dir/argus" | med)
pe=$(awk '{print $2}' "$dir/panoptes" | med)
echo
echo "# medians"
echo "argus read done     $ar s  ($(awk -v p="$pkts" -v t="$ar" 'BEGIN {printf "%.0f", p / t}') pkts/s)"
echo "argus exit          $ae s  (wait after reading: $(awk -v a="$ar" -v e="$ae" 'BEGIN {printf "%.3f", e - a}') s)"
echo "panoptes exit       $pe s  ($(awk -v p="$pkts" -v t="$pe" 'BEGIN {printf "%.0f", p / t}') pkts/s)"
echo "ratio argus read done / panoptes exit: $(awk -v a="$ar" -v p="$pe" 'BEGIN {printf "%.2f", a / p}')"
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
