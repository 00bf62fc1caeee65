#!/usr/bin/env bash
# import.sh TRACE [RUNS]
#
# Whole-process comparison of `panoptes import` with `argus -r` on one capture.
#
# Build the shared benchmark trace first (about 3 M packets, 1.3 GB; keep it out of the
# repository):
#   mkdir -p /work/bench-data && /work/shared/bench/make-trace.sh /work/bench-data/trace.pcap
# then:
#   bench/import.sh /work/bench-data/trace.pcap [RUNS]
#
# Builds bin/panoptes, then runs RUNS times (default 5), all series interleaved in the same
# loop (the order rotates each run, so no series always goes first):
#   panoptes     panoptes import -r TRACE -w OUT          (default workers: one per CPU)
#   panoptes-w1  panoptes import -r TRACE -w OUT --workers 1
#   panoptes-w2  panoptes import -r TRACE -w OUT --workers 2
#   argus        argus -r TRACE -w OUT
#   argus-1pkt   argus -r 1-PACKET-PCAP -w OUT            (argus's fixed cost: it sleeps
#                                                          about 1 s before exiting)
# Each process is timed whole with /usr/bin/time -f '%e %M %U %S' (elapsed s, peak RSS KB,
# user and system CPU s). The ratios use elapsed time; CPU time (user+sys) is printed too
# because on a shared machine it moves less than elapsed time when others load the CPUs.
# Outputs are deleted before every run (argus appends to an existing -w file). They go to
# a private temporary directory (OUTDIR to choose another), removed at the end unless
# KEEP=1.
#
# Prints every run, then a table of medians and ratios to argus, then the records each
# tool wrote and the bytes per record. Packets are counted with capinfos.
set -euo pipefail

trace=${1:?usage: import.sh TRACE [RUNS]  (build TRACE with /work/shared/bench/make-trace.sh TRACE)}
runs=${2:-5}
[ -r "$trace" ] || { echo "import.sh: cannot read $trace; build it with: /work/shared/bench/make-trace.sh $trace" >&2; exit 2; }
case $runs in '' | *[!0-9]* | 0) echo "import.sh: RUNS must be a positive integer" >&2; exit 2 ;; esac

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
onepkt=${ONEPKT:-/work/shared/pcaps/4in4.pcap}
[ -x /usr/bin/time ] || { echo "import.sh: needs /usr/bin/time (apt-get install -y time)" >&2; exit 2; }
for t in argus ra capinfos make; do
  command -v "$t" >/dev/null || { echo "import.sh: needs $t" >&2; exit 2; }
done

make -s -C "$repo" build >&2
pnp="$repo/bin/panoptes"
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$repo" status --porcelain -- . ':!bench' 2>/dev/null)" ] || rev="$rev+uncommitted changes"

if [ -n "${OUTDIR:-}" ]; then
  dir=$OUTDIR
  mkdir -p "$dir"
else
  dir=$(mktemp -d)
  [ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$dir"' EXIT
fi

pkts=$(capinfos -c -M "$trace" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')
[ "$(capinfos -c -M "$onepkt" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')" = 1 ] ||
  echo "import.sh: warning: $onepkt does not hold exactly one packet" >&2

# Warm the page cache so that the first series does not pay for the disk.
cat "$trace" >/dev/null

series=(panoptes panoptes-w1 panoptes-w2 argus argus-1pkt)
runone() { # series -> appends "elapsed rss" to $dir/$series.times
  local s=$1 out
  case $s in
    panoptes*) out="$dir/$s.pnp" ;;
    argus*) out="$dir/$s.argus" ;;
  esac
  rm -f "$out"
  case $s in
    panoptes) /usr/bin/time -f '%e %M %U %S' -o "$dir/t" "$pnp" import -r "$trace" -w "$out" ;;
    panoptes-w1) /usr/bin/time -f '%e %M %U %S' -o "$dir/t" "$pnp" import -r "$trace" -w "$out" --workers 1 ;;
    panoptes-w2) /usr/bin/time -f '%e %M %U %S' -o "$dir/t" "$pnp" import -r "$trace" -w "$out" --workers 2 ;;
    argus) /usr/bin/time -f '%e %M %U %S' -o "$dir/t" argus -r "$trace" -w "$out" ;;
    argus-1pkt) /usr/bin/time -f '%e %M %U %S' -o "$dir/t" argus -r "$onepkt" -w "$out" ;;
  esac
  tail -n 1 "$dir/t" >>"$dir/$s.times"
}

