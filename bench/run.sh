#!/usr/bin/env bash
# Throughput and latency of the hello plugin's greet route through the whole host path
# (routing, tenant lookup, enablement check, plugin call), side by side with a bare Pistache
# handler answering the same bytes. wrk on loopback, 64 connections, keep-alive; rounds
# alternate between the two servers so both see the same machine state. Prints medians.
#
#   bench/run.sh [rounds=5] [seconds=10]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
seconds="${2:-10}"
scripts/setup.sh
scripts/build.sh >/dev/null

work=$(mktemp -d /tmp/miconsul-bench.XXXXXX)
bare_port=18181
host_port=18182
token="bench-admin-token-$(date +%s)"
cleanup() {
  kill -TERM "${bare_pid:-}" "${host_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

build/bin/bare_pistache "$bare_port" 2 &
bare_pid=$!
MICONSUL_LISTEN="127.0.0.1:$host_port" MICONSUL_DATA_DIR="$work" \
  MICONSUL_PLUGIN_DIR="$PWD/build/plugins" MICONSUL_ADMIN_TOKEN="$token" \
  MICONSUL_THREADS=2 MICONSUL_LOG_LEVEL="${BENCH_LOG_LEVEL:-warn}" build/bin/miconsul-host &
host_pid=$!
for _ in $(seq 100); do curl -fsS "127.0.0.1:$host_port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
auth="Authorization: Bearer $token"
curl -fsS -o /dev/null -H "$auth" -X POST "127.0.0.1:$host_port/api/v1/tenants" \
  -d '{"id":"bench","name":"Bench","timezone":"UTC"}'
curl -fsS -o /dev/null -H "$auth" -X PUT "127.0.0.1:$host_port/api/v1/tenants/bench/plugins/hello" \
  -d '{"enabled":true}'
[[ $(curl -fsS "127.0.0.1:$host_port/t/bench/hello/greet?name=Ana") == $(curl -fsS "127.0.0.1:$bare_port/") ]] \
  || { echo "bench: the two servers do not answer the same bytes" >&2; exit 1; }

source bench/wrk_common.sh

: >"$work/bare"; : >"$work/host"
for round in $(seq "$rounds"); do
  measure "http://127.0.0.1:$bare_port/" >>"$work/bare"
  measure "http://127.0.0.1:$host_port/t/bench/hello/greet?name=Ana" >>"$work/host"
  echo "round $round: bare $(tail -1 "$work/bare") | host $(tail -1 "$work/host")" >&2
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
echo "wrk -t2 -c64 -d${seconds}s keep-alive, median of $rounds alternating rounds; host log level ${BENCH_LOG_LEVEL:-warn}"
report "$work/bare" "bare Pistache handler"
report "$work/host" "host → hello greet"
bare_rps=$(cut -d' ' -f1 "$work/bare" | median)
host_rps=$(cut -d' ' -f1 "$work/host" | median)
awk -v h="$host_rps" -v b="$bare_rps" 'BEGIN { printf "host / bare throughput: %.1f%%\n", 100 * h / b }'
