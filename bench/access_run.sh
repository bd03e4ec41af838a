#!/usr/bin/env bash
# What access control costs on the hot path (issue 3): the hello plugin's greet route called
# with a tenant API token and the rate limiter on, side by side with the same route without a
# token and with the limiter off, and with the bare Pistache handler of bench/run.sh. wrk with
# the same settings as bench/run.sh; rounds alternate between the three servers so all see the
# same machine state. Prints medians and the ratios.
#
#   bench/access_run.sh [rounds=5] [seconds=10]
#
# (b) "open": MICONSUL_RATE_LIMIT=0, no Authorization header. The call is still audited (as
#     "anonymous"), as every API call is.
# (c) "token + limiter": MICONSUL_RATE_LIMIT=1000000 (the highest the configuration accepts) and
#     Authorization: Bearer <an API token of the tenant>. greet is a public route, so the token
#     is not needed to reach it, but everything a token costs is paid: the limiter counts only
#     a tenant's own tokens, so it identifies the caller (TokenStore::authenticate), takes one
#     from the tenant's budget and adds the RateLimit-* headers, and the audit entry names the
#     token. The budget refills at 16,667 requests/s with a burst of a million, more than the
#     rounds spend; any non-2xx answer (a 429) is reported and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
seconds="${2:-10}"
scripts/setup.sh
nice -n 10 scripts/build.sh >/dev/null
source bench/wrk_common.sh

work=$(mktemp -d /tmp/miconsul-access-bench.XXXXXX)
bare_port=18191
open_port=18192
token_port=18193
admin="bench-admin-token-$(date +%s)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

build/bin/bare_pistache "$bare_port" 2 &
pids+=($!)
# start_host <port> <rate limit a minute>
start_host() {
  mkdir -p "$work/$1"
  MICONSUL_LISTEN="127.0.0.1:$1" MICONSUL_DATA_DIR="$work/$1" MICONSUL_RATE_LIMIT="$2" \
    MICONSUL_PLUGIN_DIR="$PWD/build/plugins" MICONSUL_ADMIN_TOKEN="$admin" \
    MICONSUL_THREADS=2 MICONSUL_LOG_LEVEL="${BENCH_LOG_LEVEL:-warn}" build/bin/miconsul-host &
  pids+=($!)
}
start_host "$open_port" 0
start_host "$token_port" 1000000
auth="Authorization: Bearer $admin"
for port in "$open_port" "$token_port"; do
  for _ in $(seq 100); do curl -fsS "127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS -o /dev/null -H "$auth" -X POST "127.0.0.1:$port/api/v1/tenants" \
    -d '{"id":"bench","name":"Bench","timezone":"UTC"}'
  curl -fsS -o /dev/null -H "$auth" -X PUT "127.0.0.1:$port/api/v1/tenants/bench/plugins/hello" \
    -d '{"enabled":true}'
done
token=$(curl -fsS -H "$auth" -X POST "127.0.0.1:$token_port/api/v1/tenants/bench/tokens" \
  -d '{"kind":"api","label":"bench"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
bearer="Authorization: Bearer $token"
route="/t/bench/hello/greet?name=Ana"

# The same body from all three, and proof that (c) really went through the token and the limiter.
expected=$(curl -fsS "127.0.0.1:$bare_port/")
[[ $(curl -fsS "127.0.0.1:$open_port$route") == "$expected" ]] \
  || { echo "bench: the open host does not answer the bare handler's bytes" >&2; exit 1; }
[[ $(curl -fsS -H "$bearer" "127.0.0.1:$token_port$route") == "$expected" ]] \
  || { echo "bench: the token host does not answer the bare handler's bytes" >&2; exit 1; }
token_headers=$(curl -fsS -D - -o /dev/null -H "$bearer" "127.0.0.1:$token_port$route")
grep -qi '^RateLimit-Limit: 1000000' <<<"$token_headers" \
  || { echo "bench: the token's calls are not counted by the limiter" >&2; exit 1; }
open_headers=$(curl -fsS -D - -o /dev/null "127.0.0.1:$open_port$route")
if grep -qi '^RateLimit-' <<<"$open_headers"; then echo "bench: the open host limits" >&2; exit 1; fi

: >"$work/bare"; : >"$work/open"; : >"$work/token"
for round in $(seq "$rounds"); do
  measure "http://127.0.0.1:$bare_port/" >>"$work/bare"
  measure "http://127.0.0.1:$open_port$route" >>"$work/open"
  measure "http://127.0.0.1:$token_port$route" -H "$bearer" >>"$work/token"
  echo "round $round: bare $(tail -1 "$work/bare") | open $(tail -1 "$work/open") | token $(tail -1 "$work/token")" >&2
done
if awk '$4 != 0 { bad = 1 } END { exit !bad }' "$work/open" "$work/token"; then
  echo "bench: some answers were not 2xx (rate limited?); see the rounds above" >&2
  exit 1
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u '+%F %H:%M UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t2 -c64 -d${seconds}s keep-alive, median of $rounds alternating rounds; host log level ${BENCH_LOG_LEVEL:-warn}"
report "$work/bare" "(a) bare Pistache handler"
report "$work/open" "(b) greet, no token, no limiter"
report "$work/token" "(c) greet, API token + limiter"
bare_rps=$(cut -d' ' -f1 "$work/bare" | median)
open_rps=$(cut -d' ' -f1 "$work/open" | median)
token_rps=$(cut -d' ' -f1 "$work/token" | median)
awk -v b="$bare_rps" -v o="$open_rps" -v t="$token_rps" 'BEGIN {
  printf "(b) / (a) throughput: %.1f%%\n(c) / (a) throughput: %.1f%%\n(c) / (b) throughput: %.1f%% (goal: at least 90%%)\n", 100 * o / b, 100 * t / b, 100 * t / o }'
