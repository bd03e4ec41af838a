#!/usr/bin/env bash
# Sets up, builds and runs every test: unit, integration on SQLite and PostgreSQL, Redis, and
# end-to-end over HTTP against the real binary, then each fuzz target for FUZZ_SECONDS (60;
# 0 skips them). Starts its own PostgreSQL and Redis on free loopback ports and stops them
# afterwards, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh

work=$(mktemp -d /tmp/miconsul-test-servers.XXXXXX)
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || shuf -i 20000-60000 -n 1
}

as_postgres() {
  # initdb and pg_ctl refuse to run as root.
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_servers() {
  if [[ -n "${pg_port:-}" ]]; then as_postgres "$pg_bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true; fi
  if [[ -n "${redis_port:-}" ]]; then redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap stop_servers EXIT

if [[ $(id -u) -eq 0 ]]; then chown postgres "$work"; fi
pg_port=$(free_port)
as_postgres "$pg_bin/initdb" -D "$work/pg" -U postgres -A trust >/dev/null
as_postgres "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -t 60 \
  -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $work -c fsync=off -c max_connections=200" start >/dev/null

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
  --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log"
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

export MICONSUL_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$pg_port/postgres"
export MICONSUL_TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
export MICONSUL_TEST_REQUIRE_SERVERS=1
echo "test: PostgreSQL on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port"

ctest --test-dir build --output-on-failure -j 2 --timeout 300

# The fuzz targets (router and request bodies, settings validation) for a bounded time.
if [[ "${FUZZ_SECONDS:-60}" != 0 ]]; then
  scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
fi
