#!/usr/bin/env bash
# distribution.sh [RECORDS] [RUNS]
#
# Whole-system benchmarks of record distribution (issue #6): the relay's fan-out to
# live clients, and IPFIX ingest by `panoptes relay -C` against nfdump's nfcapd.
#
# RECORDS is a Panoptes record stream (default /work/bench-data/cluster/p.pnp, the shared
# 3 M-packet trace imported: 549,743 records; if it is missing it is imported from
# /work/bench-data/trace.pcap, which /work/shared/bench/make-trace.sh builds). RUNS
# (default 3) runs of every series, interleaved in one loop with the order rotating each
# run. Builds bin/panoptes first. Needs nfcapd and nfdump (apt-get install -y nfdump)
# and /usr/bin/time.
#
# Series:
#   fanout-N    panoptes relay -r RECORDS -P 0 --wait-clients N (default client buffer,
#               4 MiB), and N clients `panoptes count -S ADDR`, each a process that reads,
#               decodes and counts every record it gets. The clock starts when the relay
#               has logged the N-th "joined" (it then replays RECORDS at full speed; the
#               log is polled every 5 ms, so the start is up to ~10 ms late) and stops
#               when the relay and every client have exited. N from CLIENTS
#               (default "1 10 100").
#   relayC-R    panoptes relay -C 127.0.0.1:PORT -w OUT (asks for a 4 MiB receive buffer),
#   nfcapd-R    nfcapd -b 127.0.0.1 -p PORT -w DIR -t 3600 (defaults otherwise), and
#   nfcapdB-R   the same with -B 4194304 (a 4 MiB receive buffer, as the relay), each fed by
#               `panoptes read -r RECORDS --ipfix 127.0.0.1:PORT --ipfix-rate R`
#               (RFC 5103 biflow IPFIX over UDP, MTU-sized messages, R messages/s; 0 = as
#               fast as the socket takes them). R from RATES (default "10000 30000 0"). Each
#               collector is stopped with SIGINT 0.5 s after the sender exits. Stored:
#               `panoptes count -r OUT` / `nfdump -R DIR -I` (Flows:). Both keep a biflow
#               as one record, so sent and stored count the same things. The
#               kernel's default UDP receive buffer (net.core.rmem_default) and its
#               cap (net.core.rmem_max) are printed in the header.
#
# Output: one line per run and series, then medians per series:
#   fanout: elapsed_s (replay start to last exit), records/s delivered in total (sum over
#           clients / elapsed) and per client (median client), the fewest records a
#           client got (of the RECORDS flow records: management records are not
#           counted by `count`), drops per client (min/median/max, from the relay's
#           "stream ended after X records, D dropped" lines), relay CPU s and peak RSS.
#   ipfix:  records sent (the sender's summary), stored, lost (sent - stored, and %),
#           the sender's elapsed s, ingest rate = stored / sender elapsed (the socket
#           buffer holds a few thousand records at most, so this is the collector's rate
#           within 1 %), collector CPU s (from /proc before the SIGINT).
# Sender, relay, clients and collectors all share this machine's cores.
set -euo pipefail

recs=${1:-/work/bench-data/cluster/p.pnp}
runs=${2:-3}
clients=${CLIENTS:-1 10 100}
rates=${RATES:-10000 30000 0}
case $runs in '' | *[!0-9]* | 0) echo "distribution.sh: RUNS must be a positive integer" >&2; exit 2 ;; esac
[ -x /usr/bin/time ] || { echo "distribution.sh: needs /usr/bin/time (apt-get install -y time)" >&2; exit 2; }
for t in nfcapd nfdump go ss; do
  command -v "$t" >/dev/null || { echo "distribution.sh: needs $t (nfcapd, nfdump: apt-get install -y nfdump)" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
(cd "$repo" && go build -o bin/panoptes ./cmd/panoptes)
pnp="$repo/bin/panoptes"
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ ! -s "$recs" ]; then
  trace=/work/bench-data/trace.pcap
  [ -r "$trace" ] || { echo "distribution.sh: no $recs and no $trace; build it with: /work/shared/bench/make-trace.sh $trace" >&2; exit 2; }
  mkdir -p "$(dirname "$recs")"
  "$pnp" import -r "$trace" -w "$recs"
