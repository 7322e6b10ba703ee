#!/usr/bin/env bash
# Runs the runner inside an image built by image/build.sh, the way a Kubernetes pod from the
# constructs would: uid 10001, read-only root FS with only /tmp writable, all capabilities dropped,
# no privilege escalation. --network host, so servers started on 127.0.0.1 by a test are reachable.
#
#   image/run-in-container.sh ENGINE [RUNNER ARGS...]          RUNNER ARGS default to: backup
#
# Environment passed in by name only (podman's `-e NAME`, so no value appears in any argv): every
# variable starting with BACKUP_ or AWS_, and those ENGINE's entry in the engine registry lists
# (lib/registry.ts, read through image/build/registry.js: PGHOST, REDISCLI_AUTH, …), as a pod from
# the constructs gets them. A BACKUP_DESTINATION of file:///some/dir is bind-mounted read-write at
# the same path (the directory must be writable by uid 10001). A path in AWS_CA_BUNDLE must exist inside the image (the image's own bundle is
# /etc/ssl/certs/ca-certificates.crt); mount another one with PODMAN_RUN_ARGS.
# IMAGE overrides the image (default localhost/cdk8s-db-backup:<version>-ENGINE); PODMAN_RUN_ARGS adds
# podman run options (split on spaces), e.g. "--memory 256m" to check that memory stays flat.
#
# The script execs podman, so a signal sent to its PID (SIGTERM, SIGINT) is forwarded to the
# container, as the kubelet would; its exit status is the runner's.
set -Eeuo pipefail

IMAGE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly IMAGE_DIR
readonly CACHE_DIR="${CDK8S_DB_BACKUP_CACHE:-/var/tmp/cdk8s-db-backup}"
readonly REGISTRY_JS=$IMAGE_DIR/build/registry.js

die() { echo "run-in-container.sh: error: $*" >&2; exit 2; }

(( $# >= 1 )) || die "usage: $0 ENGINE [RUNNER ARGS...]"
engine=$1
shift
(( $# )) || set -- backup

[[ -f $REGISTRY_JS ]] || die "image/build/registry.js is missing: bundle it first (npx projen bundle:runner)"
engine_env=$(node -e '
  const { ENGINE_NAMES, engineDescriptor } = require(process.argv[1]);
  const d = engineDescriptor(process.argv[2]);
  if (!d) { console.error(`unknown engine "${process.argv[2]}" (engines: ${ENGINE_NAMES.join(" ")})`); process.exit(1); }
  for (const name of Object.values(d.env)) console.log(name);
' "$REGISTRY_JS" "$engine" 2>&1) || die "$engine_env"

[[ -f $CACHE_DIR/podman/env.sh ]] || die "no podman setup in $CACHE_DIR: run image/build.sh first"
# shellcheck source=/dev/null
source "$CACHE_DIR/podman/env.sh"

if [[ -z ${IMAGE:-} ]]; then
  version=${IMAGE_VERSION:-$(node -p 'require(process.argv[1]).version' "$IMAGE_DIR/../package.json")} \
    || die "cannot read the version from package.json (or set IMAGE or IMAGE_VERSION)"
  IMAGE=localhost/cdk8s-db-backup:$version-$engine
fi
podman image exists "$IMAGE" || die "image $IMAGE not found: run image/build.sh $engine first"

# shellcheck disable=SC2054 # the commas are tmpfs mount options
args=(
  --rm --network host --pull=never
  --user 10001:10001
  --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,nosuid,nodev,size=64m
  --cap-drop all --security-opt no-new-privileges
)
declare -A engine_vars=()
while IFS= read -r name; do if [[ -n $name ]]; then engine_vars[$name]=1; fi; done <<<"$engine_env"
while IFS= read -r name; do
  if [[ $name == BACKUP_* || $name == AWS_* || -v "engine_vars[$name]" ]]; then args+=(-e "$name"); fi
done < <(compgen -e)
if [[ ${BACKUP_DESTINATION:-} == file://* ]]; then
  dir=${BACKUP_DESTINATION#file://}
  [[ -d $dir ]] || die "BACKUP_DESTINATION directory $dir does not exist"
  args+=(-v "$dir:$dir:rw")
fi
read -r -a extra <<<"${PODMAN_RUN_ARGS:-}"
exec podman run "${args[@]}" "${extra[@]}" "$IMAGE" "$@"
