# shellcheck shell=bash
# Shared helpers for scripts/setup: logging, failure, and per-step timing.
# Sourced, not executed.

log() { printf '[setup] %s\n' "$*" >&2; }

die() {
    printf '[setup] ERROR: %s\n' "$*" >&2
    exit 1
}

# step NAME COMMAND...: runs COMMAND and prints how long it took, so a slow
# CI run shows at a glance which part of the setup ate the time.
step() {
    local name=$1
    shift
    local started=$SECONDS
    log "-> $name"
    "$@"
    log "<- $name: $((SECONDS - started))s"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
