# shellcheck shell=bash
# Example and fixture images built from Dockerfiles. Sourced by scripts/setup.

# How `docker build` reaches the Debian mirror: the default bridge network
# when container DNS works, else the host's network (same mirror, host DNS).
BUILD_NETWORK=

probe_build_network() {
    [[ -n $BUILD_NETWORK ]] && return
    local network
    for network in default host; do
        log "checking apt-get update inside a container (network: $network)"
        if timeout 120 docker run --rm --network "$network" "$BASE_IMAGE" \
            apt-get -o Acquire::Retries=0 -qq update >/dev/null 2>&1; then
            BUILD_NETWORK=$network
            log "apt in containers works with network: $network"
            return
        fi
    done
    die "apt-get inside containers cannot reach deb.debian.org (tried the default and host networks); check DNS and the proxy settings of dockerd"
}

# build_image TAG CONTEXT_DIR: builds unless TAG exists (or --rebuild).
build_image() {
    local tag=$1 context=$2
    if image_exists "$tag" && ((!REBUILD)); then
        log "$tag present"
        return
    fi
    probe_build_network
    local started=$SECONDS build_log
    build_log=$(mktemp)
    if ! docker build --network "$BUILD_NETWORK" -t "$tag" "$context" >"$build_log" 2>&1; then
        tail -n 40 "$build_log" >&2
        rm -f "$build_log"
        die "docker build of $tag from $context failed (output above)"
    fi
    rm -f "$build_log"
    log "built $tag ($(image_size "$tag")) in $((SECONDS - started))s"
}

image_size() {
    docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1000000 }'
}

build_examples() {
    local dir
    for dir in "$REPO_ROOT"/examples/*/; do
        [[ -f $dir/Dockerfile ]] || continue
        build_image "rslim-examples/$(basename "$dir"):fat" "$dir"
    done
}

build_fixtures() {
    local dir
    for dir in "$REPO_ROOT"/tests/fixtures/*/; do
        [[ -f $dir/Dockerfile ]] || continue
        build_image "rslim-fixtures/$(basename "$dir"):latest" "$dir"
    done
}