fi
tmp=$(mktemp -d)
bg=() # processes started in the background, killed if the script stops early
cleanup() {
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
flows=$("$pnp" count -r "$recs" | awk 'NR==2 {print $2}')

now() { date +%s.%N; }
# waitfor FILE REGEXP COUNT PID: until FILE has COUNT lines matching REGEXP (or PID died).
waitfor() {
  local n=0
  for _ in $(seq 1 6000); do
    n=$(grep -c -E "$2" "$1" 2>/dev/null || true)
    [ "${n:-0}" -ge "$3" ] && return 0
    kill -0 "$4" 2>/dev/null || { echo "distribution.sh: process $4 exited; $1:" >&2; cat "$1" >&2; return 1; }
    sleep 0.005
  done
  echo "distribution.sh: timed out waiting for $3 x '$2' in $1" >&2
  return 1
}
freeport() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    [ -z "$(ss -Hlnu "sport = :$p")" ] && { echo "$p"; return; }
  done
}
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
med() { sort -g | awk '{a[NR]=$1} END {m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; print m}'; }

# fanout N: prints elapsed total_rps client_rps min_got drops_min drops_med drops_max relay_cpu relay_rss_kb
fanout() {
  local n=$1 i addr t0 t1 rp
  local pids=()
  rm -f "$tmp"/c.*
  /usr/bin/time -f '%e %M %U %S' -o "$tmp/relay.time" "$pnp" relay -r "$recs" -P 0 --wait-clients "$n" 2>"$tmp/relay.err" &
  rp=$!
  bg+=("$rp")
  waitfor "$tmp/relay.err" 'serving records on' 1 "$rp"
  addr=$(sed -n 's/.*serving records on \([^ ]*\).*/\1/p' "$tmp/relay.err" | head -n 1)
  for i in $(seq 1 "$n"); do
    "$pnp" count -S "$addr" >"$tmp/c.$i.out" 2>"$tmp/c.$i.err" &
    pids+=($!)
  done
  waitfor "$tmp/relay.err" ' joined' "$n" "$rp"
  t0=$(now)
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "distribution.sh: client $((i + 1)) failed:" >&2; cat "$tmp/c.$((i + 1)).err" >&2; exit 1; }
  done
  wait "$rp" || { echo "distribution.sh: relay failed:" >&2; cat "$tmp/relay.err" >&2; exit 1; }
  t1=$(now)
  bg=()
  for i in $(seq 1 "$n"); do awk 'NR==2 {print $2}' "$tmp/c.$i.out"; done >"$tmp/got"
  sed -n 's/.*stream ended after \([0-9]*\) records, \([0-9]*\) dropped.*/\2/p' "$tmp/relay.err" >"$tmp/drops"
  [ "$(wc -l <"$tmp/drops")" -eq "$n" ] || { echo "distribution.sh: relay reported $(wc -l <"$tmp/drops") client streams, want $n:" >&2; cat "$tmp/relay.err" >&2; exit 1; }
  local el total
  el=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
  total=$(awk '{s += $1} END {print s}' "$tmp/got")
  printf '%s %.0f %.0f %s %s %s %s %s %s\n' "$el" \
    "$(awk -v s="$total" -v e="$el" 'BEGIN {print s / e}')" \
    "$(med <"$tmp/got" | awk -v e="$el" '{print $1 / e}')" \
    "$(sort -g "$tmp/got" | head -n 1)" \
    "$(sort -g "$tmp/drops" | head -n 1)" "$(med <"$tmp/drops")" "$(sort -g "$tmp/drops" | tail -n 1)" \
    "$(awk '{printf "%.2f", $3 + $4}' "$tmp/relay.time")" "$(awk '{print $2}' "$tmp/relay.time")"
}

