# shellcheck shell=bash
# The base image debian:bookworm-slim, made locally with debootstrap when it
# cannot be pulled, and the tarball cache it is made from. Sourced by scripts/setup.

BASE_IMAGE=debian:bookworm-slim
BASE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Makes the rootfs look like the official slim image where it matters to
# Dockerfiles: no docs, man pages or locales from later installs, no apt
# caches left behind, and the same three package sources.
slim_rootfs() {
    local root=$1
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
# keep images small: no documentation, manuals or translations
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
// drop downloaded packages and binary caches after every install or update
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
    printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    printf 'Acquire::GzipIndexes "true";\n' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<'CFG'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
CFG
    # what the exclusions above would have kept out had they been there from the start
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/{man,groff,info,lintian,linda}/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
    rm -rf "$root"/var/log/* "$root"/tmp/* "$root"/root/.cache
    : >"$root/etc/machine-id"
}

# A complete debootstrap left in the cache by an earlier run (debootstrap
# removes its own debootstrap/ directory only when it finished) is reused
# rather than downloaded again.
complete_rootfs() {
    [[ -x $1/usr/bin/apt-get && ! -e $1/debootstrap ]]
}

make_base_tarball() {
    local staging
    rm -rf "$RSLIM_CACHE"/staging.* # left by an interrupted run
    staging=$(mktemp -d "$RSLIM_CACHE/staging.XXXXXX")
    if complete_rootfs "$BASE_ROOTFS"; then
        log "reusing the finished debootstrap in $BASE_ROOTFS"
        cp -a "$BASE_ROOTFS/." "$staging/"
    else
        command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found; install it or rerun scripts/setup as root"
        log "debootstrap minbase bookworm (log: $RSLIM_CACHE/debootstrap.log)"
        debootstrap --variant=minbase bookworm "$staging" http://deb.debian.org/debian \
            >"$RSLIM_CACHE/debootstrap.log" 2>&1 \
            || die "debootstrap failed; see $RSLIM_CACHE/debootstrap.log"
    fi
    slim_rootfs "$staging"
    # /dev, /proc and /sys are provided by the runtime; images ship them empty
    tar --numeric-owner --xattrs -C "$staging" \
        --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
        -cf "$BASE_TARBALL.tmp" . || die "could not write $BASE_TARBALL"
    mv "$BASE_TARBALL.tmp" "$BASE_TARBALL"
    rm -rf "$staging"
    log "cached $(du -h "$BASE_TARBALL" | cut -f1) rootfs at $BASE_TARBALL"
}

ensure_base_image() {
    if image_exists "$BASE_IMAGE"; then
        log "$BASE_IMAGE present"
        return
    fi
    mkdir -p "$RSLIM_CACHE"
    [[ -s $BASE_TARBALL ]] || make_base_tarball
    docker import -c 'CMD ["bash"]' -c "ENV PATH=$BASE_PATH" \
        -m "debootstrap minbase bookworm, made by rslim scripts/setup" \
        "$BASE_TARBALL" "$BASE_IMAGE" >/dev/null || die "docker import of $BASE_TARBALL failed"
    log "imported $BASE_IMAGE from $BASE_TARBALL"
}

# An image with neither ENTRYPOINT nor CMD: no Dockerfile can make one from a
# base that has a CMD, so the base's filesystem is imported bare.
ensure_noentry_fixture() {
    local tag=rslim-fixtures/noentry:latest
    if image_exists "$tag" && ((!REBUILD)); then
        log "$tag present"
        return
    fi
    local previous
    previous=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
    if [[ -s $BASE_TARBALL ]]; then
        docker import -c "ENV PATH=$BASE_PATH" "$BASE_TARBALL" "$tag" >/dev/null
    else
        # the base was pulled, so there is no tarball: flatten the base instead
        local container
        container=$(docker create "$BASE_IMAGE")
        docker export "$container" | docker import -c "ENV PATH=$BASE_PATH" - "$tag" >/dev/null
        docker rm "$container" >/dev/null
    fi
    remove_if_dangling "$previous"
    log "made $tag"
}
