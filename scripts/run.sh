#!/usr/bin/env bash
# Sets up, builds and runs the host on the embedded default (SQLite under ./var, no Redis),
# with a demo tenant that has the hello plugin and the clinic plugins enabled. Ctrl+C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh

port="${PORT:-8080}"
export MICONSUL_LISTEN="${MICONSUL_LISTEN:-127.0.0.1:$port}"
export MICONSUL_DATA_DIR="${MICONSUL_DATA_DIR:-$PWD/var}"
export MICONSUL_PLUGIN_DIR="${MICONSUL_PLUGIN_DIR:-$PWD/build/plugins}"
mkdir -p "$MICONSUL_DATA_DIR"
# The admin token is made once and kept beside the data, readable only by you.
token_file="$MICONSUL_DATA_DIR/admin-token"
if [[ ! -s "$token_file" ]]; then
  (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$token_file")
fi
export MICONSUL_ADMIN_TOKEN="$(cat "$token_file")"
base="http://$MICONSUL_LISTEN"

build/bin/miconsul-host --config config/miconsul.json &
host_pid=$!
trap 'kill -TERM $host_pid 2>/dev/null; wait $host_pid' INT TERM

for _ in $(seq 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$host_pid" 2>/dev/null || { echo "run: the host exited" >&2; exit 1; }
  sleep 0.1
done

# The demo tenant is configuration as code: config/tenants/demo.json, applied like any
# clinic's file kept in Git (docs/operations.md). Nothing changes when it is applied again.
MICONSUL_TOKEN="$MICONSUL_ADMIN_TOKEN" build/bin/miconsul-host apply \
  -f config/tenants/demo.json --url "$base" >/dev/null

cat <<INFO

MiConsul Host listens on $base (data in $MICONSUL_DATA_DIR, SQLite).
Demo tenant "demo" has hello and the clinic plugins (fidelizacion, citas, reportes) enabled.
Try:

  curl '$base/t/demo/hello/greet?name=Ana'
  curl -H 'Authorization: Bearer $MICONSUL_ADMIN_TOKEN' $base/api/v1/plugins
  curl -H 'Authorization: Bearer $MICONSUL_ADMIN_TOKEN' $base/api/v1/tenants/demo/plugins
  curl -H 'Authorization: Bearer $MICONSUL_ADMIN_TOKEN' $base/api/v1/tenants/demo/plugins/hello/revisions
  curl -H 'Authorization: Bearer $MICONSUL_ADMIN_TOKEN' '$base/t/demo/reportes/daily?format=json'
  curl -H 'Authorization: Bearer $MICONSUL_ADMIN_TOKEN' $base/api/v1/tenants/demo/plugins/citas/schedules

The admin token is in $token_file. Ctrl+C stops the host.
INFO
wait "$host_pid"
