#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang into build-fuzz/ and runs each for a
# bounded time, both at once (one core each): scripts/fuzz.sh [seconds per target, default 60].
# Each starts from its committed seed corpus (tests/fuzz/corpus/<target>/) plus what earlier
# local runs found (build-fuzz/corpus/<target>/). A crash, a sanitizer report or a hang fails
# the run, prints the reproducer's path and leaves it under build-fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
targets=(fuzz_request fuzz_settings)

cmake -S tests/fuzz -B build-fuzz -DCMAKE_CXX_COMPILER="${FUZZ_CXX:-clang++}" >/dev/null
cmake --build build-fuzz -j "${JOBS:-2}"

pids=()
for target in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$target" "build-fuzz/artifacts/$target"
  # -timeout: one input running 10 s is a hang; -rss_limit_mb: a leak or a bomb is a failure.
  build-fuzz/"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$target/" \
    "build-fuzz/corpus/$target" "tests/fuzz/corpus/$target" >"build-fuzz/$target.log" 2>&1 &
  pids+=($!)
done

failed=0
for i in "${!targets[@]}"; do
  target="${targets[$i]}"
  if wait "${pids[$i]}"; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/$target.log")
    echo "fuzz: $target: ${runs:-?} inputs in ${seconds} s, no crash"
  else
    failed=1
    echo "fuzz: $target FAILED (log: build-fuzz/$target.log)" >&2
    grep -E "ERROR|SUMMARY|runtime error|Test unit written|artifact_prefix" \
      "build-fuzz/$target.log" >&2 || tail -n 40 "build-fuzz/$target.log" >&2
  fi
done
exit "$failed"
