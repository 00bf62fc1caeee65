#!/usr/bin/env bash
# argus-read.sh ARGUSFILE [RUNS] [FILTER...]
#
# Reading Argus records: `panoptes read` against `ra` on the same Argus file, printing
# every record (-n -u) and printing the records a filter selects (default
# "tcp and port 80"). Each command runs RUNS times (default 5), alternating the two
# programs; the table gives the median wall time and the records per second it means.
#
# Build the input first (keep it out of the repository):
#   mkdir -p /work/bench-data && /work/shared/bench/make-trace.sh /work/bench-data/trace.pcap
#   argus -r /work/bench-data/trace.pcap -w /work/bench-data/trace.argus
# then: bench/argus-read.sh /work/bench-data/trace.argus [RUNS] [FILTER...]
# (COPIES=N reads the file N times over, concatenated, to make a larger input; an Argus
# file may hold several streams one after another, and both programs read them all.)
set -euo pipefail
file=${1:?usage: argus-read.sh ARGUSFILE [RUNS] [FILTER...]}
runs=${2:-5}
shift $(( $# >= 2 ? 2 : 1 ))
filter=("$@")
[ ${#filter[@]} -gt 0 ] || filter=(tcp and port 80)
command -v ra >/dev/null || { echo "argus-read.sh: needs ra (apt-get install -y argus-client)" >&2; exit 2; }
[ -r "$file" ] || { echo "argus-read.sh: cannot read $file" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
(cd "$repo" && go build -o bin/panoptes ./cmd/panoptes)
pnp="$repo/bin/panoptes"
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
in=$file
if [ "${COPIES:-1}" -gt 1 ]; then
  in=$dir/input.argus
  for _ in $(seq "$COPIES"); do cat "$file"; done >"$in"
fi
cat "$in" >/dev/null # in the page cache for both
records=$(ra -r "$in" -n -L -1 -s stime | wc -l)
selected=$(ra -r "$in" -n -L -1 -s stime - "${filter[@]}" | wc -l)

# time CMD... -> wall seconds
wall() {
  local t0=$EPOCHREALTIME
  "$@" >/dev/null 2>&1
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.4f\n", b - a}'
}
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

declare -A t
for _ in $(seq "$runs"); do
  t[ra_all]+="$(wall ra -r "$in" -n -u) "
  t[pnp_all]+="$(wall "$pnp" read -r "$in" -n -u) "
  t[ra_flt]+="$(wall ra -r "$in" -n -u - "${filter[@]}") "
  t[pnp_flt]+="$(wall "$pnp" read -r "$in" -n -u -- "${filter[@]}") "
done
echo "# panoptes $rev; $in: $records records, $(stat -c %s "$in") bytes; filter \"${filter[*]}\" selects $selected; $runs runs; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf "| %-28s | %10s | %12s | %10s | %12s | %7s |\n" case "ra s" "ra rec/s" "panoptes s" "panoptes rec/s" ratio
printf "| %-28s | %10s | %12s | %10s | %12s | %7s |\n" --- ---: ---: ---: ---: ---:
for c in all flt; do
  r=$(tr ' ' '\n' <<<"${t[ra_$c]}" | grep . | median)
  p=$(tr ' ' '\n' <<<"${t[pnp_$c]}" | grep . | median)
  name="print every record"
  [ "$c" = flt ] && name="filter: ${filter[*]}"
  awk -v n="$name" -v r="$r" -v p="$p" -v k="$records" 'BEGIN {printf "| %-28s | %10.3f | %12.0f | %10.3f | %12.0f | %6.1fx |\n", n, r, k/r, p, k/p, r/p}'
done
