#!/usr/bin/env bash
# fleet.sh RECORDS [RUNS]
#
# The ingest goal of issue #15: how fast one `panoptes relay --subscribe` stores records
# from NATS JetStream. RECORDS is a Panoptes record stream: the shared 3 M-packet trace
# imported (`panoptes import -r trace.pcap -w RECORDS`, 549,919 records with the
# management records; /work/shared/bench/make-trace.sh builds the trace). RUNS (default
# 3) runs of each series. Builds bin/panoptes first. Needs nats-server
# (apt-get install -y nats-server), curl and /usr/bin/time.
#
# Set-up, once: a nats-server with JetStream on a random loopback port, its store in a
# temporary directory; three publishers `panoptes relay -r RECORDS --publish
# nats://HOST:PORT/panoptes.siteN.tap1` (three sites) fill the stream PANOPTES with
# 3 x RECORDS (1,000 records per message). Then, per run and series, a relay with a new
# durable consumer reads the whole stream:
#   archive   relay --subscribe nats://HOST:PORT/panoptes.>?durable=D -w DIR/  (an archive)
#   file      relay --subscribe ... -w FILE.pnp                              (a stream file)
# The clock runs from the relay's start to the moment its metrics
# (panoptes_relay_records_out_total{output="archive"}, polled every 0.1 s) count every
# record; then it is stopped with SIGINT.
#
# BASELINE=BIN (optional) adds a third series, archive-base: the archive series run by
# another build of panoptes (e.g. one of main), interleaved with the others, for a
# before/after comparison on the same stream and load.
#
# Output: one line per run and series: records, elapsed s, records/s, the relay's CPU
# s (user+sys, /usr/bin/time) and records per CPU second (what the relay costs, whatever
# else the machine is doing), then the load average.
set -euo pipefail
records=${1:?usage: fleet.sh RECORDS [RUNS]}
runs=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
(cd "$repo" && go build -o bin/panoptes ./cmd/panoptes)
bin=$repo/bin/panoptes
work=$(mktemp -d)
nats_pid=
cleanup() {
  [ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(freeport)
nats-server -js -a 127.0.0.1 -p "$port" -sd "$work/js" >"$work/nats.log" 2>&1 &
nats_pid=$!
url=nats://127.0.0.1:$port
echo "# $(date -u +%FT%TZ) commit $(git -C "$repo" rev-parse --short HEAD) $(nats-server --version)"
start=$(date +%s.%N)
for site in 1 2 3; do
  "$bin" relay --config "" -r "$records" --publish "$url/panoptes.site$site.tap1" 2>"$work/pub$site.log" &
done
wait_pubs=0
for job in $(jobs -p); do
  [ "$job" = "$nats_pid" ] && continue
  wait "$job" || wait_pubs=$?
done
[ "$wait_pubs" = 0 ] || { cat "$work"/pub*.log >&2; exit 1; }
total=$(grep -ho '[0-9]* records relayed' "$work"/pub*.log | awk '{s += $1} END {print s}')
echo "# published $total records (3 x RECORDS) in $(echo "$(date +%s.%N) - $start" | bc) s"

run() { # series
  local series=$1 mport out dur n t0 t1 cpu
  mport=$(freeport)
  out=$work/out-$series
  [ "$series" = file ] && out=$work/out.pnp || out=$out/
  local rbin=$bin
  [ "$series" = archive-base ] && rbin=$BASELINE
  rm -rf "$work/out-$series" "$work/out.pnp"
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/time" "$rbin" relay --config "" --subscribe "$url/panoptes.>?durable=d$RANDOM$RANDOM" \
    -w "$out" --metrics "127.0.0.1:$mport" 2>"$work/relay.log" &
  local pid=$!
  for _ in $(seq 6000); do
    n=$(curl -s "127.0.0.1:$mport/metrics" | awk '/^panoptes_relay_records_out_total\{output="archive"\}/ {printf "%d", $2}' || true)
    [ "${n:-0}" -ge "$total" ] && break
    sleep 0.1
  done
  t1=$(date +%s.%N)
  # /usr/bin/time ignores SIGINT: the relay is its child.
  kill -INT "$(pgrep -P "$pid")"
  wait "$pid" || true
  dur=$(echo "$t1 - $t0" | bc)
  cpu=$(awk '{print $1 + $2}' "$work/time")
  printf '%-12s %9d records %7.2f s %10.0f records/s  cpu %6.2f s %10.0f records/cpu-s\n' \
    "$series" "${n:-0}" "$dur" "$(echo "${n:-0} / $dur" | bc -l)" "$cpu" "$(echo "${n:-0} / $cpu" | bc -l)"
}
for r in $(seq "$runs"); do
  for s in archive file ${BASELINE:+archive-base}; do run "$s"; done
done
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
