#!/usr/bin/env bash
# sql.sh ARGUS_FILE [RUNS]
#
# The SQL repository benchmark (issue #13, "Fast"): the same Argus records written into
# MariaDB by Argus's rasqlinsert and by `panoptes read -r FILE -w mysql://...`, and into
# PostgreSQL by `panoptes read -w postgres://...`; records/s = rows in the table /
# seconds, median of RUNS (default 3). Each server runs in a temporary directory on a
# private socket (as root: MariaDB with --user=root, PostgreSQL as user postgres).
# rasqlinsert 5.0 does not exit after its last record (and sometimes crashes, losing
# the last few thousand): its time is from its start until the table stops growing,
# and it is then killed (by its pid). Last, the servers' own bulk loaders load the same
# rows (no client, no indexes): the most any client gets on this machine. Results:
# bench/SQL-RESULTS.md.
# Needs: mariadb-server postgresql argus-client (apt-get install -y ...).
set -euo pipefail
in=${1:?usage: sql.sh ARGUS_FILE [RUNS]}
runs=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
(cd "$here" && go build -o bin/panoptes ./cmd/panoptes)
pan=$here/bin/panoptes
tmp=$(mktemp -d /tmp/sqlbench.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 2; rm -rf "$tmp"; }
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

mariadb-install-db --no-defaults --user=root --datadir="$tmp/my" --auth-root-authentication-method=socket --skip-test-db >/dev/null
mariadbd --no-defaults --user=root --datadir="$tmp/my" --socket="$tmp/my.sock" --skip-networking --pid-file="$tmp/my.pid" --log-error="$tmp/my.err" &
pids+=($!)
mkdir "$tmp/pg" && chown postgres "$tmp/pg"
pgbin=/usr/lib/postgresql/15/bin
runuser -u postgres -- "$pgbin/initdb" -D "$tmp/pg/data" -U postgres --auth=trust >/dev/null
runuser -u postgres -- "$pgbin/postgres" -D "$tmp/pg/data" -k "$tmp/pg" -c listen_addresses= >"$tmp/pg.log" 2>&1 &
pids+=($!)
for i in $(seq 100); do mariadb -S "$tmp/my.sock" -u root -e 'select 1' >/dev/null 2>&1 && psql -h "$tmp/pg" -U postgres -c 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
my() { mariadb -S "$tmp/my.sock" -u root -N "$@"; }
rows_my() { my -e "select sum(table_rows) from information_schema.tables where table_schema='$1' and table_name like 'argus%'" 2>/dev/null || echo 0; }
count_my() { local n=0; for t in $(my "$1" -e "show tables like 'argus%'"); do n=$((n + $(my "$1" -e "select count(*) from $t"))); done; echo $n; }

echo "input: $in ($(ra -r "$in" -n -s stime 2>/dev/null | wc -l) Argus records)"
# rasqlinsert reads the server's default socket: point it at ours for its runs.
mkdir -p /run/mysqld
sockbak=""
[ -e /run/mysqld/mysqld.sock ] && { sockbak=$tmp/sock.bak; mv /run/mysqld/mysqld.sock "$sockbak"; }
ln -s "$tmp/my.sock" /run/mysqld/mysqld.sock
rsq=()
for r in $(seq "$runs"); do
  my -e "drop database if exists ra$r"
  t0=$(now)
  rasqlinsert -m none -M time 1d -r "$in" -w "mysql://root@localhost/ra$r/argus_%Y_%m_%d" >/dev/null 2>&1 &
  rp=$!
  last=-1; tlast=$t0; stable=0
  while :; do
    sleep 0.5
    n=$(count_my "ra$r" 2>/dev/null || echo 0)
    if [ "$n" = "$last" ]; then stable=$((stable + 1)); else last=$n; tlast=$(now); stable=0; fi
    if ! kill -0 "$rp" 2>/dev/null || [ $stable -ge 10 ]; then break; fi
  done
  kill -9 "$rp" 2>/dev/null || true; wait "$rp" 2>/dev/null || true
  rate=$(echo "$last / ($tlast - $t0)" | bc)
  echo "rasqlinsert run $r: $last rows, $rate records/s"
  rsq+=("$rate")
done
rm -f /run/mysqld/mysqld.sock
[ -n "$sockbak" ] && mv "$sockbak" /run/mysqld/mysqld.sock
pmy=(); ppg=()
for r in $(seq "$runs"); do
  my -e "drop database if exists pan$r"
  t0=$(now)
  "$pan" read -r "$in" -w "mysql://root@localhost/pan$r/argus_%Y_%m_%d?socket=$tmp/my.sock" 2>/dev/null
  t1=$(now)
  n=$(count_my "pan$r")
  rate=$(echo "$n / ($t1 - $t0)" | bc)
  echo "panoptes mysql run $r: $n rows, $rate records/s"
  pmy+=("$rate")
  t0=$(now)
  "$pan" read -r "$in" -w "postgres://postgres@/postgres/pan${r}_%Y%m%d?host=$tmp/pg" 2>/dev/null
  t1=$(now)
  n=0
  for t in $(psql -h "$tmp/pg" -U postgres -Atc "select tablename from pg_tables where tablename like 'pan${r}\\_%'"); do
    n=$((n + $(psql -h "$tmp/pg" -U postgres -Atc "select count(*) from $t")))
  done
  rate=$(echo "$n / ($t1 - $t0)" | bc)
  echo "panoptes postgres run $r: $n rows, $rate records/s"
  ppg+=("$rate")
done
# The servers' own bound on this machine: the rows Panoptes wrote, exported and loaded
# back by the servers' bulk loaders (no client work, no indexes, one connection):
# MariaDB's LOAD DATA into an InnoDB table, PostgreSQL's COPY (text).
mt=$(my pan1 -e "show tables like 'argus%'" | head -1)
my pan1 -e "create table bound engine=InnoDB as select * from $mt limit 0"
my pan1 -e "select * from $mt into outfile '$tmp/rows.tsv'"
t0=$(now); mariadb -S "$tmp/my.sock" -u root --local-infile=1 pan1 -e "load data local infile '$tmp/rows.tsv' into table bound"; t1=$(now)
n=$(my pan1 -e "select count(*) from bound")
echo "mariadb load data alone: $n rows, $(echo "$n / ($t1 - $t0)" | bc) records/s"
pt=$(psql -h "$tmp/pg" -U postgres -Atc "select tablename from pg_tables where tablename like 'pan1\\_%' limit 1")
psql -h "$tmp/pg" -U postgres -qc "create table bound (like $pt)" -c "\\copy $pt to '$tmp/rows.pg'"
t0=$(now); psql -h "$tmp/pg" -U postgres -qc "\\copy bound from '$tmp/rows.pg'"; t1=$(now)
n=$(psql -h "$tmp/pg" -U postgres -Atc "select count(*) from bound")
echo "postgresql copy alone: $n rows, $(echo "$n / ($t1 - $t0)" | bc) records/s"
echo "median records/s: rasqlinsert $(printf '%s\n' "${rsq[@]}" | median), panoptes->mariadb $(printf '%s\n' "${pmy[@]}" | median), panoptes->postgresql $(printf '%s\n' "${ppg[@]}" | median)"