for s in "${series[@]}"; do : >"$dir/$s.times"; done
echo "# panoptes $rev; trace $trace: $pkts packets; $runs runs; nproc $(nproc)"
echo "# load average at start: $(cut -d" " -f1-3 /proc/loadavg)"
echo "# run series elapsed_s peak_rss_kb user_s sys_s"
n=${#series[@]}
for r in $(seq 1 "$runs"); do
  for k in $(seq 0 $((n - 1))); do
    s=${series[$(((r - 1 + k) % n))]}
    runone "$s"
    echo "$r $s $(tail -n 1 "$dir/$s.times")"
  done
done

# stats FILE -> "median min max rss_median cpu_median" (elapsed, then peak RSS, then user+sys)
med() { sort -g | awk '{a[NR]=$1} END {m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; print m}'; }
stats() {
  local e
  e=$(awk '{print $1}' "$1" | sort -g | awk '{a[NR]=$1} END {printf "%s %s", a[1], a[NR]}')
  echo "$(awk '{print $1}' "$1" | med) $e $(awk '{print $2}' "$1" | med | awk '{printf "%d", $1}') $(awk '{printf "%.2f\n", $3 + $4}' "$1" | med)"
}
read -r amed _ _ _ _ < <(stats "$dir/argus.times")
read -r omed _ _ _ _ < <(stats "$dir/argus-1pkt.times")
anet=$(awk -v a="$amed" -v o="$omed" 'BEGIN {printf "%.3f", a - o}')

echo
echo "# medians of $runs runs; $pkts packets"
echo "# x argus raw = argus median / series median"
echo "# x argus net = (argus median - argus-1pkt median) / series median: argus's ~1 s exit sleep left out"
echo "# cpu_med_s = median of user+sys CPU seconds"
printf '%-22s %9s %8s %8s %12s %12s %12s %12s %10s\n' series median_s min_s max_s pkts/s rss_med_KB "x_argus_raw" "x_argus_net" cpu_med_s
for s in "${series[@]}"; do
  read -r med mn mx rss cpu < <(stats "$dir/$s.times")
  if [ "$s" = argus-1pkt ]; then
    pps=- raw=- net=-
  else
    pps=$(awk -v p="$pkts" -v m="$med" 'BEGIN {printf "%.0f", p / m}')
    raw=$(awk -v a="$amed" -v m="$med" 'BEGIN {printf "%.2f", a / m}')
    net=$(awk -v a="$anet" -v m="$med" 'BEGIN {printf "%.2f", a / m}')
    [ "$s" = argus ] && net=-
  fi
  printf '%-22s %9s %8s %8s %12s %12s %12s %12s %10s\n' "$s" "$med" "$mn" "$mx" "$pps" "$rss" "$raw" "$net" "$cpu"
done
printf '%-22s %9s %8s %8s %12s %12s %12s %12s %10s\n' "argus-minus-overhead" "$anet" - - \
  "$(awk -v p="$pkts" -v m="$anet" 'BEGIN {printf "%.0f", p / m}')" - - 1.00 -
echo "# load average at end: $(cut -d" " -f1-3 /proc/loadavg)"

echo
echo "# records (last run of each series) and output size"
printf '%-12s %10s %10s %10s %12s %12s\n' series records flow man bytes bytes/record
for s in panoptes panoptes-w1 panoptes-w2; do
  f="$dir/$s.pnp"
  all=$("$pnp" read -r "$f" -s pkts -L -1 | wc -l)
  man=$("$pnp" read -r "$f" -s pkts -L -1 -- man | wc -l)
  sz=$(stat -c %s "$f")
  printf '%-12s %10d %10d %10d %12d %12.1f\n' "$s" "$all" $((all - man)) "$man" "$sz" "$(awk -v b="$sz" -v n="$all" 'BEGIN {print b / n}')"
done
f="$dir/argus.argus"
all=$(ra -r "$f" -L -1 -s pkts | wc -l)
man=$(ra -r "$f" -L -1 -s pkts - man | wc -l)
sz=$(stat -c %s "$f")
printf '%-12s %10d %10d %10d %12d %12.1f\n' argus "$all" $((all - man)) "$man" "$sz" "$(awk -v b="$sz" -v n="$all" 'BEGIN {print b / n}')"
if cmp -s "$dir/panoptes-w1.pnp" "$dir/panoptes-w2.pnp" && cmp -s "$dir/panoptes-w1.pnp" "$dir/panoptes.pnp"; then
  echo "# panoptes output is byte-identical for every worker count"
else
  echo "# panoptes output DIFFERS between worker counts"
fi
