#!/usr/bin/env bash
# bigarchive.sh DIR [COPIES] [RUNS]
#
# The archive-at-scale benchmark of issue #14: an archive of COPIES (default 182) copies
# of the shared trace's records, spread over 90 days (each copy shifted by 90 d / COPIES,
# its addresses rewritten per copy, source ids 1..3 in turn; bench/bigarchive), about
# 100 M records, and nfcapd files of the same flows for nfdump (the copies exported over
# IPFIX by `panoptes read --ipfix` to a local nfcapd). Then RUNS rounds (default 5) of:
#
#   count     panoptes count -R             against nfdump -R -s proto  (count without a
#             filter adds the blocks' totals from the index; nfdump reads every flow)
#   fullcount panoptes count -R -- not man  (a filter: every record read and decoded)
#   cluster   panoptes cluster -R -m saddr -s saddr pkts bytes  against nfdump -R -s srcip
#             (top N) and nfdump -R -A srcip (every aggregate printed, as cluster does)
#             (full scans; the columns printed read only the front of each block)
#   clusterall  panoptes cluster -R -m saddr with ra's default columns (flgs, state...):
#             the same clusters, every field of every record decoded
#   host      read -R -- host X, X in 0.001% of the records (1,100 records of copy 0)
#   net       read -R -- net X/16, the /16 of X in copy 0
#   port      read -R -- port 5060 (1,300 records per copy)
#   hour      read -R -t one hour of copy 90, no filter
#   narrow    read -R -t 38 s of it: the time to first record (first_byte_s)
#
# every one through bench/qtime (elapsed, first byte, CPU), panoptes and nfdump
# alternating. Medians go to DIR/results.tsv; ARCHIVE-RESULTS.md reports them. nfcapd rotates its
# files by arrival time, so its files do not follow the flows' time: nfdump's -t reads
# them all, as any nfdump query without a file range does.
#
# Phases (PHASES="base build nfdump query" by default, in that order):
#   base    panoptes import -r TRACE -w DIR/base.pnp
#   build   bigarchive: DIR/big/ (archive) and DIR/big.pnp (the same records as a stream)
#   nfdump  nfcapd -p PORT -w DIR/nf, fed by panoptes read -r DIR/big.pnp --ipfix
#   query   the rounds above
# Needs: go, nfcapd, nfdump (apt-get install -y nfdump). Disk: about 16 GB in DIR.
set -euo pipefail
dir=${1:?usage: bigarchive.sh DIR [COPIES] [RUNS]}
copies=${2:-182}
runs=${3:-5}
trace=${TRACE:-/work/bench-data/trace.pcap}
phases=${PHASES:-base build nfdump query}
port=${NFPORT:-29995}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
dir=$(realpath -m "$dir")
case $dir/ in "$repo"/* | / | //) echo "bigarchive.sh: DIR must be outside the repository and not /" >&2; exit 2 ;; esac
for t in go nfcapd nfdump; do
  command -v "$t" >/dev/null || { echo "bigarchive.sh: needs $t" >&2; exit 2; }
done
mkdir -p "$dir"
(cd "$repo" && go build -o "$dir/panoptes" ./cmd/panoptes && go build -o "$dir/qtime" ./bench/qtime && go build -o "$dir/bigarchive" ./bench/bigarchive)
pnp=$dir/panoptes
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a "$dir/log" >&2; }
rare=66.59.111.190 # 1,100 records of one copy of the trace: 0.0011% of 100 M

for ph in $phases; do
  case $ph in
  base)
    rm -f "$dir/base.pnp"
    "$pnp" import -q -r "$trace" -w "$dir/base.pnp" --srcid 1
    log "base: $("$pnp" count -r "$dir/base.pnp" | tail -n 1)"
    ;;
  build)
    rm -rf "$dir/big" "$dir/big.pnp"
    log "build: $copies copies"
    /usr/bin/time -f "build: %e s, %M kB peak" "$dir/bigarchive" -in "$dir/base.pnp" -copies "$copies" -days 90 \
      -w "$dir/big/" -stream "$dir/big.pnp" -rare "$rare" >"$dir/rare.txt" 2>>"$dir/log"
    log "build: archive $(du -sb "$dir/big" | cut -f1) bytes (index $(du -sb "$dir/big/index" | cut -f1))"
    ;;
  nfdump)
    rm -rf "$dir/nf" && mkdir -p "$dir/nf"
    nfcapd -p "$port" -b 127.0.0.1 -w "$dir/nf" -t 86400 -B 16000000 -y >"$dir/nfcapd.log" 2>&1 &
    nf=$!
    sleep 1
    # The rate keeps the UDP socket from overflowing; the flow count below checks it did not.
    "$pnp" read -r "$dir/big.pnp" --ipfix "127.0.0.1:$port" --ipfix-rate "${IPFIX_RATE:-20000}" 2>>"$dir/log"
    sleep 3
    kill -INT "$nf"
    wait "$nf" || true
    log "nfdump: $(nfdump -R "$dir/nf" -I | grep -E '^Flows:')"
    ;;
  query)
    flows=$("$pnp" count -R "$dir/big/" -- not man | awk 'NR==2{print $2}')
    nfflows=$(nfdump -R "$dir/nf" -I | awk '/^Flows:/{print $2}')
    log "query: panoptes $flows flow records; nfdump $nfflows flows"
    # The hour: the first hour of copy 90 (its start: the base's first record + 90 steps).
    t0=$("$pnp" read -r "$dir/base.pnp" -s stime -L -1 -N 1 --time-format '%s' -- not man | tail -n 1 | cut -d. -f1)
    hs=$((t0 + 90 * 90 * 86400 / copies))
    he=$((hs + 3600))
    pt() { date -u -d "@$1" +%Y/%m/%d.%H:%M:%S; }
    out=$dir/results.tsv
    echo -e "round\tquery\ttool\telapsed_s\tfirst_byte_s\tout_lines\tcpu_s" >"$out"
    for r in $(seq 1 "$runs"); do
      q() { # name tool cmd...
        local name=$1 tool=$2
        shift 2
        local l
        l=$("$dir/qtime" "$@" 2>>"$dir/query.err")
        echo -e "$r\t$name\t$tool\t$(echo "$l" | cut -d' ' -f1,2,4 | tr ' ' '\t')\t$(echo "$l" | awk '{printf "%.3f", $9 + $10}')" >>"$out"
        log "round $r $name $tool: $l"
      }
      q count panoptes "$pnp" count -R "$dir/big/"
      q count nfdump nfdump -R "$dir/nf" -q -s proto -n 0
      q cluster panoptes "$pnp" cluster -R "$dir/big/" -m saddr -s saddr pkts bytes
      q cluster nfdump nfdump -R "$dir/nf" -q -s srcip -n 0
      q cluster nfdump-A nfdump -R "$dir/nf" -q -A srcip
      q clusterall panoptes "$pnp" cluster -R "$dir/big/" -m saddr
      q host panoptes "$pnp" read -R "$dir/big/" -- host "$rare"
      q host nfdump nfdump -R "$dir/nf" -q "host $rare"
      q net panoptes "$pnp" read -R "$dir/big/" -- net 66.59.0.0/16
      q net nfdump nfdump -R "$dir/nf" -q "net 66.59.0.0/16"
      q port panoptes "$pnp" read -R "$dir/big/" -- port 5060
      q port nfdump nfdump -R "$dir/nf" -q "port 5060"
      q hour panoptes "$pnp" read -R "$dir/big/" -t "$(pt $hs)-$(pt $he)"
      q hour nfdump nfdump -R "$dir/nf" -q -t "$(pt $hs)-$(pt $he)"
      q fullcount panoptes "$pnp" count -R "$dir/big/" -- not man
      q narrow panoptes "$pnp" read -R "$dir/big/" -t "$(pt $((hs + 600)))+38s"
    done
    log "medians (elapsed s, CPU s):"
    awk -F'\t' 'NR>1{k=$2"\t"$3; v[k]=v[k]" "$4; c[k]=c[k]" "$7} END{for(k in v){n=split(v[k],a," "); asort(a); split(c[k],b," "); asort(b); print k"\t"a[int((n+1)/2)]"\t"b[int((n+1)/2)]}}' "$out" | sort | tee -a "$dir/log"
    ;;
  *) echo "bigarchive.sh: unknown phase $ph" >&2; exit 2 ;;
  esac
done
