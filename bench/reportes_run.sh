#!/usr/bin/env bash
# The reportes plugin end to end: a manual `daily` run (wait: true) for a day with 1,000
# appointments (50 doctors with an email, 20 appointments each, 300 payments), timed by the
# run's own duration_ms (the host measures the handler: records, names, 50 PDFs, 50 messages
# queued with their attachments), plus the clinic-wide PDF route for the same day timed by curl.
# SQLite, one host, no SMTP server (messages stay queued: delivery is not part of the run).
#
#   bench/reportes_run.sh [runs=5]
#
# Needs a build (build/bin/miconsul-host, build/plugins/reportes.so). Prints each figure and
# the median.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
port=18291
admin="bench-admin-token-$(date +%s)"
work=$(mktemp -d /tmp/miconsul-reportes-bench.XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/plugins"
ln -s "$PWD/build/plugins/reportes.so" "$work/plugins/reportes.so"
MICONSUL_LISTEN="127.0.0.1:$port" MICONSUL_DATA_DIR="$work" MICONSUL_PLUGIN_DIR="$work/plugins" \
  MICONSUL_ADMIN_TOKEN="$admin" MICONSUL_RATE_LIMIT=0 MICONSUL_THREADS=2 \
  MICONSUL_LOG_LEVEL="${BENCH_LOG_LEVEL:-warn}" build/bin/miconsul-host &
pid=$!
base="127.0.0.1:$port"
auth="Authorization: Bearer $admin"
for _ in $(seq 100); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS -o /dev/null -H "$auth" -X POST "$base/api/v1/tenants" \
  -d '{"id":"bench","name":"Clínica Bench","timezone":"America/Mexico_City"}'
curl -fsS -o /dev/null -H "$auth" -X PUT "$base/api/v1/tenants/bench/plugins/reportes" \
  -d '{"enabled":true}'

# 1,000 appointments on 2026-12-01: doctor d runs 08:00–18:00 in 30-minute slots.
python3 - "$work/seed.ndjson" <<'PY'
import json, sys
statuses = ["completed", "completed", "confirmed", "no-show", "cancelled", "scheduled"]
with open(sys.argv[1], "w") as out:
    for p in range(200):
        out.write(json.dumps({"kind": "patient", "external_id": f"p{p}", "first_name": f"Paciente{p}",
                              "last_name": "Pérez"}) + "\n")
    for d in range(50):
        out.write(json.dumps({"kind": "doctor", "external_id": f"d{d}", "name": f"Dra. Número {d}",
                              "email": f"doctor{d}@bench.mx"}) + "\n")
    n = 0
    for d in range(50):
        for slot in range(20):
            hour, minute = 8 + slot // 2, 30 * (slot % 2)
            out.write(json.dumps({"kind": "appointment", "external_id": f"a{n}",
                                  "patient_external_id": f"p{n % 200}", "doctor_external_id": f"d{d}",
                                  "start": f"2026-12-01T{hour:02d}:{minute:02d}:00-06:00",
                                  "status": statuses[n % len(statuses)]}) + "\n")
            if n % 10 < 3:
                out.write(json.dumps({"kind": "payment", "external_id": f"f{n}",
                                      "patient_external_id": f"p{n % 200}", "doctor_external_id": f"d{d}",
                                      "amount_cents": 50000 + n, "method": ["cash", "card", "transfer"][n % 3],
                                      "paid_at": f"2026-12-01T{hour:02d}:{minute + 20:02d}:00-06:00"}) + "\n")
            n += 1
PY
split -l 2000 "$work/seed.ndjson" "$work/part."
for part in "$work"/part.*; do
  curl -fsS -H "$auth" -H "Content-Type: application/x-ndjson" -X POST \
    "$base/t/bench/records/import" --data-binary "@$part" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); assert not r["rejected"], r["rejected"][:3]; print("imported", r["created"])'
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
durations=()
for i in $(seq "$runs"); do
  d=$(curl -fsS -H "$auth" -X POST "$base/api/v1/tenants/bench/plugins/reportes/schedules/daily/run" \
      -d '{"as_of":"2026-12-01T20:00:00-06:00","wait":true}' |
      python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["status"]=="succeeded", r; print(r["duration_ms"])')
  echo "daily run $i: duration_ms=$d"
  durations+=("$d")
done
echo "daily run (50 doctors, 1,000 appointments) median duration_ms: $(printf '%s\n' "${durations[@]}" | median)"
token=$(curl -fsS -H "$auth" -X POST "$base/api/v1/tenants/bench/tokens" -d '{"label":"bench"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
times=()
for i in $(seq "$runs"); do
  t=$(curl -fsS -o "$work/day.pdf" -w '%{time_total}' -H "Authorization: Bearer $token" \
      "$base/t/bench/reportes/daily?date=2026-12-01&format=pdf")
  times+=("$(python3 -c "print(round($t*1000))")")
done
echo "GET daily?format=pdf (clinic-wide, 1,000 rows, $(pdfinfo "$work/day.pdf" | awk '/Pages/ {print $2}') pages) median ms: $(printf '%s\n' "${times[@]}" | median)"
echo "messages queued (expect 50, reruns deduplicated): $(curl -fsS -H "$auth" "$base/api/v1/tenants/bench/messages?limit=200" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')"
