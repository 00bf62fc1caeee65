#!/usr/bin/env bash
# archive.sh ARCHIVE_DIR [COPIES]
#
# The archive benchmark (issue "Archive", speed section): builds an archive of COPIES
# imports of the shared benchmark trace (default 37: about 20.3 M records), then times a
# 1% time-window query against a full scan of it, and against Argus (a `rasplit -M time 5m`
# tree queried with `ra -R DIR -t RANGE`). Results: bench/ARCHIVE-RESULTS.md; how to run
# it: bench/README.md.
#
#   bench/archive.sh /work/bench-data/archive [COPIES]
#
# ARCHIVE_DIR must be outside the repository; it is deleted first. Next to it the script
# makes (and deletes first) ARCHIVE_DIR.one (the trace imported once), ARCHIVE_DIR.argus
# (argus's file of the trace, its rasplit tree, and that tree copied COPIES times) and
# ARCHIVE_DIR.results (logs and raw timings). Environment:
#   TRACE=FILE      the trace (default /work/bench-data/trace.pcap)
#   RUNS=N          timed runs of each query series per cache state (default 5)
#   FULL_RUNS=N     runs of the full scan of the big archive per cache state (default 2:
#                   each takes over two minutes)
#   PHASES="..."    any of: build single argus query (default: all four, in that order;
#                   query needs the other three to have run)
#   COLD=0          skip the cold-cache runs (they drop the page cache: root only)
#   FULL_GOMEMLIMIT=X  GOMEMLIMIT for the big full scan (default 14GiB; empty: none).
#                   `panoptes read` holds every record of the result in memory (about
#                   20 GB for 20 M records with Go's default GC settings), see
#                   ARCHIVE-RESULTS.md; the soft limit keeps the scan below ~17 GB.
#   FULL_DEFAULT=1  also run the big full scan once with no GOMEMLIMIT (warm, first round)
#   MIN_AVAIL_MB=N  while a big full scan runs, kill it (by its pid) if MemAvailable falls
#                   below N MB (default 1200), so that it cannot run the machine out of
#                   memory; the run is then reported as killed
#
# Phases:
#   build   make build; `panoptes import -q -r TRACE -w ARCHIVE_DIR/ --srcid I` for I in
#           1..COPIES, each timed and the whole loop timed (records/s = records / seconds);
#           sizes (du -sb) of the segments and of the index.
#   single  the same import once into ARCHIVE_DIR.one (srcid 1); its records (flow and
#           man, counted with `panoptes read`), so the big archive holds COPIES times as
#           many (each import of the same trace writes the same records).
#   argus   argus -r TRACE -w trace.argus; records; rasplit -M time 5m into one/; one/
#           copied COPIES times into many/N/ (the same records COPIES times, same srcid).
#   query   windows, then RUNS rounds; in each round every series once with a cold page
#           cache (sync; echo 3 > /proc/sys/vm/drop_caches before each run) and once warm
#           (its files read just before), series order rotating. Every run goes through
#           bench/qtime: elapsed, time to first output byte, output lines, peak RSS, bytes
#           read from disk (ru_inblock) and read(2) bytes (rchar).
#
# Windows (-t), both 1% of something:
#   span    1% of the trace's time span (capinfos), in its middle.
#   rec     1% of the records: from the 49.5th to the 50.5th percentile of the flow
#           records' start times (one copy; whole seconds, rounded outwards).
# The trace is far from uniform in time (most flows are in its first hour), so the span
# window holds almost no flows: it measures the cost of a query by itself; the rec
# window measures one that returns 1% of the archive.
set -euo pipefail