# ipfix COLLECTOR RATE: prints sent stored lost lost_pct send_s ingest_rps collector_cpu
ipfix() {
  local coll=$1 rate=$2 port cp stored
  port=$(freeport)
  rm -rf "$tmp/nf" "$tmp/coll.pnp" "$tmp/coll.err"
  case $coll in
    relayC)
      "$pnp" relay -C "127.0.0.1:$port" -w "$tmp/coll.pnp" 2>"$tmp/coll.err" &
      cp=$!
      bg+=("$cp")
      # -C is bound before -w is created.
      for _ in $(seq 1 2000); do [ -e "$tmp/coll.pnp" ] && break; sleep 0.005; done
      [ -e "$tmp/coll.pnp" ] || { echo "distribution.sh: relay -C did not start:" >&2; cat "$tmp/coll.err" >&2; exit 1; }
      ;;
    nfcapd | nfcapdB)
      mkdir -p "$tmp/nf"
      local buf=()
      [ "$coll" = nfcapdB ] && buf=(-B 4194304)
      nfcapd "${buf[@]}" -b 127.0.0.1 -p "$port" -w "$tmp/nf" -t 3600 >"$tmp/coll.err" 2>&1 &
      cp=$!
      bg+=("$cp")
      waitfor "$tmp/coll.err" 'Startup' 1 "$cp"
      ;;
  esac
  /usr/bin/time -f '%e' -o "$tmp/send.time" "$pnp" read -r "$recs" --ipfix "127.0.0.1:$port" --ipfix-rate "$rate" 2>"$tmp/send.err"
  sleep 0.5
  local cpu
  cpu=$(cpu_s "$cp")
  kill -INT "$cp"
  wait "$cp" || { echo "distribution.sh: $coll exited with an error:" >&2; cat "$tmp/coll.err" >&2; exit 1; }
  bg=()
  local sent
  sent=$(sed -n 's/.*: \([0-9]*\) records in [0-9]* messages.*/\1/p' "$tmp/send.err")
  [ -n "$sent" ] || { echo "distribution.sh: no summary from the sender:" >&2; cat "$tmp/send.err" >&2; exit 1; }
  case $coll in
    relayC) stored=$("$pnp" count -r "$tmp/coll.pnp" | awk 'NR==2 {print $2}') ;;
    nfcapd*) stored=$(nfdump -R "$tmp/nf" -I | awk '$1 == "Flows:" {print $2}') ;;
  esac
  local el
  el=$(tail -n 1 "$tmp/send.time")
  printf '%s %s %s %.2f %s %.0f %s\n' "$sent" "$stored" $((sent - stored)) \
    "$(awk -v s="$sent" -v k="$stored" 'BEGIN {print 100 * (s - k) / s}')" "$el" \
    "$(awk -v k="$stored" -v e="$el" 'BEGIN {print (e > 0) ? k / e : 0}')" "$cpu"
}

series=()
for n in $clients; do series+=("fanout-$n"); done
for r in $rates; do series+=("relayC-$r" "nfcapd-$r" "nfcapdB-$r"); done
for s in "${series[@]}"; do : >"$tmp/$s.res"; done

echo "# panoptes $rev; records $recs ($flows flow records); $runs runs; $(date -u +%FT%TZ)"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); nproc $(nproc); $(uname -r); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(nfcapd -V 2>&1 | head -n 1); net.core.rmem_default $(cat /proc/sys/net/core/rmem_default), rmem_max $(cat /proc/sys/net/core/rmem_max)"
echo "# fanout-N: run series elapsed_s total_rec/s client_rec/s(median) min_got drops_min drops_med drops_max relay_cpu_s relay_rss_kb"
echo "# relayC-R/nfcapd-R/nfcapdB-R: run series sent stored lost lost_% send_s ingest_rec/s collector_cpu_s"
k=${#series[@]}
for r in $(seq 1 "$runs"); do
  for j in $(seq 0 $((k - 1))); do
    s=${series[$(((r - 1 + j) % k))]}
    case $s in
      fanout-*) fanout "${s#fanout-}" >"$tmp/line" ;; # not in $(...): cleanup must see bg
      relayC-*) ipfix relayC "${s#relayC-}" >"$tmp/line" ;;
      nfcapd-*) ipfix nfcapd "${s#nfcapd-}" >"$tmp/line" ;;
      nfcapdB-*) ipfix nfcapdB "${s#nfcapdB-}" >"$tmp/line" ;;
    esac
    line=$(cat "$tmp/line")
    echo "$line" >>"$tmp/$s.res"
    echo "$r $s $line"
  done
done

echo
echo "# medians of $runs runs (each column separately)"
printf '%-14s %10s %12s %12s %9s %9s %9s %9s %9s %10s\n' fanout elapsed_s total_rec/s client_rec/s min_got drops_min drops_med drops_max relay_cpu relay_rss
for s in "${series[@]}"; do
  case $s in fanout-*) ;; *) continue ;; esac
  row=$s
  for c in 1 2 3 4 5 6 7 8 9; do row="$row $(awk -v c=$c '{print $c}' "$tmp/$s.res" | med)"; done
  # shellcheck disable=SC2086
  printf '%-14s %10s %12.0f %12.0f %9.0f %9.0f %9.0f %9.0f %9s %10.0f\n' $row
done
printf '%-14s %10s %10s %9s %8s %8s %12s %9s\n' ipfix sent stored lost lost_% send_s ingest_rec/s coll_cpu
for s in "${series[@]}"; do
  case $s in fanout-*) continue ;; esac
  row=$s
  for c in 1 2 3 4 5 6 7; do row="$row $(awk -v c=$c '{print $c}' "$tmp/$s.res" | med)"; done
  # shellcheck disable=SC2086
  printf '%-14s %10.0f %10.0f %9.0f %8.2f %8s %12.0f %9s\n' $row
done
