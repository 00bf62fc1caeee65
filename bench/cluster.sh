#!/usr/bin/env bash
# cluster.sh TRACE [RUNS]
#
# Whole-process comparison of `panoptes cluster` / `read` with racluster / ra on the
# same flows, and the peak memory of `panoptes cluster` for 10 million distinct keys.
#
# Build the shared benchmark trace first (about 3 M packets, 1.3 GB; keep it out of the
# repository):
#   mkdir -p /work/bench-data && /work/shared/bench/make-trace.sh /work/bench-data/trace.pcap
# then:
#   bench/cluster.sh /work/bench-data/trace.pcap [RUNS]
#
# Builds bin/panoptes, makes both tools' records of TRACE once (argus -r, panoptes
# import; kept in DATA, default /work/bench-data/cluster, and reused while newer than
# TRACE), then runs RUNS times (default 5), every series interleaved in the same loop
# with the order rotating each run:
#   racluster-sd   racluster -r a.argus -m saddr daddr - tcp
#   panoptes-sd    panoptes cluster -r p.pnp -m saddr,daddr -- tcp
#   racluster-5t   racluster -r a.argus                        (default 5-tuple key)
#   panoptes-5t    panoptes cluster -r p.pnp
#   ra-filter      ra -r a.argus - 'tcp and dst port 443 and src pkts gt 5'
#   read-filter    panoptes read -r p.pnp -- 'tcp and dst port 443 and src pkts gt 5'
# Output goes to /dev/null (printed, as a user would run them). Each process is timed
# whole with /usr/bin/time -f '%e %M %U %S' (elapsed s, peak RSS KB, user and system CPU).
# Then, once: a synthetic stream of 10 M records with 10 M distinct source addresses
# (made with panoptes convert from generated CSV) is clustered with -m saddr and with the
# default 5-tuple, and peak RSS reported.
#
# Prints every run, then medians, records/s (input records / median elapsed) and the
# ratio racluster/panoptes per pair.
set -euo pipefail

trace=${1:?usage: cluster.sh TRACE [RUNS]  (build TRACE with /work/shared/bench/make-trace.sh TRACE)}
runs=${2:-5}
[ -r "$trace" ] || { echo "cluster.sh: cannot read $trace; build it with: /work/shared/bench/make-trace.sh $trace" >&2; exit 2; }
case $runs in '' | *[!0-9]* | 0) echo "cluster.sh: RUNS must be a positive integer" >&2; exit 2 ;; esac
[ -x /usr/bin/time ] || { echo "cluster.sh: needs /usr/bin/time (apt-get install -y time)" >&2; exit 2; }
for t in argus ra racluster racount go; do
  command -v "$t" >/dev/null || { echo "cluster.sh: needs $t" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
(cd "$repo" && go build -o bin/panoptes ./cmd/panoptes)
pnp="$repo/bin/panoptes"
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
data=${DATA:-/work/bench-data/cluster}
mkdir -p "$data"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -s "$data/a.argus" ] || [ "$trace" -nt "$data/a.argus" ]; then
  rm -f "$data/a.argus"
  argus -r "$trace" -w "$data/a.argus"
fi
if [ ! -s "$data/p.pnp" ] || [ "$trace" -nt "$data/p.pnp" ]; then
  "$pnp" import -r "$trace" -w "$data/p.pnp"
fi
arecs=$(racount -r "$data/a.argus" | awk 'NR==2 {print $2 - 1}') # racount counts one too many
precs=$("$pnp" count -r "$data/p.pnp" | awk 'NR==2 {print $2}')

filter='tcp and dst port 443 and src pkts gt 5'
series=(racluster-sd panoptes-sd racluster-5t panoptes-5t ra-filter read-filter)
runone() {
  local s=$1
  case $s in
    racluster-sd) /usr/bin/time -f '%e %M %U %S' -o "$tmp/t" racluster -r "$data/a.argus" -m saddr daddr - tcp ;;
    panoptes-sd) /usr/bin/time -f '%e %M %U %S' -o "$tmp/t" "$pnp" cluster -r "$data/p.pnp" -m saddr,daddr -- tcp ;;
    racluster-5t) /usr/bin/time -f '%e %M %U %S' -o "$tmp/t" racluster -r "$data/a.argus" ;;
    panoptes-5t) /usr/bin/time -f '%e %M %U %S' -o "$tmp/t" "$pnp" cluster -r "$data/p.pnp" ;;
    ra-filter) /usr/bin/time -f '%e %M %U %S' -o "$tmp/t" ra -r "$data/a.argus" - "$filter" ;;
    read-filter) /usr/bin/time -f '%e %M %U %S' -o "$tmp/t" "$pnp" read -r "$data/p.pnp" -- "$filter" ;;
  esac >/dev/null
  tail -n 1 "$tmp/t" >>"$tmp/$s.times"
}

