# shellcheck shell=bash
# Podman next to Docker, for tests/podman.rs: the rootful service on
# /run/podman/podman.sock, the images those tests use (copied from Docker's
# store, which is much quicker than building them again), and a rootless
# service of an unprivileged user for the rootless case. Sourced by scripts/setup.

PODMAN_SOCKET=/run/podman/podman.sock
PODMAN_LOG=/var/log/rslim-podman.log
PODMAN_TIMEOUT=${PODMAN_TIMEOUT:-30}
CONTAINERS_CONF=/etc/containers/containers.conf
# What tests/podman.rs runs; keep in step with it.
PODMAN_IMAGES=(
    "$BASE_IMAGE"
    rslim-examples/nginx:fat
    rslim-examples/python-app:fat
    rslim-fixtures/fails:latest
)
ROOTLESS_USER=rslim-rootless
ROOTLESS_RUN=/run/$ROOTLESS_USER
ROOTLESS_SOCKET=$ROOTLESS_RUN/podman/podman.sock
ROOTLESS_LOG=/var/log/rslim-podman-rootless.log

# Rootful Podman raises every container's open-files and process limits to
# 1048576. That needs CAP_SYS_RESOURCE, which this VM's root lacks, and every
# container start then fails with "error setting rlimit type 7: operation not
# permitted". With `default_ulimits = []` containers keep the service's limits.
# Written only where the raise fails, and only when no default_ulimits is set.
ensure_podman_ulimits() {
    if (ulimit -Hn 1048576 && ulimit -Hu 1048576) 2>/dev/null; then
        log "podman: root can raise ulimits; $CONTAINERS_CONF left as it is"
        return
    fi
    if grep -Eq '^[[:space:]]*default_ulimits[[:space:]]*=' "$CONTAINERS_CONF" 2>/dev/null; then
        log "podman: default_ulimits already set in $CONTAINERS_CONF"
        return
    fi
    mkdir -p "$(dirname "$CONTAINERS_CONF")"
    if grep -Eq '^[[:space:]]*\[containers\]' "$CONTAINERS_CONF" 2>/dev/null; then
        # first [containers] table: the setting goes right under its header
        sed -i '0,/^[[:space:]]*\[containers\]/s//&\ndefault_ulimits = []/' "$CONTAINERS_CONF"
    else
        [[ -s $CONTAINERS_CONF ]] && printf '\n' >>"$CONTAINERS_CONF"
        printf '[containers]\ndefault_ulimits = []\n' >>"$CONTAINERS_CONF"
    fi
    log "podman: set default_ulimits = [] in $CONTAINERS_CONF (no CAP_SYS_RESOURCE here)"
}

# curl's exit code 7 is "connection refused": a socket file nobody listens on.
socket_state() {
    local out
    out=$(curl -sS --max-time 5 --unix-socket "$1" http://d/_ping 2>/dev/null)
    case $? in
        0) [[ $out == OK ]] && echo answers || echo odd ;;
        7) [[ -S $1 ]] && echo stale || echo absent ;;
        *) echo absent ;;
    esac
}

# wait_for_socket SOCKET LOG: until it answers, or die with the log's tail.
wait_for_socket() {
    local deadline=$((SECONDS + PODMAN_TIMEOUT))
    until [[ $(socket_state "$1") == answers ]]; do
        if ((SECONDS >= deadline)); then
            tail -n 20 "$2" >&2 || true
            die "the Podman service on $1 did not answer within ${PODMAN_TIMEOUT}s; see $2"
        fi
        sleep 0.2
    done
}

# Starts the rootful service unless something answers on its socket: with
# systemd through its podman.socket unit, otherwise in the background like
# dockerd (log: $PODMAN_LOG).
ensure_podman_service() {
    case $(socket_state "$PODMAN_SOCKET") in
        answers)
            log "podman service answers on $PODMAN_SOCKET"
            return
            ;;
        stale) rm -f "$PODMAN_SOCKET" ;;
    esac
    command -v podman >/dev/null 2>&1 || die "podman not found; install it (apt-get install podman)"
    if [[ -d /run/systemd/system ]] && systemctl cat podman.socket >/dev/null 2>&1; then
        log "starting podman.socket"
        systemctl start podman.socket || die "systemctl start podman.socket failed"
    else
        log "starting podman system service on $PODMAN_SOCKET (log: $PODMAN_LOG)"
        mkdir -p "$(dirname "$PODMAN_SOCKET")"
        nohup podman system service --time=0 "unix://$PODMAN_SOCKET" >>"$PODMAN_LOG" 2>&1 </dev/null &
    fi
    wait_for_socket "$PODMAN_SOCKET" "$PODMAN_LOG"
    log "podman service answers on $PODMAN_SOCKET"
}

