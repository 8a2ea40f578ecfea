#!/usr/bin/env bash
# Slim an image a pipeline built, check that the slim image answers like the
# original, and push it. Any CI system can run this; github-actions.yml and
# gitlab-ci.yml beside it do the same in their own syntax.
#
#   slim-and-push.sh IMAGE TARGET [REPORT]
#
#   IMAGE   the built (fat) image: a name the engine has, or docker-archive:PATH,
#           oci-archive:PATH or oci:DIR
#   TARGET  where the slim image goes: registry/repository:tag (credentials as
#           `docker login` stores them)
#   REPORT  where rslim's --json document goes (default rslim-report.json): keep
#           it as the job's artifact. It is written on failures too, with an
#           `error` object (docs/report.md).
#
# Environment: RSLIM, the rslim binary (default: rslim on PATH);
# RSLIM_INSECURE_REGISTRY, a HOST[:PORT] to push to over plain HTTP (a
# registry on 127.0.0.1 in a test, never a real one).
#
# Exits with rslim's exit code (README, "Exit codes"): 9 when the slim image
# does not answer like the original (nothing is pushed then), 13 when the
# push failed.
set -euo pipefail

if (($# < 2 || $# > 3)); then
    echo "usage: $0 IMAGE TARGET [REPORT]" >&2
    exit 2
fi
image=$1
target=$2
report=${3:-rslim-report.json}
rslim=${RSLIM:-rslim}

flags=(--verify --tag "$target" --push "$target" --json)
if [[ -n ${RSLIM_INSECURE_REGISTRY:-} ]]; then
    flags+=(--insecure-registry "$RSLIM_INSECURE_REGISTRY")
fi

status=0
"$rslim" build "$image" "${flags[@]}" >"$report" || status=$?
if ((status != 0)); then
    # rslim said why on stderr already; the report says it to the next step.
    echo "slim-and-push: rslim exited $status ($(jq -r '.error.kind' "$report"))" >&2
    exit "$status"
fi
jq -r '"slim-and-push: \(.source_image): \(.original_bytes) -> \(.slim_bytes) bytes, "
    + "verified (\(.verification.steps | length) steps), pushed "
    + (.outputs[] | select(.kind == "registry") | "\(.location)@\(.digest)")' "$report" >&2
