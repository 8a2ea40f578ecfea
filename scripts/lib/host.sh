# shellcheck shell=bash
# Host packages and the Docker daemon. Sourced by scripts/setup.

install_host_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    # the end-to-end tests ask the containers for pages with curl
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    # tests/podman.rs runs the end-to-end cases against Podman too, rootful and
    # rootless (newuidmap, from uidmap, maps the rootless user's subordinate ids)
    command -v podman >/dev/null 2>&1 || missing+=(podman)
    command -v newuidmap >/dev/null 2>&1 || missing+=(uidmap)
    # tests/registry.rs pushes to a real registry, reads images back with skopeo,
    # and makes its htpasswd file with htpasswd (apache2-utils)
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
    command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
    command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
    # tests/pipelines.rs runs examples/ci/slim-and-push.sh and the fleet table
    # recipe (docs/fleet.md), both jq
    command -v jq >/dev/null 2>&1 || missing+=(jq)
    if ((${#missing[@]} == 0)); then
        log "host packages present (docker, debootstrap, curl, podman, uidmap, docker-registry, skopeo, htpasswd, jq)"
        return
    fi
    [[ $(id -u) == 0 ]] || die "installing ${missing[*]} needs root; rerun as root or install them yourself"
    log "installing ${missing[*]}"
    apt-get update -qq || die "apt-get update failed; check that deb.debian.org is reachable"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" ca-certificates \
        || die "apt-get install ${missing[*]} failed"
}

# Starts dockerd only when no daemon answers: a machine with its own service
# manager (or an already running daemon) is left alone.
ensure_docker_daemon() {
    if docker info >/dev/null 2>&1; then
        log "docker daemon answers"
        return
    fi
    command -v dockerd >/dev/null 2>&1 || die "dockerd not found; install docker.io"
    # the package's init script may have started one already: wait for it instead of racing it
    if pgrep -x dockerd >/dev/null 2>&1; then
        log "dockerd is running but not answering yet; waiting"
    else
        log "starting dockerd (log: $DOCKERD_LOG)"
        nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    local deadline=$((SECONDS + DOCKERD_TIMEOUT))
    until docker info >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "dockerd did not answer within ${DOCKERD_TIMEOUT}s; see $DOCKERD_LOG"
        fi
        sleep 1
    done
    log "docker daemon answers"
}
