#!/usr/bin/env bash
# loss.sh [FRAMES] [RUNS]
#
# Packet loss of live capture: panoptes sensor (AF_XDP), argus -i and tcpdump (libpcap,
# AF_PACKET TPACKET_V3), fed the same trafgen traffic over a veth pair, in the same run.
# Needs root. See README.md ("loss.sh") for what is measured and RESULTS.md for results.
#
# Creates a network namespace holding the sender ends of two veth pairs (one with 1 queue,
# one with 2 queues, MTU 1500, IPv6 off, static neighbour entries); the capture ends stay
# in the root namespace without an address (so the root stack neither answers nor routes
# the test traffic: it drops it silently). Everything is removed at exit.
#
# trafgen (netsniff-ng) sends from the namespace, pinned to CPU0, one process, through the
# qdisc path (--qdisc-path: the veth queue is the flow hash, so 256 flows spread over the
# 2-queue pair). Receivers are pinned to CPU1. Per run: start the receiver, wait until it
# is ready, send, wait WAIT seconds, stop it with SIGINT, then count.
#
# Phases (PHASES, default "max imix rate search"):
#   max     64-byte frames (60 + FCS), 256 UDP flows, FRAMES frames (default 5,000,000),
#           generator at full speed, RUNS runs (default 3), series interleaved:
#             none            no receiver: the generator's offered-load ceiling
#             panoptes-q1     panoptes sensor --queues 1 on the 1-queue pair
#             panoptes-q2     panoptes sensor --queues 2 on the 2-queue pair
#             panoptes-q1-big panoptes-q1 with --ring-size 16384 --umem-frames 32768
#             panoptes-q1-generic  panoptes-q1 with --xdp-mode generic
#             argus           argus -M 1 -i CAP -w OUT (installed /etc/argus.conf)
#             tcpdump         tcpdump -n -i CAP -w /dev/null
#   imix    the same without -big, IMIX 7:4:1 of 64/570/1518-byte frames, IMIX_FRAMES
#           frames (default FRAMES/5)
#   rate    64-byte frames at a fixed rate of RATE frames/s (default 250000), RATE_FRAMES
#           frames (default 1,000,000), the same series as imix
#   search  zero-loss rate (RFC 2544 style) of panoptes-q1 and argus: SEARCH_FRAMES
#           frames (default 1,000,000) per trial, at most SEARCH_ITER trials (default 5):
#           first at full speed; if frames are lost, bisect the rate between 0 and the
#           median full-speed rate of the "none" series.
# Fixed rates: trafgen runs at full speed for FRAMES/RATE seconds (timeout -s INT) into a
# token bucket on the sender veth (tc qdisc tbf, rate = frames/s x 60 bytes x 8, queue
# 100 frames) that drops the excess before the veth, so the receivers see a smooth RATE
# and "sent" (the veth's tx counter) is what passed the bucket. trafgen's own limiters are
# not used: -b sends each second's quota at full speed and then sleeps (bursts at the
# maximum rate), and -t sleeps per frame (about 35k frames/s at most here). A bucket with
# a long queue instead of drops makes trafgen abort ("Flushing TX_RING failed: Resource
# temporarily unavailable") once its socket send buffer is full.
#
# Counted per run: sent = the sender veth's tx_packets delta (checked against trafgen's
# own count), the send time (trafgen's wall time, start-up included), captured, the
# drops the tool reports, unaccounted = sent - captured - reported drops:
#   panoptes  captured = sum of "received" in its exit table (and the packets in its flow
#             records, panoptes read ... -- not man); reported = rx_dropped + ring_full +
#             invalid + passed. fill_empty is shown but not added: in AF_XDP copy mode the
#             kernel counts each drop for want of a fill-ring frame in rx_dropped as well.
#             The drop count in its last management record is printed as man_drops.
#   argus     captured = packets in its flow records (ra ... - not man); reported = the
#             sum of the Loss column of its management records (pcap drop count; argus
#             writes it only in status MARs, hence -M 1 and WAIT=2).
#   tcpdump   captured = "packets captured"; reported = "packets dropped by kernel".
#
# Each run also notes the CPU use of other processes during it (top -b -d 1, sampled in
# the background): the machine is shared.
#
# Environment: PHASES, IMIX_FRAMES, RATE, RATE_FRAMES, SEARCH_FRAMES, SEARCH_ITER, WAIT
# (seconds after sending, default 2), SERIES (restrict the series of max/imix/rate,
# space-separated), PANOPTES (a panoptes binary to use instead of building one from the
# working tree into the output directory), XDP_FLAGS (extra flags for the AF_XDP series,
# panoptes and raw-xsk alike, e.g. "--ring-size 32768 --umem-frames 65536"),
# SHARE_RATE, SHARE_FRAMES, SHARE_ITER, SHARE_SERIES, SHARE_PERIOD_US (the CFS period of
# the share phase; the smallest quota is 1 ms, so 50000 allows quotas down to 2%, but the
# receiver then waits up to 49 ms between turns, which its ring must hold),
# OUTDIR / KEEP=1 (keep outputs and the per-run table).
set -euo pipefail

