#!/usr/bin/env bash
# How long the citas "reminders" run takes to queue a busy day's reminders: the real host on
# SQLite, one tenant (America/Mexico_City) with APPOINTMENTS appointments on each of three days
# (400 doctors, 30-minute slots from 07:00, so nobody is double-booked), every patient with an
# email, a phone and consent for both channels. Each round runs "reminders" as of the day
# before at 18:00 with wait: true and reads the run's duration_ms: reading the day, one patient
# lookup per appointment, one queue_message per channel (APPOINTMENTS x 2 messages stored in
# the outbox) and one citas.reminder_sent event per appointment. Three rounds, one per day (so
# no round finds the previous one's idempotency keys); prints each and the median.
#
#   bench/citas_run.sh [appointments=10000]
#
# Seeding goes through the ndjson import, 4,000 lines a request (under the 1 MiB request limit).
# While seeding, confirmation_enabled and notify_doctor are off so the import's
# appointment.created events queue nothing; quiet hours cover the whole day for both channels,
# so no delivery (there is no SMTP server here) competes with the runs being measured.
set -euo pipefail
cd "$(dirname "$0")/.."
appointments="${1:-10000}"
doctors=400
slots=$(((appointments + doctors - 1) / doctors))
if ((slots > 28)); then echo "at most $((doctors * 28)) appointments a day" >&2; exit 2; fi
[[ -x build/bin/miconsul-host && -f build/plugins/citas.so ]] ||
  { echo "build first: cmake --build build -j2 --target miconsul-host citas" >&2; exit 2; }

work=$(mktemp -d /tmp/miconsul-citas-bench.XXXXXX)
port=${BENCH_PORT:-18291}
admin="bench-admin-token-$(date +%s)"
host_pid=""
cleanup() {
  [[ -n "$host_pid" ]] && kill -TERM "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/plugins" "$work/data"
ln -s "$PWD/build/plugins/citas.so" "$work/plugins/citas.so"
MICONSUL_LISTEN="127.0.0.1:$port" MICONSUL_DATA_DIR="$work/data" MICONSUL_RATE_LIMIT=0 \
  MICONSUL_PLUGIN_DIR="$work/plugins" MICONSUL_ADMIN_TOKEN="$admin" \
  MICONSUL_MAX_REQUEST_BYTES=4194304 \
  MICONSUL_LOG_LEVEL="${BENCH_LOG_LEVEL:-info}" build/bin/miconsul-host 2>"$work/host.log" &
host_pid=$!
base="http://127.0.0.1:$port"
auth="Authorization: Bearer $admin"
for _ in $(seq 150); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
api() { curl -fsS -H "$auth" -H "Content-Type: application/json" "$@"; }

api -o /dev/null -X POST "$base/api/v1/tenants" \
  -d '{"id":"bench","name":"Clínica Bench","timezone":"America/Mexico_City"}'
api -o /dev/null -X PUT "$base/api/v1/tenants/bench/messaging" \
  -d '{"whatsapp":{"from":"+525500000000","api_key":"bench"},
       "quiet_hours":{"start":"00:00","end":"23:59","channels":["email","whatsapp"]}}' ||
  api -o /dev/null -X PUT "$base/api/v1/tenants/bench/messaging" \
    -d '{"quiet_hours":{"start":"00:00","end":"23:59","channels":["email","whatsapp"]}}'
api -o /dev/null -X PUT "$base/api/v1/tenants/bench/plugins/citas" \
  -d '{"enabled":true,"settings":{"confirmation_enabled":false,"notify_doctor":false}}'

# Three days a month ahead (Mexico City keeps UTC-6), and the evening before each.
mapfile -t days < <(python3 -c '
import datetime
today = (datetime.datetime.utcnow() - datetime.timedelta(hours=6)).date()
for n in (30, 31, 32): print(today + datetime.timedelta(days=n))')

python3 - "$work" "$appointments" "$doctors" "${days[@]}" <<'PY'
import json, sys
work, count, doctors, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
lines = [json.dumps({"kind": "doctor", "external_id": f"D{d}", "name": f"Dr. {d}"})
         for d in range(doctors)]
for p in range(count):
    lines.append(json.dumps({"kind": "patient", "external_id": f"P{p}", "first_name": f"Paciente{p}",
                             "email": f"p{p}@example.com", "phone": f"+5255{p:08d}",
                             "consent": {"email": True, "whatsapp": True}}))
for day in days:
    for p in range(count):
        doctor, slot = p % doctors, p // doctors
        minutes = 7 * 60 + 30 * slot
        lines.append(json.dumps({"kind": "appointment", "external_id": f"C{day}-{p}",
                                 "patient_external_id": f"P{p}", "doctor_external_id": f"D{doctor}",
                                 "start": f"{day}T{minutes // 60:02d}:{minutes % 60:02d}:00-06:00"}))
for i in range(0, len(lines), 4000):
    with open(f"{work}/import-{i // 4000:03d}.ndjson", "w") as out:
        out.write("\n".join(lines[i:i + 4000]) + "\n")
PY

seed_start=$(date +%s.%N)
for file in "$work"/import-*.ndjson; do
  answer=$(curl -fsS -H "$auth" -H "Content-Type: application/x-ndjson" \
    --data-binary "@$file" "$base/t/bench/records/import")
  rejected=$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["rejected"]))' <<<"$answer")
  [[ "$rejected" == 0 ]] || { echo "import rejected lines: $answer" | head -c 2000 >&2; exit 1; }
done
echo "seeded $((appointments * 3)) appointments in $(python3 -c "import time; print(round(time.time() - $seed_start, 1))") s"
# Let the import's appointment.created deliveries drain before measuring.
for _ in $(seq 600); do
  pending=$(api "$base/api/v1/tenants/bench/deliveries?status=pending&limit=1" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
  [[ "$pending" == 0 ]] && break
  sleep 1
done
api -o /dev/null -X PUT "$base/api/v1/tenants/bench/plugins/citas" \
  -d '{"enabled":true,"settings":{}}'

durations=()
for day in "${days[@]}"; do
  eve=$(python3 -c "import datetime,sys; print(datetime.date.fromisoformat('$day') - datetime.timedelta(days=1))")
  run=$(api -X POST "$base/api/v1/tenants/bench/plugins/citas/schedules/reminders/run" \
    -d "{\"as_of\":\"${eve}T18:00:00-06:00\",\"wait\":true}")
  read -r status duration < <(python3 -c \
    'import json,sys; r=json.load(sys.stdin); print(r["status"], r["duration_ms"])' <<<"$run")
  [[ "$status" == succeeded ]] || { echo "run for $day: $run" >&2; exit 1; }
  reminded=$(grep -o "reminders for $day: [^\"]*ms" "$work/host.log" | tail -1)
  echo "reminders for $day: ${duration} ms (${reminded:-?})"
  durations+=("$duration")
done
median=$(printf '%s\n' "${durations[@]}" | sort -n | sed -n 2p)
echo "median of 3: ${median} ms to queue $((appointments * 2)) reminders ($appointments appointments x 2 channels)" \
  "on $(nproc) vCPU, $(date -u +%Y-%m-%d)"