dir=${1:?usage: archive.sh ARCHIVE_DIR [COPIES]}
copies=${2:-37}
trace=${TRACE:-/work/bench-data/trace.pcap}
runs=${RUNS:-5}
full_runs=${FULL_RUNS:-2}
phases=${PHASES:-build single argus query}
cold=${COLD:-1}
case $copies$runs$full_runs in '' | *[!0-9]*) echo "archive.sh: COPIES, RUNS, FULL_RUNS must be integers" >&2; exit 2 ;; esac

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
dir=$(realpath -m "$dir")
case $dir/ in "$repo"/* | / | //) echo "archive.sh: ARCHIVE_DIR must be outside the repository and not /" >&2; exit 2 ;; esac
one=$dir.one
argdir=$dir.argus
res=$dir.results
[ -r "$trace" ] || { echo "archive.sh: cannot read $trace; build it with /work/shared/bench/make-trace.sh $trace" >&2; exit 2; }
for t in make go capinfos argus ra rasplit /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "archive.sh: needs $t" >&2; exit 2; }
done
if [ "$cold" = 1 ] && ! { sync && echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
  echo "archive.sh: cannot drop the page cache (not root?): cold runs skipped" >&2
  cold=0
fi
fullgml=${FULL_GOMEMLIMIT-14GiB}
fulldefault=${FULL_DEFAULT:-1}
minavail=${MIN_AVAIL_MB:-1200}

# rmarchive DIR: delete a previous output, refusing anything that does not look like one.
rmarchive() {
  [ -e "$1" ] || return 0
  if [ -d "$1/index" ] || [ -f "$1/trace.argus" ] || [ -f "$1/log" ] || [ -z "$(ls -A "$1")" ]; then
    rm -rf "$1"
  else
    echo "archive.sh: $1 exists and is not an earlier output of this script; not deleting it" >&2
    exit 2
  fi
}

mkdir -p "$res"
touch "$res/log"
log() { echo "$*" | tee -a "$res/log"; }
make -s -C "$repo" build >&2
pnp=$repo/bin/panoptes
(cd "$repo" && go build -o "$res/qtime" ./bench/qtime)
qtime=$res/qtime
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$repo" status --porcelain -- . ':!bench' 2>/dev/null)" ] || rev="$rev+uncommitted changes"
git -C "$repo" diff -- . ':!bench' >"$res/tree-$(date -u +%H%M%S).diff" # what "+uncommitted changes" means
log "# archive.sh: phases $phases; panoptes $rev; trace $trace; copies $copies; $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load $(cut -d' ' -f1-3 /proc/loadavg)"

dropcache() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# sizes DIR -> "segment_bytes index_bytes segment_files" (du -sb; segments: every source directory)
sizes() {
  local segs idx n
  segs=$(du -scb "$1"/[0-9]* | tail -n 1 | cut -f1)
  idx=$(du -sb "$1/index" | cut -f1)
  n=$(find "$1" -name '*.seg' | wc -l)
  echo "$segs $idx $n"
}
# count ARCHIVE -> "records flow man" by reading it whole
count() {
  local all man
  all=$("$pnp" read -R "$1" -s pkts -L -1 | wc -l)
  man=$("$pnp" read -R "$1" -s pkts -L -1 -- man | wc -l)
  echo "$all $((all - man)) $man"
}

for phase in $phases; do
  case $phase in
  build)
    rmarchive "$dir"
    cat "$trace" >/dev/null
    : >"$res/build.times"
    log "# build: panoptes import -q -r TRACE -w $dir/ --srcid I, I = 1..$copies"
    t0=$(date +%s.%N)
    for i in $(seq 1 "$copies"); do
      /usr/bin/time -f '%e %U %S %M' -o "$res/t" "$pnp" import -q -r "$trace" -w "$dir/" --srcid "$i"
      echo "$i $(cat "$res/t")" >>"$res/build.times"
    done
    t1=$(date +%s.%N)
    total=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    read -r segs idx nseg < <(sizes "$dir")
    echo "$total $segs $idx $nseg" >"$res/build.summary"
    log "# build: $total s for $copies imports; per import (elapsed user sys rss_KB): median $(awk '{print $2}' "$res/build.times" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') s"
    log "# build: segments $segs bytes in $nseg files, index $idx bytes"
    ;;
  single)
    rmarchive "$one"
    /usr/bin/time -f '%e %U %S %M' -o "$res/t" "$pnp" import -q -r "$trace" -w "$one/" --srcid 1
    read -r segs idx nseg < <(sizes "$one")
    read -r all flow man < <(count "$one")
    echo "$(cut -d' ' -f1 "$res/t") $segs $idx $nseg $all $flow $man" >"$res/single.summary"
    log "# single: import $(cut -d' ' -f1 "$res/t") s; records $all (flow $flow, man $man); segments $segs bytes in $nseg files, index $idx bytes"
    ;;
  argus)
    rmarchive "$argdir"
    mkdir -p "$argdir"
    /usr/bin/time -f '%e %U %S %M' -o "$res/t" argus -r "$trace" -w "$argdir/trace.argus"
    all=$(ra -r "$argdir/trace.argus" -n -L -1 -s pkts | wc -l)
    man=$(ra -r "$argdir/trace.argus" -n -L -1 -s pkts - man | wc -l)
    t0=$(date +%s.%N)
    rasplit -M time 5m -r "$argdir/trace.argus" -w "$argdir/one/%Y/%m/%d/argus.%H.%M.%S"
    t1=$(date +%s.%N)
    tall=$(ra -R "$argdir/one" -n -L -1 -s pkts | wc -l)
    for i in $(seq 1 "$copies"); do
      mkdir -p "$argdir/many/$i"
      cp -r "$argdir/one/." "$argdir/many/$i/"
    done
    echo "$(cut -d' ' -f1 "$res/t") $(stat -c %s "$argdir/trace.argus") $all $((all - man)) $man $(du -sb "$argdir/one" | cut -f1) $(find "$argdir/one" -type f | wc -l) $tall $(du -sb "$argdir/many" | cut -f1)" >"$res/argus.summary"
    log "# argus: argus -r $(cut -d' ' -f1 "$res/t") s; trace.argus $(stat -c %s "$argdir/trace.argus") bytes, $all records (flow $((all - man)), man $man)"
    log "# argus: rasplit -M time 5m $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s: $(find "$argdir/one" -type f | wc -l) files, $(du -sb "$argdir/one" | cut -f1) bytes, $tall records; copied $copies times: $(du -sb "$argdir/many" | cut -f1) bytes"
    ;;
  query)
    # Windows.
    read -r tfirst tlast < <(capinfos -T -r -a -e -S "$trace" | cut -f2,3 | tr '\t' ' ')
    span=$(awk -v a="$tfirst" -v b="$tlast" 'BEGIN {d = b - a; w = int(d / 100 + 0.5); s = int(a + (d - w) / 2); printf "%d-%d", s, s + w}')
    "$pnp" read -R "$one" -u -p 0 -s stime -L -1 -- not man >"$res/stimes"
    rec=$(awk '{t[NR] = $1} END {lo = t[int(NR * 0.495) + 1]; hi = t[int(NR * 0.505)]; printf "%d-%d", int(lo), int(hi) + 1}' "$res/stimes")
    pretty() { echo "$(date -u -d "@${1%-*}" '+%Y/%m/%d.%H:%M:%S')+$((${1#*-} - ${1%-*}))s"; }
    log "# windows: span $span ($(pretty "$span"), 1% of the trace's $(awk -v a="$tfirst" -v b="$tlast" 'BEGIN {printf "%.0f", b - a}') s); rec $rec ($(pretty "$rec"), 1% of the flow records)"
    echo "$span $rec" >"$res/windows"

    fields=(-s stime,saddr,daddr,pkts)
    afields=(-s stime saddr daddr pkts)
    # series NAME -> the command, the files to warm
    cmdof() {
      case $1 in
      p37-full | p37-full-default) echo "$pnp read -R $dir -L -1 ${fields[*]}" ;;
      p37-span) echo "$pnp read -R $dir -t $span -L -1 ${fields[*]}" ;;
      p37-rec) echo "$pnp read -R $dir -t $rec -L -1 ${fields[*]}" ;;
      p1-full) echo "$pnp read -R $one -L -1 ${fields[*]}" ;;
      p1-full-N1) echo "$pnp read -R $one -N 1 -L -1 ${fields[*]}" ;;
      p1-span) echo "$pnp read -R $one -t $span -L -1 ${fields[*]}" ;;
      p1-rec) echo "$pnp read -R $one -t $rec -L -1 ${fields[*]}" ;;
      a1-full) echo "ra -R $argdir/one -n -L -1 ${afields[*]}" ;;
      a1-span) echo "ra -R $argdir/one -t $span -n -L -1 ${afields[*]}" ;;
      a1-rec) echo "ra -R $argdir/one -t $rec -n -L -1 ${afields[*]}" ;;
      a37-span) echo "ra -R $argdir/many -t $span -n -L -1 ${afields[*]}" ;;
      a37-rec) echo "ra -R $argdir/many -t $rec -n -L -1 ${afields[*]}" ;;
      esac
    }
    warm() {
      case $1 in
      p37*) find "$dir" -type f -exec cat {} + >/dev/null ;;
      p1*) find "$one" -type f -exec cat {} + >/dev/null ;;
      a1*) find "$argdir/one" -type f -exec cat {} + >/dev/null ;;
      a37*) find "$argdir/many" -type f -exec cat {} + >/dev/null ;;
      esac
      cat "$pnp" "$(command -v ra)" >/dev/null
    }
    # watched SERIES: run a big full scan in the background, killing it if the machine
    # runs short of memory.
    watched() {
      local gml=() q c killed=""
      [ "$1" = p37-full ] && [ -n "$fullgml" ] && gml=(GOMEMLIMIT="$fullgml")
      # shellcheck disable=SC2046
      env "${gml[@]}" "$qtime" $(cmdof "$1") >"$res/out" 2>"$res/err" &
      q=$!
      while kill -0 "$q" 2>/dev/null; do
        if [ -z "$killed" ] && [ "$(awk '/^MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)" -lt "$minavail" ]; then
          c=$(pgrep -P "$q") && kill "$c" && killed=" killed (MemAvailable < $minavail MB)"
        fi
        sleep 0.2
      done
      wait "$q" || true
      echo "$(cat "$res/out")$killed"
    }
    series=(p37-span p37-rec p1-full p1-full-N1 p1-span p1-rec a1-full a1-span a1-rec a37-span a37-rec)
    caches=(warm)
    [ "$cold" = 1 ] && caches=(cold warm)
    : >"$res/query.runs"
    log "# query runs: run cache series elapsed_s first_byte_s out_bytes out_lines maxrss_kb inblock_bytes rchar read_bytes user_s sys_s exit"
    for r in $(seq 1 "$runs"); do
      n=${#series[@]}
      list=()
      for k in $(seq 0 $((n - 1))); do list+=("${series[$(((r - 1 + k) % n))]}"); done
      [ "$r" -le "$full_runs" ] && list+=(p37-full) # last: its memory use empties the page cache
      for c in "${caches[@]}"; do
        extra=()
        [ "$r" = 1 ] && [ "$c" = warm ] && [ "$fulldefault" = 1 ] && extra=(p37-full-default)
        for s in "${list[@]}" "${extra[@]}"; do
          if [ "$c" = cold ]; then dropcache; else warm "$s"; fi
          case $s in
          p37-full*) line=$(watched "$s") ;;
          # shellcheck disable=SC2046
          *) line=$("$qtime" $(cmdof "$s") 2>"$res/err") || true ;;
          esac
          [ -s "$res/err" ] && { echo "# $r $c $s stderr: $(head -c 300 "$res/err" | tr '\n' ' ')" | tee -a "$res/log" >&2; }
          [ -n "$line" ] || line=failed
          echo "$r $c $s $line" | tee -a "$res/query.runs" >>"$res/log"
          echo "$r $c $s $line" >&2
        done
      done
    done
    log "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"

    # Medians per series and cache state.
    log ""
    log "# medians: series cache runs elapsed_s first_byte_s out_lines maxrss_kb inblock_bytes rchar"
    for c in "${caches[@]}"; do
      for s in "${series[@]}" p37-full p37-full-default; do
        awk -v c="$c" -v s="$s" '$2 == c && $3 == s && $14 == 0 && NF == 14' "$res/query.runs" >"$res/sel"
        k=$(wc -l <"$res/sel")
        [ "$k" -gt 0 ] || { log "$s $c 0 runs succeeded"; continue; }
        m=""
        for col in 4 5 7 8 9 10; do
          m="$m $(awk -v col="$col" '{print $col}' "$res/sel" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')"
        done
        log "$s $c $k$m"
      done
    done

    # Bytes read against window width: windows centred on the rec window, warm, one run
    # each (rchar does not depend on the cache; elapsed is one run only).
    log ""
    log "# window width: width_s records rchar elapsed_s first_byte_s (big archive, warm, one run each)"
    mid=$(( (${rec%-*} + ${rec#*-}) / 2 ))
    warm p37
    for w in 1 4 10 38 76 152 304 608; do
      a=$((mid - w / 2))
      read -r el fb _ lines _ _ rc _ < <("$qtime" "$pnp" read -R "$dir" -t "$a-$((a + w))" -L -1 "${fields[@]}")
      log "$w $lines $rc $el $fb"
    done
    ;;
  *) echo "archive.sh: unknown phase $phase" >&2; exit 2 ;;
  esac
done
