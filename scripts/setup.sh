#!/usr/bin/env bash
# Installs everything MiConsul Host needs to build, run and test, from Debian 12 packages only.
# Idempotent: skips apt-get when every package is already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git ca-certificates curl
  libpistache-dev libboost-dev libboost-filesystem-dev nlohmann-json3-dev
  libsoci-dev libpq-dev libsqlite3-dev libhiredis-dev libcurl4-openssl-dev libssl-dev
  libspdlog-dev libhowardhinnant-date-dev tzdata
  libgtest-dev googletest libbenchmark-dev json-schema-test-suite
  postgresql redis-server wrk python3 python3-aiosmtpd openssl
  clang libclang-rt-14-dev
  libcairo2-dev fonts-dejavu-core poppler-utils
)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The distribution's own Redis and PostgreSQL services are not used: tests start their own.
