#!/usr/bin/env bash
# sqlread.sh ARGUS_FILE [RUNS]
#
# The SQL repository's reading benchmark (issue #13): the records of ARGUS_FILE are
# written into one MariaDB table (by `panoptes read -w mysql://`, InnoDB with indexes
# on stime, saddr, daddr, sport, dport; its `record` column is what rasql reads) and one
# PostgreSQL table, then read back, printed to /dev/null:
#   Argus's `rasql -r mysql://...`            and  `panoptes read -r mysql://...`
#   `rasql -r mysql://... - host X`           and  `panoptes read -r mysql://... -- host X`
#   `panoptes read -r postgres://...` and `... -- host X`
# X is an address of a few hundred records. Seconds (wall clock) and records/s, median
# of RUNS (default 3). rasql takes no socket option: it runs with HOME in the temporary
# directory, whose .my.cnf names the private socket. Results: bench/SQL-RESULTS.md.
# Needs: mariadb-server postgresql argus-client (apt-get install -y ...).
set -euo pipefail
in=${1:?usage: sqlread.sh ARGUS_FILE [RUNS]}
runs=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
(cd "$here" && go build -o bin/panoptes ./cmd/panoptes)
pan=$here/bin/panoptes
tmp=$(mktemp -d /tmp/sqlread.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 2; rm -rf "$tmp"; }
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

mariadb-install-db --no-defaults --user=root --datadir="$tmp/my" --auth-root-authentication-method=socket --skip-test-db >/dev/null
mariadbd --no-defaults --user=root --datadir="$tmp/my" --socket="$tmp/my.sock" --tmpdir="$tmp" --skip-networking --pid-file="$tmp/my.pid" --log-error="$tmp/my.err" &
pids+=($!)
mkdir "$tmp/pg" && chown postgres "$tmp/pg"
pgbin=/usr/lib/postgresql/15/bin
runuser -u postgres -- "$pgbin/initdb" -D "$tmp/pg/data" -U postgres --auth=trust >/dev/null
runuser -u postgres -- "$pgbin/postgres" -D "$tmp/pg/data" -k "$tmp/pg" -c listen_addresses= >"$tmp/pg.log" 2>&1 &
pids+=($!)
for i in $(seq 100); do mariadb -S "$tmp/my.sock" -u root -e 'select 1' >/dev/null 2>&1 && psql -h "$tmp/pg" -U postgres -c 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
printf '[client]\nsocket=%s\n' "$tmp/my.sock" >"$tmp/.my.cnf"
my() { mariadb -S "$tmp/my.sock" -u root -N "$@"; }

myurl="mysql://root@localhost/pan/flows?socket=$tmp/my.sock"
pgurl="postgres://postgres@/postgres/flows?host=$tmp/pg"
"$pan" read -r "$in" -w "$myurl" 2>/dev/null
"$pan" read -r "$in" -w "$pgurl" 2>/dev/null
n=$(my pan -e "select count(*) from flows")
host=$(my pan -e "select saddr from flows group by saddr having count(*) between 200 and 2000 order by count(*) desc limit 1")
nh=$(my pan -e "select count(*) from flows where saddr='$host' or daddr='$host'")
echo "input: $in; table: $n rows; host $host: $nh rows"
echo "$(mariadb --version | cut -c1-60); $(psql --version)"

# time_cmd NAME CMD...: runs CMD RUNS times, prints the runs and the median.
time_cmd() {
  local name=$1; shift
  local ts=()
  for r in $(seq "$runs"); do
    local t0 t1
    t0=$(now)
    "$@" >"$tmp/out" 2>"$tmp/err" || true
    t1=$(now)
    ts+=("$(echo "$t1 - $t0" | bc)")
  done
  local lines med
  lines=$(grep -c . "$tmp/out" || true)
  med=$(printf '%s\n' "${ts[@]}" | median)
  printf '%-44s %8s s (%s)  %7s lines  %s records/s\n' "$name" "$med" "${ts[*]}" "$lines" "$(echo "$n / $med" | bc)"
}
export HOME=$tmp
time_cmd "rasql -r mysql://" rasql -r "mysql://root@localhost/pan/flows" -n
time_cmd "panoptes read -r mysql://" "$pan" read -r "$myurl" -n
time_cmd "rasql -r mysql:// - host X" rasql -r "mysql://root@localhost/pan/flows" -n - host "$host"
time_cmd "panoptes read -r mysql:// -- host X" "$pan" read -r "$myurl" -n -- host "$host"
time_cmd "panoptes read -r postgres://" "$pan" read -r "$pgurl" -n
time_cmd "panoptes read -r postgres:// -- host X" "$pan" read -r "$pgurl" -n -- host "$host"
