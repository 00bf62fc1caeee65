#!/usr/bin/env bash
# archread.sh DIR [RUNS]
#
# Full-scan reads of an archive (issue #14, "parallel, allocation-free block reads"):
# `count -R` and `read -R -- host X` on an archive of the shared trace imported three
# times (source ids 1-3, 1.65 M records), against the same 1.65 M records as one stream
# file (-r) and against nfdump on nfpcapd files of the trace (three copies, 2.07 M flows).
# Each series runs RUNS times (default 5), the order rotating each round, every process
# timed whole by /usr/bin/time (elapsed, user, system); the medians are printed at the end.
#
# DIR (outside the repository) receives: arch/ (panoptes import --srcid 1..3), trace3.pnp
# (the archive read out whole with -w), nf3/{1,2,3}/ (nfpcapd -r TRACE -l, copied), and
# the runs (runs.txt). Built once; delete DIR to rebuild. Environment: TRACE (default
# /work/bench-data/trace.pcap, from /work/shared/bench/make-trace.sh), BEFORE (a second
# panoptes binary to compare against, e.g. built from an older commit; optional), HOST
# (the rare address, default 1.101.111.5: 12 records, 0.0007% of the archive), MISS (an
# address in no record, default 10.1.1.1, the issue's). Needs nfdump/nfpcapd (apt-get
# install -y nfdump) for the nfdump series, /usr/bin/time (apt-get install -y time).
set -euo pipefail
dir=${1:?usage: archread.sh DIR [RUNS]}
runs=${2:-5}
trace=${TRACE:-/work/bench-data/trace.pcap}
host=${HOST:-1.101.111.5}
miss=${MISS:-10.1.1.1}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
dir=$(realpath -m "$dir")
case $dir/ in "$repo"/* | / | //) echo "archread.sh: DIR must be outside the repository and not /" >&2; exit 2 ;; esac
mkdir -p "$dir"
pnp=$dir/panoptes
(cd "$repo" && go build -o "$pnp" ./cmd/panoptes)
if [ ! -d "$dir/arch" ]; then
  for i in 1 2 3; do "$pnp" import -q -r "$trace" -w "$dir/arch/" --srcid "$i"; done
fi
[ -f "$dir/trace3.pnp" ] || "$pnp" read -R "$dir/arch" -w "$dir/trace3.pnp"
havenf=0
if command -v nfpcapd >/dev/null && command -v nfdump >/dev/null; then
  havenf=1
  if [ ! -d "$dir/nf3" ]; then
    mkdir -p "$dir/nf"
    nfpcapd -r "$trace" -l "$dir/nf" >/dev/null 2>&1
    for i in 1 2 3; do mkdir -p "$dir/nf3"; cp -r "$dir/nf" "$dir/nf3/$i"; done
  fi
fi

cmd() {
  local bin=$pnp
  case $1 in before-*) bin=$BEFORE ;; esac
  case $1 in
  *count-R) echo "$bin count -R $dir/arch" ;;
  *host-R) echo "$bin read -R $dir/arch -- host $host" ;;
  *miss-R) echo "$bin read -R $dir/arch -- host $miss" ;;
  count-r) echo "$pnp count -r $dir/trace3.pnp" ;;
  host-r) echo "$pnp read -r $dir/trace3.pnp -- host $host" ;;
  miss-r) echo "$pnp read -r $dir/trace3.pnp -- host $miss" ;;
  nfdump-proto) echo "nfdump -R $dir/nf3 -q -s proto/flows" ;;
  nfdump-host) echo "nfdump -R $dir/nf3 -q host $host" ;;
  nfdump-miss) echo "nfdump -R $dir/nf3 -q host $miss" ;;
  esac
}
series=(count-R host-R miss-R count-r host-r miss-r)
[ -n "${BEFORE:-}" ] && series+=(before-count-R before-host-R before-miss-R)
[ "$havenf" = 1 ] && series+=(nfdump-proto nfdump-host nfdump-miss)
cat "$dir"/trace3.pnp >/dev/null
find "$dir/arch" -type f -exec cat {} + >/dev/null
out=$dir/runs.txt
echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC') panoptes $(git -C "$repo" rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)" >"$out"
for r in $(seq 1 "$runs"); do
  n=${#series[@]}
  for k in $(seq 0 $((n - 1))); do
    s=${series[$(((r - 1 + k) % n))]}
    # shellcheck disable=SC2046
    /usr/bin/time -f '%e %U %S %M' -o "$dir/t" $(cmd "$s") >"$dir/o" 2>/dev/null || true
    echo "$r $s $(cat "$dir/t" | tail -n 1) $(wc -l <"$dir/o")" >>"$out"
  done
done
echo "# load at end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"
med() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
printf '%-16s %8s %8s %8s %8s %s\n' series elapsed_s cpu_s user_s rss_kb lines
for s in "${series[@]}"; do
  sel=$(awk -v s="$s" '$2 == s' "$out")
  printf '%-16s %8s %8s %8s %8s %s\n' "$s" \
    "$(echo "$sel" | awk '{print $3}' | med)" "$(echo "$sel" | awk '{print $4 + $5}' | med)" \
    "$(echo "$sel" | awk '{print $4}' | med)" "$(echo "$sel" | awk '{print $6}' | med)" "$(echo "$sel" | awk '{print $7}' | med)"
done