for s in "${series[@]}"; do : >"$tmp/$s.times"; done
echo "# panoptes $rev; trace $trace; argus records $arecs, panoptes records $precs; $runs runs; nproc $(nproc)"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# run series elapsed_s peak_rss_kb user_s sys_s"
n=${#series[@]}
for r in $(seq 1 "$runs"); do
  for k in $(seq 0 $((n - 1))); do
    s=${series[$(((r - 1 + k) % n))]}
    runone "$s"
    echo "$r $s $(tail -n 1 "$tmp/$s.times")"
  done
done

med() { sort -g | awk '{a[NR]=$1} END {m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; print m}'; }
echo
echo "# medians of $runs runs; records/s = input records / median elapsed; ratio = argus tool median / panoptes median"
printf '%-14s %10s %12s %12s %10s %8s\n' series median_s records/s rss_med_KB cpu_med_s ratio
for s in "${series[@]}"; do
  m=$(awk '{print $1}' "$tmp/$s.times" | med)
  rss=$(awk '{print $2}' "$tmp/$s.times" | med | awk '{printf "%d", $1}')
  cpu=$(awk '{printf "%.2f\n", $3 + $4}' "$tmp/$s.times" | med)
  case $s in r*) recs=$arecs ;; *) recs=$precs ;; esac
  rps=$(awk -v n="$recs" -v m="$m" 'BEGIN {printf "%.0f", n / m}')
  ratio=-
  case $s in
    panoptes-sd) ratio=$(awk -v a="$(awk '{print $1}' "$tmp/racluster-sd.times" | med)" -v m="$m" 'BEGIN {printf "%.2f", a / m}') ;;
    panoptes-5t) ratio=$(awk -v a="$(awk '{print $1}' "$tmp/racluster-5t.times" | med)" -v m="$m" 'BEGIN {printf "%.2f", a / m}') ;;
    read-filter) ratio=$(awk -v a="$(awk '{print $1}' "$tmp/ra-filter.times" | med)" -v m="$m" 'BEGIN {printf "%.2f", a / m}') ;;
  esac
  printf '%-14s %10s %12s %12s %10s %8s\n' "$s" "$m" "$rps" "$rss" "$cpu" "$ratio"
done

# Peak memory for 10 M distinct keys.
keys=${KEYS:-10000000}
synth="$data/distinct-$keys.pnp"
if [ ! -s "$synth" ]; then
  awk -v n="$keys" 'BEGIN {
    print "StartTime,Proto,SrcAddr,Sport,DstAddr,Dport,SrcPkts,DstPkts,SrcBytes,DstBytes"
    for (i = 0; i < n; i++)
      printf "%d.%06d,udp,10.%d.%d.%d,%d,192.0.2.1,53,1,1,80,120\n", 1767225600 + int(i / 1000), i % 1000000,
        int(i / 65536) % 256, int(i / 256) % 256, i % 256, 1024 + i % 60000
  }' | "$pnp" convert -r - -w "$synth"
fi
echo
echo "# $keys records with $keys distinct source addresses ($synth)"
printf '%-40s %10s %12s\n' command elapsed_s peak_rss_KB
for m in saddr default; do
  if [ "$m" = default ]; then
    /usr/bin/time -f '%e %M' -o "$tmp/t" "$pnp" cluster -r "$synth" -N 1 >/dev/null
  else
    /usr/bin/time -f '%e %M' -o "$tmp/t" "$pnp" cluster -r "$synth" -m "$m" -N 1 >/dev/null
  fi
  read -r e rss <"$tmp/t"
  printf '%-40s %10s %12s\n' "panoptes cluster -m $m" "$e" "$rss"
done
