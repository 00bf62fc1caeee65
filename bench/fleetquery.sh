#!/usr/bin/env bash
# fleetquery.sh WORK_DIR
#
# The fleet query benchmark (issue #15, goal "fleet query"): three archive hosts, each a
# relay that wrote the shared trace's records into its own archive and answers for its
# site with --query-service on one nats-server, then
#   - `count -R nats://.../*` against the sum of the three local `count -R DIR`;
#   - `read -R nats://.../* -- host X` for a rare X (in one record of the trace, so in
#     one record of each archive) against `read -R DIRn -- host X` on each archive alone:
#     the goal is the fleet read within 2x of the slowest single host's local read.
# Results: bench/FLEET-RESULTS.md ("Fleet queries").
#
#   bench/fleetquery.sh /work/bench-data/fleetquery
#
# WORK_DIR must be outside the repository; it is deleted first. Environment:
#   RECORDS=FILE  the trace's records (default: imported from TRACE into WORK_DIR)
#   TRACE=FILE    the trace (default /work/bench-data/trace.pcap)
#   RUNS=N        timed runs of each query (default 5); medians are reported
#   HOST=ADDR     the rare host (default: the first destination address seen in one record)
set -euo pipefail
work=${1:?usage: fleetquery.sh WORK_DIR}
runs=${RUNS:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
case "$(realpath -m "$work")" in "$repo"/*) echo "WORK_DIR must be outside the repository" >&2; exit 2 ;; esac
rm -rf "$work"
mkdir -p "$work"
(cd "$repo" && go build -o "$work/panoptes" ./cmd/panoptes)
P=$work/panoptes
records=${RECORDS:-}
if [ -z "$records" ]; then
	records=$work/trace.pnp
	$P import -q -r "${TRACE:-/work/bench-data/trace.pcap}" -w "$records"
fi
for i in 0 1 2; do
	$P relay -r "$records" -w "$work/archive$i/" 2>/dev/null
done
# An empty record stream: the query hosts' relays replay it and then only answer.
$P read -r "$records" -w "$work/empty.pnp" -- host 0.0.0.1 || true
host=${HOST:-$($P read -r "$records" -s daddr -c , -L -1 | sort | uniq -c | awk '$1 == 1 && !h { h = $2 } END { print h }')}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
nats-server -a 127.0.0.1 -p "$port" >"$work/nats-server.log" 2>&1 &
pids+=($!)
sleep 0.5
broker=nats://127.0.0.1:$port
for i in 0 1 2; do
	$P relay -r "$work/empty.pnp" -w "$work/archive$i/" --query-service "$broker/site$i" 2>"$work/relay$i.log" &
	pids+=($!)
done
sleep 2 # the relays publish a snapshot of their index at their first flush (1 s)

# median of the elapsed seconds of RUNS runs of a command (output discarded)
median() {
	local t=()
	for _ in $(seq "$runs"); do
		local s e
		s=$(date +%s.%N)
		"$@" >/dev/null 2>&1 || [ $? -eq 1 ]
		e=$(date +%s.%N)
		t+=("$(echo "$e - $s" | bc)")
	done
	printf '%s\n' "${t[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] }'
	echo " (runs: $(printf '%s ' "${t[@]}" | xargs printf '%.2f '))" >&2
}

sum=0
for i in 0 1 2; do
	n=$($P count -R "$work/archive$i" | awk '$1 == "sum" { print $2 }')
	sum=$((sum + n))
done
fleet=$($P count -R "$broker/*" | awk '$1 == "sum" { print $2 }')
echo "count: local archives sum to $sum records; count -R $broker/* says $fleet"

echo "rare host: $host"
slowest=0
for i in 0 1 2; do
	m=$(median $P read -R "$work/archive$i" -- host "$host")
	echo "local read -R archive$i -- host $host: median $m s"
	slowest=$(echo "if ($m > $slowest) $m else $slowest" | bc)
done
m=$(median $P read -R "$broker/*" -- host "$host")
echo "fleet read -R $broker/* -- host $host: median $m s"
echo "ratio to the slowest local read ($slowest s): $(echo "scale=2; $m / $slowest" | bc)"
echo "lines: local $(for i in 0 1 2; do $P read -R "$work/archive$i" -L -1 -- host "$host"; done | wc -l), fleet $($P read -R "$broker/*" -L -1 -- host "$host" | wc -l)"
nproc
uptime
