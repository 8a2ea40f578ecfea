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
    local network=default
    # only builds that download packages need to know how containers reach the mirror
    if grep -q 'apt-get' "$context/Dockerfile"; then
        probe_build_network
        network=$BUILD_NETWORK
    fi
    local started=$SECONDS build_log previous
    previous=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
    build_log=$(mktemp)
    if ! docker build --network "$network" -t "$tag" "$context" >"$build_log" 2>&1; then
        tail -n 40 "$build_log" >&2
        rm -f "$build_log"
        die "docker build of $tag from $context failed (output above)"
    fi
    rm -f "$build_log"
    remove_if_dangling "$previous"
    log "built $tag ($(image_size "$tag")) in $((SECONDS - started))s"
}

# A rebuild leaves the old image untagged; drop it unless something still uses it.
remove_if_dangling() {
    local id=$1
    [[ -n $id ]] || return 0
    if [[ $(docker image inspect -f '{{len .RepoTags}}' "$id" 2>/dev/null) == 0 ]]; then
        docker image rm "$id" >/dev/null 2>&1 || true
    fi
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
