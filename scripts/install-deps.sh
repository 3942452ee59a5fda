#!/usr/bin/env bash
# Installs what Tollgate needs to build and test on Debian 12, and only what is missing.
#
# Idempotent and quick when everything is present: one dpkg query, no `apt-get update`, and
# `npm ci` only when package-lock.json changed since node_modules was installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: compilers, CMake and Ninja, Boost.Beast, JSON, SQLite, OpenSSL, libpq, jemalloc (the server's malloc),
# GoogleTest. SDK: Emscripten (and the acorn module its optimizer loads). Node.js >= 18 runs Jest
# and the SDK build. Tests: faketime starts a server with its wall clock at a chosen instant
# (runtime-token expiry); Chromium runs the example pages headless (through the playwright-core
# npm package, never its browser download); pgbouncer stands in front of the test cluster in
# transaction pooling mode; openssl makes the test cluster's TLS certificate; the sqlite3 shell
# seeds a test database directly.
PACKAGES=(
  g++ make cmake ninja-build pkg-config
  libboost1.81-dev nlohmann-json3-dev libsqlite3-dev libssl-dev libpq-dev libjemalloc-dev postgresql
  libgtest-dev libgmock-dev
  faketime chromium pgbouncer openssl sqlite3
  emscripten node-acorn
)

# `--bench` adds what `make bench` needs: the wrk load generator. `--fuzz` adds clang and its
# libFuzzer runtime, for the fuzz tree that `make fuzz` and `make test` build.
case "${1:-}" in
  --bench) PACKAGES+=(wrk) ;;
  --fuzz) PACKAGES+=(clang libclang-rt-14-dev) ;;
esac

log() { printf 'install-deps: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "need root (or sudo) to install: $*" >&2
    exit 1
  fi
}

# Registries can fail transiently; try a download step this many times, 10 s apart.
APT_ATTEMPTS_MAX=3
retry() {
  local attempt=1
  until "$@"; do
    if [ "$attempt" -ge "$APT_ATTEMPTS_MAX" ]; then
      log "giving up after $attempt attempts: $*" >&2
      return 1
    fi
    attempt=$((attempt + 1))
    log "retrying in 10 s: $*"
    sleep 10
  done
}

missing_packages() {
  local package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$package"
  done
}

node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    [ "$(node -p 'Number(process.versions.node.split(".")[0])' 2>/dev/null || echo 0)" -ge 18 ]
}

mapfile -t missing < <(missing_packages "${PACKAGES[@]}")
if ! node_ok; then
  missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  retry as_root apt-get update -qq
  retry as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm records what it installed in node_modules/.package-lock.json; reinstall only when the
# committed lock file is newer than that record.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  retry npm ci --no-audit --no-fund --loglevel=error
fi