# copy_images_to_podman RUN_AS IMAGE...: `docker save | podman load` of the
# images Podman lacks or holds in another version (same image ID on both
# sides: the ID is the config's digest). RUN_AS runs a command as the store's
# owner: as_root or as_rootless.
copy_images_to_podman() {
    local run_as=$1
    shift
    local image want have stale=() previous=()
    for image in "$@"; do
        want=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null) \
            || die "$image is not in Docker's store; the steps above should have made it"
        have=$("$run_as" podman image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
        if [[ sha256:${have#sha256:} != "$want" ]]; then
            stale+=("$image")
            [[ -n $have ]] && previous+=("$have")
        fi
    done
    if ((${#stale[@]} == 0)); then
        log "podman has $*"
        return
    fi
    log "copying ${stale[*]} from docker to podman"
    docker save "${stale[@]}" | "$run_as" podman load -q >/dev/null \
        || die "docker save | podman load of ${stale[*]} failed"
    # a replaced version is left untagged; drop it unless something still uses it
    for image in "${previous[@]}"; do
        if [[ $("$run_as" podman image inspect -f '{{len .RepoTags}}' "$image" 2>/dev/null) == 0 ]]; then
            "$run_as" podman image rm "$image" >/dev/null 2>&1 || true
        fi
    done
}

ensure_podman_images() {
    copy_images_to_podman as_root "${PODMAN_IMAGES[@]}"
}

as_root() { "$@"; }

# Runs a command as the rootless user, with the runtime dir its Podman needs.
as_rootless() {
    runuser -u "$ROOTLESS_USER" -- env HOME="$(getent passwd "$ROOTLESS_USER" | cut -d: -f6)" \
        XDG_RUNTIME_DIR="$ROOTLESS_RUN" "$@"
}

# An unprivileged user with subordinate ids, its own Podman service on
# $ROOTLESS_SOCKET, and the base image in its store: tests/podman.rs checks
# that rslim refuses to profile there and says what would work.
ensure_rootless_podman() {
    if ! id -u "$ROOTLESS_USER" >/dev/null 2>&1; then
        useradd --create-home --shell /usr/sbin/nologin "$ROOTLESS_USER" \
            || die "cannot create the user $ROOTLESS_USER"
        log "created user $ROOTLESS_USER"
    fi
    local file
    for file in /etc/subuid /etc/subgid; do
        if ! grep -q "^$ROOTLESS_USER:" "$file" 2>/dev/null; then
            usermod --add-subuids 1300000-1365535 --add-subgids 1300000-1365535 "$ROOTLESS_USER" \
                || die "cannot give $ROOTLESS_USER subordinate ids"
            break
        fi
    done
    install -d -m 0700 -o "$ROOTLESS_USER" -g "$ROOTLESS_USER" "$ROOTLESS_RUN" "$ROOTLESS_RUN/podman"
    case $(socket_state "$ROOTLESS_SOCKET") in
        answers) log "rootless podman service answers on $ROOTLESS_SOCKET" ;;
        *)
            rm -f "$ROOTLESS_SOCKET"
            log "starting a rootless podman service as $ROOTLESS_USER on $ROOTLESS_SOCKET (log: $ROOTLESS_LOG)"
            as_rootless nohup podman system service --time=0 "unix://$ROOTLESS_SOCKET" \
                >>"$ROOTLESS_LOG" 2>&1 </dev/null &
            wait_for_socket "$ROOTLESS_SOCKET" "$ROOTLESS_LOG"
            ;;
    esac
    copy_images_to_podman as_rootless "$BASE_IMAGE"
}
