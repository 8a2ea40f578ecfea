#!/usr/bin/env bash
# End-to-end check of the static sensor in real containers, done the way the
# controller does it: create with only --cap-add SYS_ADMIN, docker cp the sensor
# and its config into the created container, start, wait, copy the findings out.
#
# usage: sensor/tests/docker-check.sh [path/to/static/rslim-sensor]
# Needs docker and jq. Uses image rslim-sensor-test:base, imported from the
# debootstrap rootfs at $RSLIM_TEST_ROOTFS when missing (and then removed again).
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
sensor=${1:-$(ls -t "$here"/target/*/build/rslim-*/out/rslim-sensor 2>/dev/null | head -n1)}
rootfs=${RSLIM_TEST_ROOTFS:-/var/cache/rslim/rootfs-minbase}
image=rslim-sensor-test:base
[ -x "$sensor" ] || { echo "no sensor binary (build rslim first or pass its path)" >&2; exit 2; }

work=$(mktemp -d)
# Ids go to a file: create runs in command substitution subshells.
: >"$work/containers"
imported=no
cleanup() {
    while read -r c; do docker rm -f -v "$c" >/dev/null 2>&1 || true; done <"$work/containers"
    [ "$imported" = yes ] && docker rmi "$image" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if ! docker image inspect "$image" >/dev/null 2>&1; then
    tar -C "$rootfs" -c . | docker import - "$image" >/dev/null
    imported=yes
fi

failures=0
passes=0
check() { # description, then a command that must succeed
    local what=$1; shift
    if "$@"; then passes=$((passes + 1)); else echo "FAIL: $what" >&2; failures=$((failures + 1)); fi
}
has() { # case, list, path
    jq -e --arg p "$3" ".$2 | index(\$p) != null" "$work/$1.json" >/dev/null
}
field() { jq -c ".$2" "$work/$1.json"; }

# create CASE CONFIG_JSON [docker create options...]: a created, provisioned, not started container
create() {
    local name=$1 config=$2; shift 2
    local id
    id=$(docker create --cap-add SYS_ADMIN --entrypoint /.rslim/sensor "$@" "$image")
    echo "$id" >>"$work/containers"
    mkdir -p "$work/$name/.rslim"
    cp "$sensor" "$work/$name/.rslim/sensor"
    printf '%s' "$config" >"$work/$name/.rslim/config.json"
    docker cp "$work/$name/.rslim" "$id:/.rslim"
    echo "$id"
}
# finish CASE ID: waits, keeps exit code, logs and findings
finish() {
    docker wait "$2" >"$work/$1.code"
    docker logs "$2" >"$work/$1.log" 2>&1
    docker cp "$2:/.rslim/findings.json" "$work/$1.json"
}
run_case() { # CASE CONFIG [docker create options...]
    local name=$1 config=$2; shift 2
    local id
    id=$(create "$name" "$config" "$@")
    docker start "$id" >/dev/null
    finish "$name" "$id"
}

# 1. what a shell script opens and executes, and who else (docker exec) opens
config='{"argv":["sh","-c","cat /etc/os-release >/dev/null; ls /usr/share >/dev/null; sleep 6"],"user":null,"workdir":"/","mount_marks":["/data"],"stop_grace_secs":5}'
id=$(create basic "$config" -v /data)
start=$(date +%s%N)
docker start "$id" >/dev/null
sleep 1
docker exec "$id" sh -c 'echo hello >/data/note; cat /data/note /etc/debian_version >/dev/null'
docker exec "$id" perl -MIO::Socket::INET -e 'my $listener = IO::Socket::INET->new(LocalPort=>4321,Listen=>1,ReuseAddr=>1) or die "listen: $!"; sleep 3' &
for _ in 1 2 3 4 5 6 7 8; do
    sleep 0.25
    docker exec "$id" /proc/1/exe --listening >"$work/listening.txt"
    grep -qx 4321 "$work/listening.txt" && break
done
finish basic "$id"
end=$(date +%s%N)
wait
check "basic exits 0" grep -qx 0 "$work/basic.code"
check "filesystem mark" test "$(field basic mark)" = '"filesystem"'
# /etc/os-release is a symlink: fanotify reports the file it resolves to
check "os-release read" has basic files /usr/lib/os-release
check "libc mapped" has basic files /usr/lib/x86_64-linux-gnu/libc.so.6
check "cat executed by real path" has basic executed /usr/bin/cat
check "dash executed" has basic executed /usr/bin/dash
check "dynamic loader executed" has basic executed /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
check "executed files are files too" has basic files /usr/bin/cat
check "ls listed /usr/share" has basic dirs /usr/share
check "docker exec opens seen" has basic files /etc/debian_version
check "volume opens seen through the mount mark" has basic files /data/note
check "no overflow" test "$(field basic overflows)" = 0
check "no errors" test "$(field basic errors)" = '[]'
check "nothing under /.rslim" test "$(jq '[.files[], .dirs[] | strings | select(startswith("/.rslim"))] | length' "$work/basic.json")" = 0
check "app outcome exited 0" test "$(field basic app)" = '{"outcome":"exited","code":0}'
check "--listening sees the exec'd listener" grep -qx 4321 "$work/listening.txt"
check "startup line logged" grep -q "rslim-sensor: watching with a filesystem mark" "$work/basic.log"
echo "basic: events=$(field basic events) files=$(jq '.files|length' "$work/basic.json") dirs=$(jq '.dirs|length' "$work/basic.json") executed=$(jq -c .executed "$work/basic.json") run=$(((end - start) / 1000000))ms; $(grep 'rslim-sensor: watching' "$work/basic.log")"

# 2. docker stop: the signal is forwarded and the app stops within the grace period
id=$(create stop '{"argv":["sleep","100"],"user":null,"workdir":null,"mount_marks":[],"stop_grace_secs":5}')
docker start "$id" >/dev/null
sleep 1
start=$(date +%s%N)
docker stop -t 30 "$id" >/dev/null
end=$(date +%s%N)
finish stop "$id"
check "stop requested" test "$(field stop stop_requested)" = true
check "sleep got SIGTERM" test "$(field stop app)" = '{"outcome":"signaled","signal":15}'
check "sensor exits 128+15" grep -qx 143 "$work/stop.code"
echo "stop: docker stop took $(((end - start) / 1000000))ms"

# 3. an app that ignores the stop signal is killed after the grace period
id=$(create stubborn '{"argv":["sh","-c","trap \"\" TERM; sleep 100 & wait; wait"],"user":null,"workdir":null,"mount_marks":[],"stop_grace_secs":2}')
docker start "$id" >/dev/null
sleep 1
start=$(date +%s%N)
docker stop -t 30 "$id" >/dev/null
end=$(date +%s%N)
finish stubborn "$id"
elapsed=$(((end - start) / 1000000))
check "stubborn app killed" test "$(field stubborn app)" = '{"outcome":"signaled","signal":9}'
check "killed after the 2 s grace, not docker's 30 s" test "$elapsed" -ge 2000 -a "$elapsed" -lt 10000
echo "stubborn: killed after ${elapsed}ms"

# 4. the image's StopSignal (here SIGWINCH, as in httpd) also starts the stop protocol
id=$(create winch '{"argv":["sleep","100"],"user":null,"workdir":null,"mount_marks":[],"stop_grace_secs":5,"stop_signal":"SIGWINCH"}' --stop-signal SIGWINCH)
docker start "$id" >/dev/null
sleep 1
docker stop -t 30 "$id" >/dev/null
finish winch "$id"
check "winch stop requested" test "$(field winch stop_requested)" = true
check "sleep ignores WINCH, killed after grace" test "$(field winch app)" = '{"outcome":"signaled","signal":9}'

# 5. non-root users
run_case nobody '{"argv":["sh","-c","echo $(id -u) $(id -g) $(id -G) $HOME $PWD"],"user":"nobody","workdir":"/tmp","mount_marks":[],"stop_grace_secs":5}'
check "nobody exits 0" grep -qx 0 "$work/nobody.code"
check "runs as nobody:nogroup in /tmp, HOME from passwd" grep -qx "65534 65534 65534 /nonexistent /tmp" "$work/nobody.log"
run_case numeric '{"argv":["sh","-c","id -u; id -g; echo $HOME; touch /etc/x 2>/dev/null && echo writable"],"user":"1000:1000","workdir":null,"mount_marks":[],"stop_grace_secs":5,"image_sets_home":true}' -e HOME=/srv
check "1000:1000 keeps the image's HOME" test "$(grep -v '^rslim-sensor:' "$work/numeric.log" | head -n3 | tr '\n' ' ')" = "1000 1000 /srv "
check "1000 is not root" bash -c "! grep -q writable '$work/numeric.log'"
run_case nouser '{"argv":["true"],"user":"postgres","workdir":null,"mount_marks":[],"stop_grace_secs":5}'
check "unknown user is not started" test "$(jq -r .app.outcome "$work/nouser.json")" = not_started
check "unknown user exits 126" grep -qx 126 "$work/nouser.code"

# 6. exit codes and a missing program
run_case three '{"argv":["sh","-c","exit 3"],"user":null,"workdir":null,"mount_marks":[],"stop_grace_secs":5}'
check "sensor exits 3" grep -qx 3 "$work/three.code"
check "app exited 3" test "$(field three app)" = '{"outcome":"exited","code":3}'
run_case missing '{"argv":["rslim-no-such-program"],"user":null,"workdir":null,"mount_marks":[],"stop_grace_secs":5}'
check "missing program not started" test "$(jq -r .app.outcome "$work/missing.json")" = not_started
check "missing program exits 127" grep -qx 127 "$work/missing.code"

# 7. without SYS_ADMIN there is no fanotify: findings still say why
id=$(docker create --entrypoint /.rslim/sensor "$image")
echo "$id" >>"$work/containers"
mkdir -p "$work/nocap"
cp -r "$work/three/.rslim" "$work/nocap/.rslim"
docker cp "$work/nocap/.rslim" "$id:/.rslim"
docker start "$id" >/dev/null
finish nocap "$id"
check "no capability exits 125" grep -qx 125 "$work/nocap.code"
check "no capability says to add SYS_ADMIN" grep -q "SYS_ADMIN" "$work/nocap.json"

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
