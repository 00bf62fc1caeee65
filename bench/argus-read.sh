#!/usr/bin/env bash
# argus-read.sh ARGUSFILE [RUNS] [FILTER...]
#
# Reading Argus records: `panoptes read` against `ra` on the same Argus file, printing
# every record (-n -u) and printing the records a filter selects (default
# "tcp and port 80"). Each command runs RUNS times (default 5), alternating the two
# programs; the table gives the median wall time and the records per second it means,
# and the median CPU time (user + system, all threads): on a machine shared with other
# jobs the wall time waits for a CPU, and the CPU time says what each program spent.
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

# measure KEY CMD... -> appends the wall seconds to t[KEY] and the CPU seconds (user +
# system, bash's time keyword) to c[KEY]
measure() {
  local key=$1 out
  shift
  out=$( { TIMEFORMAT='%3R %3U %3S'; time "$@" >/dev/null 2>&1; } 2>&1 )
  read -r real user sys <<<"$out"
  t[$key]+="$real "
  c[$key]+="$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.3f", u + s}') "
}
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

declare -A t c
for _ in $(seq "$runs"); do
  measure ra_all ra -r "$in" -n -u
  measure pnp_all "$pnp" read -r "$in" -n -u
  measure ra_flt ra -r "$in" -n -u - "${filter[@]}"
  measure pnp_flt "$pnp" read -r "$in" -n -u -- "${filter[@]}"
done
echo "# panoptes $rev; $in: $records records, $(stat -c %s "$in") bytes; filter \"${filter[*]}\" selects $selected; $runs runs; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf "| %-28s | %10s | %12s | %10s | %12s | %7s | %9s | %9s | %7s |\n" case "ra s" "ra rec/s" "panoptes s" "panoptes rec/s" ratio "ra CPU s" "pnp CPU s" "CPU ratio"
printf "| %-28s | %10s | %12s | %10s | %12s | %7s | %9s | %9s | %7s |\n" --- ---: ---: ---: ---: ---: ---: ---: ---:
for k in all flt; do
  r=$(tr ' ' '\n' <<<"${t[ra_$k]}" | grep . | median)
  p=$(tr ' ' '\n' <<<"${t[pnp_$k]}" | grep . | median)
  rc=$(tr ' ' '\n' <<<"${c[ra_$k]}" | grep . | median)
  pc=$(tr ' ' '\n' <<<"${c[pnp_$k]}" | grep . | median)
  name="print every record"
  [ "$k" = flt ] && name="filter: ${filter[*]}"
  awk -v n="$name" -v r="$r" -v p="$p" -v k="$records" -v rc="$rc" -v pc="$pc" \
    'BEGIN {printf "| %-28s | %10.3f | %12.0f | %10.3f | %12.0f | %6.1fx | %9.3f | %9.3f | %8.1fx |\n", n, r, k/r, p, k/p, r/p, rc, pc, rc/pc}'
done