frames=${1:-5000000}
runs=${2:-3}
case $frames in '' | *[!0-9]* | 0) echo "loss.sh: FRAMES must be a positive integer" >&2; exit 2 ;; esac
case $runs in '' | *[!0-9]* | 0) echo "loss.sh: RUNS must be a positive integer" >&2; exit 2 ;; esac
phases=${PHASES:-max imix rate search}
imix_frames=${IMIX_FRAMES:-$((frames / 5))}
rate=${RATE:-250000}
rate_frames=${RATE_FRAMES:-1000000}
search_frames=${SEARCH_FRAMES:-1000000}
search_iter=${SEARCH_ITER:-5}
wait_after=${WAIT:-2}
share_rate=${SHARE_RATE:-200000}
share_frames=${SHARE_FRAMES:-1000000}
share_iter=${SHARE_ITER:-7}
share_period=${SHARE_PERIOD_US:-10000}
share_min=$(( (100000 + share_period - 1) / share_period )) # percent: the kernel's smallest quota is 1 ms
quota= cg=

[ "$(id -u)" = 0 ] || { echo "loss.sh: needs root (XDP, network namespaces)" >&2; exit 2; }
if ! command -v trafgen >/dev/null; then
  echo "loss.sh: installing netsniff-ng (trafgen)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq netsniff-ng >/dev/null
fi
if ! command -v tcpdump >/dev/null; then
  echo "loss.sh: installing tcpdump" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump >/dev/null
fi
for t in ip tc taskset top argus ra trafgen tcpdump go; do
  command -v "$t" >/dev/null || { echo "loss.sh: needs $t" >&2; exit 2; }
