# Shared by bench/run.sh and bench/access_run.sh: one wrk measurement, medians and a report
# line, so that both scripts measure with exactly the same settings. Sourced, not run.

# One wrk run of "$seconds" against $1, extra wrk arguments after it (e.g. -H 'Authorization: …')
# → "requests_per_second p50_ms p99_ms non_2xx_responses".
measure() {
  local url=$1
  shift
  wrk -t2 -c64 -d"${seconds}s" --latency -H 'Connection: keep-alive' "$@" "$url" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses/ { bad = $NF }
    END { printf "%s %.3f %.3f %d\n", rps, p50, p99, bad }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# report <file of measure lines> <name>: the medians of one server's rounds.
report() {
  local file=$1 name=$2
  printf "%-34s %10.0f req/s   p50 %6.3f ms   p99 %6.3f ms\n" "$name" \
    "$(cut -d' ' -f1 "$file" | median)" "$(cut -d' ' -f2 "$file" | median)" "$(cut -d' ' -f3 "$file" | median)"
}
