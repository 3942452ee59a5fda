#!/usr/bin/env bash
# Installs what `make bench` needs beyond scripts/install-deps.sh (build and test), and only what
# is missing: today the wrk load generator. Idempotent: one dpkg query when all is present.
set -euo pipefail

PACKAGES=(wrk)

log() { printf 'install-bench-deps: %s\n' "$*"; }

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

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$package")
done

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  retry as_root apt-get update -qq
  retry as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