done
[ "$(nproc)" -ge 2 ] || echo "loss.sh: warning: fewer than 2 CPUs; sender and receiver share one" >&2

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$repo" status --porcelain -- . ':!bench' 2>/dev/null)" ] || rev="$rev+uncommitted changes"
ns=pnloss$$
c1=pl$$c1 s1=pl$$s1 c2=pl$$c2 s2=pl$$s2
mac_s1=02:00:00:00:01:0a mac_c1=02:00:00:00:01:0b
mac_s2=02:00:00:00:02:0a mac_c2=02:00:00:00:02:0b
rpid= toppid= dir=
cleanup() {
  [ -z "$toppid" ] || kill "$toppid" 2>/dev/null || true
  if [ -n "$rpid" ]; then
    kill -INT "$rpid" 2>/dev/null || true
    wait "$rpid" 2>/dev/null || true
  fi
  ip link del "$c1" 2>/dev/null || true
  ip link del "$c2" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  [ -z "${cg:-}" ] || rmdir "$cg" 2>/dev/null || true
  if [ -n "$dir" ] && [ -z "${OUTDIR:-}" ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${OUTDIR:-}" ]; then
  dir=$OUTDIR
  mkdir -p "$dir"
else
  dir=$(mktemp -d)
fi
# A private copy of the binary: bin/panoptes may be rebuilt by others during the run.
if [ -n "${PANOPTES:-}" ]; then
  cp "$PANOPTES" "$dir/panoptes"
  rev="$rev (binary $PANOPTES, not rebuilt)"
else
  (cd "$repo" && go build -o "$dir/panoptes" ./cmd/panoptes)
fi
pnp=$dir/panoptes
(cd "$repo" && go build -o "$dir/mansum" ./bench/mansum && go build -o "$dir/rawxsk" ./bench/rawxsk)

# pair CAP SND QUEUES CAPMAC SNDMAC SUBNET
pair() {
  local cap=$1 snd=$2 q=$3 cmac=$4 smac=$5 net=$6
  ip link add "$cap" numtxqueues "$q" numrxqueues "$q" address "$cmac" type veth \
    peer name "$snd" numtxqueues "$q" numrxqueues "$q" address "$smac" netns "$ns"
  # IPv6 off before the links come up: no router/neighbour solicitations, no MLD.
  sysctl -qw net.ipv6.conf."$cap".disable_ipv6=1
  ip netns exec "$ns" sysctl -qw net.ipv6.conf."$snd".disable_ipv6=1
  sysctl -qw net.ipv4.conf."$cap".forwarding=0
  ip link set "$cap" mtu 1500 up
  ip -n "$ns" link set "$snd" mtu 1500 up
  ip -n "$ns" addr add "$net.1/24" dev "$snd"
  ip -n "$ns" neigh replace "$net.2" lladdr "$cmac" dev "$snd" nud permanent
  ip neigh replace "$net.1" lladdr "$smac" dev "$cap" nud permanent
}
ip netns add "$ns"
ip -n "$ns" link set lo up
pair "$c1" "$s1" 1 $mac_c1 $mac_s1 10.201.1
pair "$c2" "$s2" 2 $mac_c2 $mac_s2 10.201.2

# trafgen configurations: one packet definition per frame; trafgen sends them in turn.
udp() { # SMAC DMAC NET PAYLOAD
  printf '{\n  eth(da=%s, sa=%s),\n  ipv4(sa=%s.1, da=%s.2, ttl=64),\n  udp(sp=dinc(10000, 10255), dp=9000),\n  fill(0x41, %d)\n}\n' \
    "$2" "$1" "$3" "$3" "$4"
}
for p in 1 2; do
  eval "sm=\$mac_s$p cm=\$mac_c$p"
  udp "$sm" "$cm" 10.201.$p 18 >"$dir/udp64-$p.cfg" # 14 + 20 + 8 + 18 = 60 bytes (+ FCS = 64)
  : >"$dir/imix-$p.cfg"
  for i in 1 2 3 4 5 6 7; do udp "$sm" "$cm" 10.201.$p 18 >>"$dir/imix-$p.cfg"; done   # 64 B
  for i in 1 2 3 4; do udp "$sm" "$cm" 10.201.$p 524 >>"$dir/imix-$p.cfg"; done        # 570 B
  udp "$sm" "$cm" 10.201.$p 1472 >>"$dir/imix-$p.cfg"                                 # 1518 B
done

top -b -d 1 -w 250 >"$dir/top.log" 2>/dev/null &
toppid=$!

# foreign FROM TO PID: mean %CPU per top sample (HH:MM:SS times) of the processes that
# are not part of this run: everything but the receiver PID, trafgen and kernel threads.
# Other panoptes, argus or ra processes (other people's benchmarks) count as foreign.
foreign() {
  awk -v a="$1" -v b="$2" -v me="$3" '
    /^top - / { inwin = ($3 >= a && $3 <= b); if (inwin) n++; next }
    inwin && $1 ~ /^[0-9]+$/ && $1 != me && $9 + 0 >= 3 &&
      $12 !~ /^(trafgen|top|ksoftirqd|kworker|rcu_|migration|mansum|ip|tc|timeout|taskset)/ { s[$12 "(" $1 ")"] += $9 }
    END { for (k in s) { printf "%s%s:%.0f%%", sep, k, s[k] / n; sep = "," }; if (!length(s)) printf "none" }' "$dir/top.log"
}

# shape SND RATE: a token bucket policing SND to RATE 60-byte frames/s (0: none, noqueue).
# Bucket: 10 ms of tokens (at least 50 frames); queue: 100 frames. A longer queue can
# fill trafgen's socket send buffer, and trafgen aborts when a send returns
# EAGAIN ("Flushing TX_RING failed: Resource temporarily unavailable").
shape() {
  ip netns exec "$ns" tc qdisc del dev "$1" root 2>/dev/null || true
  [ "$2" = 0 ] && return 0
  local burst=$(($2 * 60 / 100))
  [ "$burst" -ge 3000 ] || burst=3000
  ip netns exec "$ns" tc qdisc add dev "$1" root tbf rate "$(($2 * 480))bit" burst "$burst" limit 6000
}
qdrops() { ip netns exec "$ns" tc -s qdisc show dev "$1" | awk '/dropped/ {gsub(/,/, ""); for (i = 1; i < NF; i++) if ($i == "(dropped") {print $(i + 1); exit}}'; }

nsget() { ip netns exec "$ns" cat "/sys/class/net/$1/statistics/$2"; }
rootget() { cat "/sys/class/net/$1/statistics/$2"; }
now() { date +%s%N; }

waitfor() { # FILE PATTERN SECONDS
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

loadline() { # load averages, CPU idle and the processes above 5% CPU over half a second
  top -b -n 2 -d 0.5 -w 200 | awk -v la="$(cut -d' ' -f1-3 /proc/loadavg)" '
    /^top -/ { it++ }
    it == 2 && /^%Cpu/ && match($0, /[0-9.]+ *id,/) { idle = substr($0, RSTART, RLENGTH); sub(/ *id,/, "", idle) }
    it == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 > 5 { busy = busy sprintf("%s %s%%, ", $12, $9) }
    END { printf "load average %s, CPU idle %s%%, processes above 5%%: %s", la, idle, (busy == "" ? "none" : busy) }'
}

results=$dir/runs.tsv
printf 'phase\tseries\trun\treq_pps\tframes\tsent\ttrafgen\telapsed_s\trate_pps\tcaptured\tcap_pct\trec_pkts\tdrops\tunaccounted\tdetail\n' >"$results"

# run_one PHASE SERIES RUN FRAMES REQRATE(0 = full speed) CFGKIND(udp64|imix)
# appends a line to $results and prints it.
run_one() {
  local phase=$1 series=$2 run=$3 n=$4 req=$5 kind=$6
  local p=1 queues=1 cap snd cfg out err extra=() mypid=none
  case $series in panoptes-q2) p=2 queues=2 ;; esac
  case $series in
    panoptes-q1-big) extra=(--ring-size 16384 --umem-frames 32768) ;;
    panoptes-q1-generic) extra=(--xdp-mode generic) ;;
  esac
  eval "cap=\$c$p snd=\$s$p"
  cfg=$dir/$kind-$p.cfg
  out=$dir/out.$series
  err=$dir/err.$series
  rm -f "$out" "$err"
  case $series in
    panoptes* | raw-xsk)
      if [ "$series" = raw-xsk ]; then
        taskset -c 1 "$dir/rawxsk" -i "$cap" --queues "$queues" ${XDP_FLAGS:-} 2>"$err" &
      else
        taskset -c 1 "$pnp" sensor -i "$cap" -w "$out" --queues "$queues" ${XDP_FLAGS:-} "${extra[@]}" 2>"$err" &
      fi
      rpid=$!
      local i
      for ((i = 0; i < 200; i++)); do
        ip link show "$cap" | grep -q ' xdp' && break
        kill -0 "$rpid" 2>/dev/null || break
        sleep 0.05
      done
      # The sockets are bound and their fill rings filled just after the attach.
      sleep 0.5
      ;;
    argus)
      taskset -c 1 argus -M 1 -i "$cap" -w "$out" 2>"$err" &
      rpid=$!
      waitfor "$err" "is up" 10 || true
      sleep 0.5
      ;;
    tcpdump)
      taskset -c 1 tcpdump -n -i "$cap" -w /dev/null 2>"$err" &
      rpid=$!
      waitfor "$err" "listening on" 10 || true
      sleep 0.5
      ;;
    none) ;;
  esac
  if [ -n "$rpid" ] && ! kill -0 "$rpid" 2>/dev/null; then
    echo "loss.sh: $series did not start:" >&2
    cat "$err" >&2
    exit 1
  fi
  if [ -n "$rpid" ] && [ -n "${quota:-}" ]; then
    # Share phase: the ready receiver (all its threads) into the CPU-limited group.
    echo "$rpid" >"$cg/cgroup.procs"
  fi
  shape "$snd" "$req"
  local w0
  w0=$(date +%T)
  local tx0 txd0 rx0 rxd0 t0 t1 tx1 txd1 rx1 rxd1
  tx0=$(nsget "$snd" tx_packets) txd0=$(nsget "$snd" tx_dropped)
  rx0=$(rootget "$cap" rx_packets) rxd0=$(rootget "$cap" rx_dropped)
  local cpu0=0
  [ -z "$rpid" ] || cpu0=$(awk '{print $14 + $15}' "/proc/$rpid/stat" 2>/dev/null || echo 0)
  t0=$(now)
  if [ "$req" = 0 ]; then
    ip netns exec "$ns" taskset -c 0 trafgen --no-sock-mem --qdisc-path -P1 -o "$snd" -i "$cfg" \
      -n "$n" >"$dir/trafgen.out" 2>&1
  else
    # Full speed into the policer for as long as N frames take at the rate.
    local secs
    secs=$(awk -v n="$n" -v r="$req" 'BEGIN {printf "%.3f", n / r}')
    ip netns exec "$ns" timeout -s INT "$secs" taskset -c 0 trafgen --no-sock-mem --qdisc-path -P1 \
      -o "$snd" -i "$cfg" >"$dir/trafgen.out" 2>&1 || true
  fi
  t1=$(now)
  tx1=$(nsget "$snd" tx_packets) txd1=$(nsget "$snd" tx_dropped)
  sleep "$wait_after"
  rx1=$(rootget "$cap" rx_packets) rxd1=$(rootget "$cap" rx_dropped)
  local cpu=-
  if [ -n "$rpid" ]; then
    # The receiver's CPU time (user + system, all threads) from the start of sending to
    # now, before its exit flush: the cost of capturing what was sent, without start-up.
    cpu=$(awk -v hz="$(getconf CLK_TCK)" -v c0="$cpu0" '{printf "%.2f", ($14 + $15 - c0) / hz}' "/proc/$rpid/stat" 2>/dev/null || echo -)
    kill -INT "$rpid" 2>/dev/null || true
    wait "$rpid" || echo "loss.sh: $series exited with status $?" >&2
    mypid=$rpid rpid=
  fi
  local qd=0
  [ "$req" = 0 ] || { qd=$(qdrops "$snd"); shape "$snd" 0; }
  local fg
  fg=$(foreign "$w0" "$(date +%T)" "$mypid")
  local tg sent el rt
  tg=$(tr -d '\r' <"$dir/trafgen.out" | awk '/packets outgoing/ {print $1; exit}')
  sent=$((tx1 - tx0))
  el=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')
  rt=$(awk -v s="$sent" -v e="$el" 'BEGIN {printf "%.0f", s / e}')
  local captured=- recp=- drops=- detail=""
  case $series in
    panoptes*)
      # panoptes sensor: total  seen received passed rx_dropped ring_full fill_empty invalid meta_err
      local tot
      tot=$(awk '$3 == "total" {print $4, $5, $6, $7, $8, $9, $10, $11}' "$err")
      [ -n "$tot" ] || { echo "loss.sh: no totals line from panoptes:" >&2; cat "$err" >&2; exit 1; }
      set -- $tot
      local seen=$1 recv=$2 passed=$3 rxdrop=$4 rfull=$5 fempty=$6 inval=$7 merr=$8
      captured=$recv
      drops=$((rxdrop + rfull + inval + passed))
      recp=$("$pnp" read -r "$out" -s pkts -L -1 -- not man | awk '{s += $1} END {print s + 0}') || recp="read-failed:$recp"
      local ms perq
      ms=$("$dir/mansum" "$out" | tr ' ' '\n' | awk -F= '$1 == "man_drops" {print $2}') || ms=mansum-failed
      perq=$(awk 'NF == 11 && $4 ~ /^[0-9]+$/ && $3 != "total" {printf "%s%s=%s", sep, $3, $5; sep = ","}' "$err")
      detail="seen=$seen received=$recv($perq) passed=$passed rx_dropped=$rxdrop ring_full=$rfull fill_empty=$fempty invalid=$inval meta_err=$merr brief_sum(rx_dropped+fill_empty+ring_full)=$((rxdrop + fempty + rfull)) man_drops=$ms"
      # "N records dropped (writer ring full)" in older builds, "N dropped inside the
      # sensor (full rings)" and "N dropped by the NIC" in newer ones.
      detail="$detail sensor_ring_dropped=$(awk 'match($0, /[0-9]+ (records dropped \(writer ring full\)|dropped inside the sensor)/) {$0 = substr($0, RSTART, RLENGTH); print $1}' "$err")"
      detail="$detail nic_dropped=$(awk 'match($0, /[0-9]+ dropped by the NIC/) {$0 = substr($0, RSTART, RLENGTH); print $1}' "$err")"
      ;;
    raw-xsk)
      local tot
      tot=$(awk '$3 == "total" {print $4, $5, $6, $7, $8, $9, $10, $11}' "$err")
      [ -n "$tot" ] || { echo "loss.sh: no totals line from rawxsk:" >&2; cat "$err" >&2; exit 1; }
      set -- $tot
      captured=$2
      drops=$(($4 + $5 + $7 + $3))
      detail="seen=$1 received=$2 passed=$3 rx_dropped=$4 ring_full=$5 fill_empty=$6 invalid=$7"
      ;;
    argus)
      captured=$(ra -r "$out" -s pkts -L -1 - not man | awk '{s += $1} END {print s + 0}')
      recp=$captured
      drops=$(ra -r "$out" -s loss -L -1 - man | awk '{s += $1} END {print s + 0}')
      local mp
      mp=$(ra -r "$out" -s spkts -L -1 - man | awk '{s += $1} END {print s + 0}')
      detail="argus_mar_pktsRcvd=$mp mar_records=$(ra -r "$out" -s pkts -L -1 - man | wc -l) flow_records=$(ra -r "$out" -s pkts -L -1 - not man | wc -l)"
      ;;
    tcpdump)
      captured=$(awk '/packets captured/ {print $1}' "$err")
      drops=$(awk '/dropped by kernel/ {print $1}' "$err")
      detail="received_by_filter=$(awk '/received by filter/ {print $1}' "$err")"
      ;;
  esac
  local pct=- un=-
  if [ "$captured" != - ]; then
    pct=$(awk -v c="$captured" -v s="$sent" 'BEGIN {printf "%.4f", 100 * c / s}')
    un=$((sent - captured - drops))
  fi
  detail="$detail cap_rx_packets=$((rx1 - rx0)) cap_rx_dropped=$((rxd1 - rxd0)) snd_tx_dropped=$((txd1 - txd0))"
  [ "$req" = 0 ] || detail="$detail tbf_dropped=$qd"
  # trafgen counts frames the policer dropped in some runs and not in others.
  [ "$tg" = "$sent" ] || [ "$tg" = "$((sent + qd))" ] || detail="$detail WARNING:trafgen_count($tg)!=veth_tx"
  detail="$detail rx_cpu_s=$cpu other_cpu=$fg"
  [ -z "${quota:-}" ] || detail="$detail cpu_quota=${quota}%"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$series" "$run" "$req" "$n" \
    "$sent" "$tg" "$el" "$rt" "$captured" "$pct" "$recp" "$drops" "$un" "$detail" | tee -a "$results"
  sleep 0.5
}

