#!/usr/bin/env bash
# Bus throughput vs redis-benchmark XADD on the same Redis, alternating, medians of ROUNDS.
#   bench/bus_run.sh <redis_url> [database_url] [rounds=3] [events=20000] [publishers=50]
# redis-benchmark: 50 clients, no pipelining, XADD of one small field — the Redis operation
# the bus performs once per delivery; the bus line is publish → handler → delivered in the DB,
# from as many concurrent publishers as redis-benchmark has clients; the publish-only line is
# the same publishes with no delivery at all (what storing them durably alone allows).
set -euo pipefail
redis_url=${1:?redis url}
database_url=${2:-}
rounds=${3:-3}
events=${4:-20000}
publishers=${5:-50}  # concurrent publishers, as concurrent HTTP requests would be
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/build/bin"
hostport=${redis_url#redis://}
host=${hostport%%:*}
port=${hostport##*:}
port=${port%%/*}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
xadd=() bus=() stored=()
rate_of() { awk '{for (i = 1; i <= NF; i++) if ($i == "events_per_s") print $(i+1)}' <<<"$1"; }
for round in $(seq "$rounds"); do
  rate=$(redis-benchmark -h "$host" -p "$port" -c 50 -n 200000 -q \
           XADD miconsul-bench-xadd MAXLEN '~' 100000 '*' field value |
         awk '{for (i = 1; i <= NF; i++) if ($i ~ /requests/) print $(i-1)}' | tail -1)
  xadd+=("$rate")
  line=$("$bin/bus_bench" "$events" "$redis_url" "$database_url" "$publishers")
  bus+=("$(rate_of "$line")")
  only=$("$bin/bus_bench" "$events" "$redis_url" "$database_url" "$publishers" publish-only)
  stored+=("$(rate_of "$only")")
  echo "round $round: redis-benchmark XADD ${rate} req/s; bus ${bus[-1]} events/s ($line);" \
       "publish only ${stored[-1]} events/s"
done
redis-cli -h "$host" -p "$port" DEL miconsul-bench-xadd >/dev/null
x=$(printf '%s\n' "${xadd[@]}" | median)
b=$(printf '%s\n' "${bus[@]}" | median)
s=$(printf '%s\n' "${stored[@]}" | median)
ratio() { awk -v b="$1" -v x="$x" 'BEGIN {printf "%.1f%%", 100 * b / x}'; }
echo "median: XADD $x req/s, bus $b events/s ($(ratio "$b")), publish only $s events/s ($(ratio "$s"))"