# summary PHASE: medians over runs per series.
summary() {
  awk -F'\t' -v ph="$1" '
    $1 == ph { k = $2; n[k]++; if (!(k in ord)) { ord[k] = ++no; name[no] = k }
      sent[k, n[k]] = $6; rate[k, n[k]] = $9; pct[k, n[k]] = $11; dr[k, n[k]] = $13; un[k, n[k]] = $14 }
    function med(a, k, m,    i, j, t, v) {
      for (i = 1; i <= m; i++) v[i] = a[k, i]
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
      if (v[1] == "-") return "-"
      return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
    }
    function mn(a, k, m, mx,    i, r) {
      r = a[k, 1]
      for (i = 2; i <= m; i++) if ((mx && a[k, i] + 0 > r + 0) || (!mx && a[k, i] + 0 < r + 0)) r = a[k, i]
      return r
    }
    END {
      printf "| %s | runs | sent (median) | rate pps median (min-max) | captured %% median (min-max) | drops reported median (max) | unaccounted median (min-max) |\n", ph
      print "|---|---|---|---|---|---|---|"
      for (i = 1; i <= no; i++) {
        k = name[i]; m = n[k]
        printf "| %s | %d | %s | %s (%s-%s) | %s (%s-%s) | %s (%s) | %s (%s-%s) |\n", k, m, med(sent, k, m),
          med(rate, k, m), mn(rate, k, m, 0), mn(rate, k, m, 1),
          med(pct, k, m), mn(pct, k, m, 0), mn(pct, k, m, 1),
          med(dr, k, m), mn(dr, k, m, 1), med(un, k, m), mn(un, k, m, 0), mn(un, k, m, 1)
      }
    }' "$results"
}

# series_loop PHASE FRAMES REQRATE KIND SERIES...: RUNS runs, order rotated every run.
series_loop() {
  local phase=$1 n=$2 req=$3 kind=$4
  shift 4
  local list=("$@") r i c=${#list[@]}
  if [ -n "${SERIES:-}" ]; then
    local keep=() s
    for s in "${list[@]}"; do case " $SERIES " in *" $s "*) keep+=("$s") ;; esac; done
    list=("${keep[@]}")
    c=${#list[@]}
    [ "$c" -gt 0 ] || return 0
  fi
  echo "== phase $phase: $n frames ($kind), $([ "$req" = 0 ] && echo "full speed" || echo "tbf at $req frames/s"), $runs runs; $(loadline)"
  for ((r = 1; r <= runs; r++)); do
    for ((i = 0; i < c; i++)); do
      run_one "$phase" "${list[$(((i + r - 1) % c))]}" "$r" "$n" "$req" "$kind"
    done
  done
  echo
  summary "$phase"
  echo
  cpusummary "$phase"
  echo
}

# cpusummary PHASE: the receivers' CPU time (user + system, read before they were told
# to stop) per captured frame, medians over runs. On veth the kernel's part of receiving
# (XDP, the copy into the UMEM or the packet ring) runs on the sender's CPU and is not
# in these numbers: they are the consumer's cost, the part that differs between tools.
cpusummary() {
  awk -F'\t' -v ph="$1" '
    $1 == ph && $2 != "none" && match($15, /rx_cpu_s=[0-9.]+/) {
      k = $2; c = substr($15, RSTART + 9, RLENGTH - 9)
      n[k]++; if (!(k in ord)) { ord[k] = ++no; name[no] = k }
      cpu[k, n[k]] = c; per[k, n[k]] = ($10 > 0) ? 1e9 * c / $10 : 0 }
    function med(a, k, m,    i, j, t, v) {
      for (i = 1; i <= m; i++) v[i] = a[k, i]
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
      return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
    }
    END {
      if (!no) exit
      printf "| %s | runs | receiver CPU s (median) | CPU ns per captured frame (median) | frames/s one core could consume |\n", ph
      print "|---|---|---|---|---|"
      for (i = 1; i <= no; i++) {
        k = name[i]; p = med(per, k, n[k])
        printf "| %s | %d | %.2f | %.0f | %s |\n", k, n[k], med(cpu, k, n[k]), p, (p > 0 ? sprintf("%.0f", 1e9 / p) : "-")
      }
    }' "$results"
}

lost() { # a results line -> 0 if frames were lost (captured < sent)
  awk -F'\t' '{exit !($10 + 0 < $6 + 0)}' <<<"$1"
}

search() { # SERIES FULLRATE
  local series=$1 full=$2 lo=0 hi best=- bestreq=- it line req
  hi=$full
  echo "== zero-loss search: $series, $search_frames frames per trial, at most $search_iter trials; $(loadline)"
  for ((it = 1; it <= search_iter; it++)); do
    if [ "$it" = 1 ]; then req=0; else req=$(((lo + hi) / 2)); fi
    run_one "search" "$series" "$it" "$search_frames" "$req" udp64 >"$dir/line"
    line=$(cat "$dir/line")
    cat "$dir/line"
    local achieved
    achieved=$(cut -f9 <<<"$line")
    if lost "$line"; then
      if [ "$it" = 1 ]; then hi=$full; else hi=$req; fi
    else
      if [ "$best" = - ] || [ "$achieved" -gt "$best" ]; then best=$achieved bestreq=$req; fi
      [ "$it" = 1 ] && break
      lo=$req
    fi
  done
  if [ "$bestreq" = 0 ]; then
    echo "zero-loss $series: no frame lost at full speed, $best pps: a lower bound (the generator, slowed by this receiver's kernel work on its CPU, went no faster)"
  else
    echo "zero-loss $series: highest achieved rate with 0 frames lost: $best pps (bucket at $bestreq)"
  fi
  echo "zero-loss $series $best" >>"$dir/zeroloss"
  echo
}

echo "loss.sh: panoptes $rev; $(uname -r); $(nproc) CPUs; trafgen $(trafgen -v 2>&1 | awk 'NR == 1 {print $2}'); $(argus -h 2>&1 | awk 'NR == 1'); $(tcpdump --version 2>&1 | head -1)"
echo "start $(date -u +%FT%TZ); $(loadline)"
echo

# share SERIES: the smallest CPU quota (percent of one core, cgroup v1 CFS bandwidth in
# periods of SHARE_PERIOD_US, default 10,000 µs) at which SERIES captures SHARE_FRAMES frames sent at SHARE_RATE frames/s
# without loss; bisection between 0 and 100% in SHARE_ITER trials. The generator is
# not the limit here: the receiver is, so the quota needed measures its consumer's cost
# per frame when frames wait in its ring (large batches), as on a NIC at full load.
share() {
  local series=$1 lo=0 hi=100 q line best=-
  echo "== CPU share search: $series, $share_frames frames at $share_rate frames/s; $(loadline)"
  for ((it = 1; it <= share_iter; it++)); do
    q=$(((lo + hi + 1) / 2))
    [ "$it" = 1 ] && q=100
    [ "$q" -ge "$share_min" ] || q=$share_min # the kernel's smallest quota is 1 ms
    echo $((q * share_period / 100)) >"$cg/cpu.cfs_quota_us"
    quota=$q run_one share "$series" "$it" "$share_frames" "$share_rate" udp64 >"$dir/line"
    line=$(cat "$dir/line")
    cat "$dir/line"
    if lost "$line"; then
      lo=$q
      [ "$it" = 1 ] && break
    else
      best=$q hi=$q
    fi
    [ $((hi - lo)) -gt 1 ] && [ "$hi" -gt "$share_min" ] || break
  done
  echo -1 >"$cg/cpu.cfs_quota_us"
  if [ "$best" = - ]; then
    echo "share $series: lost frames even with a whole core"
  else
    echo "share $series: no loss at $best% of a core (loss at $lo%): about $((share_rate * 100 / best)) frames/s per core"
  fi
  echo "share $series $best" >>"$dir/shares"
  echo
}

for ph in $phases; do
  case $ph in
    max) series_loop max "$frames" 0 udp64 none raw-xsk panoptes-q1 panoptes-q2 panoptes-q1-big panoptes-q1-generic argus tcpdump ;;
    imix) series_loop imix "$imix_frames" 0 imix none panoptes-q1 panoptes-q2 argus tcpdump ;;
    rate) series_loop rate "$rate_frames" "$rate" udp64 none raw-xsk panoptes-q1 panoptes-q2 argus tcpdump ;;
    search)
      full=$(awk -F'\t' '$1 == "max" && $2 == "none" {print $9}' "$results" | sort -n | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]}')
      if [ -z "$full" ]; then
        run_one search-ceiling none 1 "$search_frames" 0 udp64 >"$dir/line"
        cat "$dir/line"
        full=$(cut -f9 "$dir/line")
      fi
      : >"$dir/zeroloss"
      search raw-xsk "$full"
      search panoptes-q1 "$full"
      search argus "$full"
      awk '{z[$2] = $3} END {if (z["panoptes-q1"] != "-" && z["argus"] != "-" && z["argus"] > 0)
        printf "zero-loss rate ratio panoptes-q1 / argus: %.2f (a lower bound where the panoptes rate is one)\n", z["panoptes-q1"] / z["argus"]}' "$dir/zeroloss"
      echo
      ;;
    share)
      [ -d /sys/fs/cgroup/cpu ] || { echo "loss.sh: share phase needs the cgroup v1 cpu controller at /sys/fs/cgroup/cpu" >&2; exit 2; }
      cg=/sys/fs/cgroup/cpu/pnloss$$
      mkdir -p "$cg"
      echo "$share_period" >"$cg/cpu.cfs_period_us"
      : >"$dir/shares"
      for s in ${SHARE_SERIES:-raw-xsk panoptes-q1 argus tcpdump}; do share "$s"; done
      awk '{z[$2] = $3} END {
        if (z["panoptes-q1"] + 0 > 0 && z["argus"] + 0 > 0) printf "CPU share ratio argus / panoptes-q1: %.2f (panoptes needs %s%%, argus %s%%)\n", z["argus"] / z["panoptes-q1"], z["panoptes-q1"], z["argus"]
        if (z["panoptes-q1"] + 0 > 0 && z["raw-xsk"] + 0 > 0) printf "CPU share ratio raw-xsk / panoptes-q1: %.2f (panoptes reaches %.0f%% of the raw AF_XDP consumer per CPU)\n", z["raw-xsk"] / z["panoptes-q1"], 100 * z["raw-xsk"] / z["panoptes-q1"] }' "$dir/shares"
      echo
      ;;
    *) echo "loss.sh: unknown phase $ph" >&2; exit 2 ;;
  esac
done

echo "end $(date -u +%FT%TZ); $(loadline)"
if [ -n "${OUTDIR:-}" ] || [ "${KEEP:-0}" = 1 ]; then echo "per-run table and outputs: $dir"; fi
