#!/usr/bin/env bash
# Builds the companion image, one image per engine, with podman, offline from any container registry:
# Debian trixie is debootstrapped into a folder, imported as the local base image and passed to
# image/Dockerfile as BASE. Runs as root on a Debian 12 machine that reaches Debian's mirrors.
#
#   image/build.sh [--refresh-base] [--registry REG] [ENGINE...]   build; ENGINE: a name from lib/registry.ts
#   image/build.sh --print-plan [--registry REG] [ENGINE...]       print what would be built, build nothing
#
# The engines, their packages, vendor downloads and smoke tests come from the engine registry
# (lib/registry.ts), read through its bundle image/build/registry.js (the bundle:runner task makes
# it). With no ENGINE, every engine without a vendor download is built: a download (MongoDB's .deb
# for `mongo`) needs its sha256 in the variable the registry names (MONGO_TOOLS_SHA256), and the
# vendor's site, which only Debian's mirrors and npm being reachable rules out here.
#
# Produces localhost/cdk8s-db-backup:<package.json version>-<engine>. Needs image/build/runner.js
# (the runner bundle) first. --print-plan writes one JSON line per engine: engine, tag, whether it is
# built by default, the `podman build` arguments for that engine and the smoke test's argv (and
# registryTag with --registry); it needs neither root nor podman.
#
# --registry REG also tags each image for a private registry the way the library's
# BackupDefaults.of(scope).useRegistry(REG) names it: the companion image's path on ghcr.io kept,
# REG/cdk8s-db-backup/cdk8s-db-backup:<version>-<engine>, so `podman push` of that tag is all an
# air-gapped cluster's registry needs from this build. REG is a host (with a dot or a port, or
# localhost) and an optional path, lowercase, without a scheme, tag or trailing slash.
#
# Everything it keeps (podman's storage and config, the base rootfs tarball, build logs) lives under
# $CDK8S_DB_BACKUP_CACHE, default /var/tmp/cdk8s-db-backup: outside the work tree so a fresh clone (as
# in CI) still starts warm. To use the images afterwards, `source $CDK8S_DB_BACKUP_CACHE/podman/env.sh`
# (image/run-in-container.sh does).
#
# Environment: CDK8S_DB_BACKUP_CACHE, DEBIAN_MIRROR (default http://deb.debian.org/debian),
# DEBIAN_SECURITY_MIRROR, STORAGE_DRIVER (overlay or vfs; default overlay, vfs if overlay is
# unusable), IMAGE_VERSION (default: package.json's version), and for an engine with a vendor
# download the sha256 variable its registry entry names (MONGO_TOOLS_SHA256 for mongo).
set -Eeuo pipefail

IMAGE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$IMAGE_DIR")
readonly IMAGE_DIR REPO_ROOT
readonly CACHE_DIR="${CDK8S_DB_BACKUP_CACHE:-/var/tmp/cdk8s-db-backup}"
readonly MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
readonly SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-${MIRROR%/debian}/debian-security}"
readonly SUITE=trixie
readonly IMAGE_NAME=localhost/cdk8s-db-backup
# The library's IMAGE.REPOSITORY (lib/contract.ts): --registry keeps its path. A test compares the
# tags with the library's images.
readonly ORIGIN_REPOSITORY=ghcr.io/cdk8s-db-backup/cdk8s-db-backup
readonly BASE_NAME=localhost/cdk8s-db-backup-base
readonly HOST_PACKAGES=(podman buildah runc debootstrap)
readonly REGISTRY_JS=$IMAGE_DIR/build/registry.js
# The one stage of image/Dockerfile every engine is built from.
readonly TARGET=engine

step_name=
step_start=
script_start=$EPOCHREALTIME
timings=()

die() {
  local where=
  if [[ -n $step_name ]]; then where=" in step \"$step_name\""; fi
  echo "build.sh: error$where: $*" >&2
  exit 1
}
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
step() {
  end_step
  step_name=$1
  step_start=$EPOCHREALTIME
  echo "==> $step_name"
}
end_step() {
  if [[ -n $step_name ]]; then
    local secs; secs=$(elapsed "$step_start")
    echo "    done in ${secs}s"
    timings+=("$(printf '%-60s %7ss' "$step_name" "$secs")")
    step_name=
  fi
}
on_error() {
  local code=$?
  echo "build.sh: FAILED (exit $code) during: ${step_name:-startup} (line $1)" >&2
  exit "$code"
}
trap 'on_error $LINENO' ERR

# The rules of the library's BackupDefaults.useRegistry() (lib/defaults.ts), with the same messages
# (a test compares them).
bad_registry() { die "--registry: $*."; }
check_registry() { # value
  local r=$1 example="e.g. 'registry.example.com/mirror'"
  [[ -n ${r//[[:space:]]/} ]] || bad_registry "must be a registry host with an optional path, $example"
  [[ ! $r =~ [[:space:]] ]] || bad_registry "'$r' contains white space; give the registry host and path only, $example"
  [[ ! $r =~ ^[A-Za-z][A-Za-z0-9+.-]*:// ]] || bad_registry "'$r' has a scheme; image references have none. Give '${r#*://}'"
  [[ $r != */ ]] || bad_registry "'$r' ends with '/'; give it without: '$(sed -E 's#/+$##' <<<"$r")'"
  [[ $r != *@* ]] || bad_registry "'$r' has a digest; give the registry and path only (each image keeps its own tag and digest): '${r%%@*}'"
  local host=${r%%/*} path='' untagged
  [[ $r != */* ]] || path=/${r#*/}
  # A colon is a port in the host and a tag anywhere else.
  untagged=$(sed -E 's#:[^/]*(/|$)#\1#g' <<<"$path")
  if [[ $host =~ :[0-9]+$ ]]; then untagged=$host$untagged; else untagged=${host%%:*}$untagged; fi
  [[ $untagged == "$r" ]] || bad_registry "'$r' has a tag; give the registry and path only (each image keeps its own tag): '$untagged'"
  [[ $r == "${r,,}" ]] || bad_registry "'$r' has uppercase letters, which image references do not allow; give '${r,,}'"
  [[ $host =~ ^(localhost|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:[0-9]+)?$ ]] \
    || bad_registry "'$host' is not a registry host name with an optional port, $example"
  [[ $host == *[.:]* || $host == localhost ]] \
    || bad_registry "'$host' has no dot and no port, so a container runtime would read '$r/…' as a path on Docker Hub, not as a registry; give the host with its domain or port, e.g. '$host.example.com$path' or '$host:5000$path'"
  local component components=()
  IFS=/ read -r -a components <<<"${path#/}"
  for component in "${components[@]}"; do
    [[ $component =~ ^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$ ]] \
      || bad_registry "'$r' has the path component '$component'; each must be lowercase letters and digits separated by '.', '_', '__' or '-', $example"
  done
}

refresh_base=false
print_plan=false
push_registry=
engines=()
readonly FLAGS="--refresh-base, --print-plan, --registry REG"
while (( $# )); do
  arg=$1
  shift
  case $arg in
    --refresh-base) refresh_base=true ;;
    --print-plan) print_plan=true ;;
    --registry) (( $# )) || die "--registry needs a value, e.g. --registry registry.example.com/mirror"; push_registry=$1; shift; check_registry "$push_registry" ;;
    --registry=*) push_registry=${arg#--registry=}; check_registry "$push_registry" ;;
    -h|--help) sed -n '2,/^set -E/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown flag '$arg' (flags: $FLAGS)" ;;
    *) engines+=("$arg") ;;
  esac
done

command -v node >/dev/null || die "node is needed to read the engine registry (image/build/registry.js)"
[[ -f $REGISTRY_JS ]] \
  || die "image/build/registry.js is missing: bundle the registry first (npx projen bundle:runner), then rerun"
# One line per engine, fields separated by US (0x1f: not whitespace, so `read` keeps empty fields):
# name, Debian packages, download URL, its sha256 variable, its architectures, first dump tool.
# Every value is checked, because each ends up in a build argument, a tag or a command.
registry=$(node -e '
  const { ENGINE_REGISTRY } = require(process.argv[1]);
  const fail = (name, what) => { console.error(`lib/registry.ts: engine ${name}: ${what}`); process.exit(1); };
  for (const [key, d] of Object.entries(ENGINE_REGISTRY)) {
    if (!/^[a-z][a-z0-9-]*$/.test(key) || d.name !== key) fail(key, `name "${d.name}" must equal its key and match [a-z][a-z0-9-]*`);
    const packages = d.image.packages;
    if (!packages.length || !packages.every(p => /^[a-z0-9][a-z0-9.+-]+$/.test(p))) fail(key, `image.packages must be Debian package names, got ${JSON.stringify(packages)}`);
    const dl = d.image.download;
    if (dl && !/^https:\/\/[^\s"]+$/.test(dl.url)) fail(key, `image.download.url must be an https URL, got "${dl.url}"`);
    if (dl && !/^[A-Z_][A-Z0-9_]*$/.test(dl.sha256Arg)) fail(key, `image.download.sha256Arg must be a variable name, got "${dl.sha256Arg}"`);
    if (dl && (!dl.architectures.length || !dl.architectures.every(a => /^[a-z0-9]+$/.test(a)))) fail(key, `image.download.architectures must be TARGETARCH names, got ${JSON.stringify(dl.architectures)}`);
    const tool = d.tools.dump[0];
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(tool ?? "")) fail(key, `tools.dump[0] must be an executable name, got "${tool}"`);
    console.log([key, packages.join(" "), dl?.url ?? "", dl?.sha256Arg ?? "", (dl?.architectures ?? []).join(" "), tool].join("\x1f"));
  }' "$REGISTRY_JS") || die "cannot read the engine registry from $REGISTRY_JS (rebuild it: npx projen bundle:runner)"
declare -A packages=() download_url=() sha256_var=() architectures=() smoke=()
known=()
default_engines=()
while IFS=$'\x1f' read -r name pkgs url sha_var archs tool; do
  known+=("$name")
  packages[$name]=$pkgs
  download_url[$name]=$url
  sha256_var[$name]=$sha_var
  architectures[$name]=$archs
  smoke[$name]="$tool --version"
  [[ -n $url ]] || default_engines+=("$name")
done <<<"$registry"
(( ${#known[@]} )) || die "the engine registry in $REGISTRY_JS lists no engine"

for engine in "${engines[@]}"; do
  [[ -v "packages[$engine]" ]] || die "unknown engine '$engine' (engines: ${known[*]}; flags: $FLAGS)"
done
(( ${#engines[@]} )) || engines=("${default_engines[@]}")
for engine in "${engines[@]}"; do
  var=${sha256_var[$engine]}
  # Refused before anything is built; the Dockerfile refuses it too, for builds without this script.
  if [[ -n $var && ! ${!var:-} =~ ^[0-9a-f]{64}$ ]]; then
    die "$engine: set $var to the sha256 of ${download_url[$engine]##*/} (sha256sum of the .deb, where $(cut -d/ -f3 <<<"${download_url[$engine]}") is reachable)"
  fi
done

if [[ -n ${IMAGE_VERSION:-} ]]; then
  version=$IMAGE_VERSION
else
  version=$(node -p 'require(process.argv[1]).version' "$REPO_ROOT/package.json") \
    || die "could not read \"version\" from $REPO_ROOT/package.json"
fi
[[ $version =~ ^[0-9A-Za-z][0-9A-Za-z._-]*$ ]] || die "version '$version' is not usable in an image tag"

# The tag for the private registry, empty without --registry.
registry_tag() { # engine
  if [[ -n $push_registry ]]; then echo "$push_registry/${ORIGIN_REPOSITORY#*/}:$version-$1"; fi
}

# The `podman build` arguments that make `engine`'s image from its registry entry (all but the
# shared BASE and the tag), NUL-separated.
engine_build_args() { # engine
  local engine=$1 var=${sha256_var[$1]}
  local args=(--target "$TARGET" --build-arg "ENGINE=$engine" --build-arg "ENGINE_PACKAGES=${packages[$engine]}")
  if [[ -n ${download_url[$engine]} ]]; then
    args+=(
      --build-arg "DOWNLOAD_URL=${download_url[$engine]}"
      --build-arg "DOWNLOAD_SHA256=${!var:-}"
      --build-arg "DOWNLOAD_SHA256_ARG=$var"
      --build-arg "DOWNLOAD_ARCHITECTURES=${architectures[$engine]}"
    )
  fi
  printf '%s\0' "${args[@]}"
}

if $print_plan; then
  for engine in "${engines[@]}"; do
    mapfile -d '' -t args < <(engine_build_args "$engine")
    read -r -a probe <<<"${smoke[$engine]}"
    node -e '
      const [engine, tag, registryTag, defaults, probeCount, ...rest] = process.argv.slice(1);
      const smoke = rest.slice(0, Number(probeCount));
      const podmanBuild = rest.slice(smoke.length);
      const plan = { engine, tag, default: defaults.split(" ").includes(engine), podmanBuild, smoke };
      console.log(JSON.stringify(registryTag ? { ...plan, registryTag } : plan));
    ' "$engine" "$IMAGE_NAME:$version-$engine" "$(registry_tag "$engine")" "${default_engines[*]}" "${#probe[@]}" "${probe[@]}" "${args[@]}"
  done
  exit 0
fi

step "preflight"
(( EUID == 0 )) || die "run as root (debootstrap and rootful podman need it)"
[[ -f $IMAGE_DIR/build/runner.js ]] \
  || die "image/build/runner.js is missing: bundle the runner first (the esbuild task), then rerun"
echo "    version $version, engines: ${engines[*]} (registry: ${known[*]}), cache $CACHE_DIR${push_registry:+, also tagged for $push_registry}"
mkdir -p "$CACHE_DIR"/{base,logs,podman}
# One build at a time per cache (tests may call this concurrently).
exec 9>"$CACHE_DIR/build.lock"
flock 9

step "host packages: ${HOST_PACKAGES[*]}"
missing=()
for pkg in "${HOST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if (( ${#missing[@]} )); then
  echo "    installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  # runc is named so apt does not pick crun for podman's runtime dependency: crun fails here.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$CACHE_DIR/logs/apt-host.log" 2>&1 \
    || { tail -n 40 "$CACHE_DIR/logs/apt-host.log" >&2; die "apt-get install ${missing[*]} failed"; }
else
  echo "    already installed"
fi

step "podman configuration"
# Private config and storage, so nothing in /etc changes and nothing another podman user did (another
# storage driver in /var/lib/containers) gets in the way.
conf_dir=$CACHE_DIR/podman
# podman's runtime state, one folder per cache (its tmp_dir must not be shared between stores).
run_dir=/run/cdk8s-db-backup-$(printf '%s' "$CACHE_DIR" | sha256sum | cut -c1-8)
write_podman_conf() { # driver
  cat >"$conf_dir/containers.conf" <<EOF
# Written by image/build.sh.
[containers]
# Without explicit limits the containers inherit limits runc cannot apply here.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
# crun fails on this machine kind; runc works.
runtime = "runc"
# No systemd as PID 1 here (cgroup v1, cgroupfs) and no journald.
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$run_dir/libpod-$1"
EOF
  cat >"$conf_dir/storage.conf" <<EOF
# Written by image/build.sh.
[storage]
driver = "$1"
graphroot = "$conf_dir/storage-$1"
runroot = "$run_dir/storage-$1"
EOF
  cat >"$conf_dir/env.sh" <<EOF
# Written by image/build.sh: source this to use the images it built.
export CONTAINERS_CONF='$conf_dir/containers.conf'
export CONTAINERS_STORAGE_CONF='$conf_dir/storage.conf'
EOF
}
export CONTAINERS_CONF=$conf_dir/containers.conf CONTAINERS_STORAGE_CONF=$conf_dir/storage.conf
driver=${STORAGE_DRIVER:-overlay}
write_podman_conf "$driver"
if ! podman info >"$CACHE_DIR/logs/podman-info.log" 2>&1; then
  if [[ -z ${STORAGE_DRIVER:-} && $driver == overlay ]]; then
    echo "    overlay storage is unusable here ($(tail -n 1 "$CACHE_DIR/logs/podman-info.log")); using vfs (slower, larger)"
    driver=vfs
    write_podman_conf "$driver"
    podman info >"$CACHE_DIR/logs/podman-info.log" 2>&1 \
      || { cat "$CACHE_DIR/logs/podman-info.log" >&2; die "podman does not work with the vfs driver either"; }
  else
    cat "$CACHE_DIR/logs/podman-info.log" >&2
    die "podman does not work with storage driver '$driver'"
  fi
fi
echo "    $(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}'), storage $driver, cgroups $(podman info --format '{{.Host.CgroupsVersion}}')"
echo "    use the images with: source $conf_dir/env.sh"

step "local base image (debootstrap --variant=minbase $SUITE)"
# The rootfs changes only at a Debian point release (the suite's InRelease Date) or when the recipe
# below changes; packages installed by the Dockerfile come from trixie, trixie-updates and
# trixie-security as usual.
make_rootfs() { # target_dir
  local root=$1
  debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$CACHE_DIR/logs/debootstrap.log" 2>&1 \
    || { tail -n 40 "$CACHE_DIR/logs/debootstrap.log" >&2; die "debootstrap $SUITE from $MIRROR failed (log: $CACHE_DIR/logs/debootstrap.log)"; }
  grep -q 'Valid Release signature' "$CACHE_DIR/logs/debootstrap.log" \
    || die "debootstrap did not verify the Release signature (is debian-archive-keyring installed?)"
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # What the official -slim images leave out, so sizes measured here match theirs.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
  echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  find "$root/usr/share/doc" -xdev ! -type d ! -name copyright -delete
  find "$root/usr/share/doc" -xdev -mindepth 1 -type d -empty -delete
  find "$root/usr/share/locale" -xdev -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  rm -rf "$root"/usr/share/{groff,info,linda,man}/* "$root"/usr/share/lintian/overrides/*
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
  find "$root/var/log" -type f -exec truncate -s 0 {} +
  : >"$root/etc/hostname"
  : >"$root/etc/resolv.conf"
}
release_date=$(wget -qO- "$MIRROR/dists/$SUITE/InRelease" | sed -n 's/^Date: //p') \
  || die "cannot fetch $MIRROR/dists/$SUITE/InRelease"
[[ -n $release_date ]] || die "no Date: in $MIRROR/dists/$SUITE/InRelease"
base_key=$(printf '%s\n' "$SUITE" "$MIRROR" "$SECURITY_MIRROR" "$release_date" "$(declare -f make_rootfs)" \
  | sha256sum | cut -c1-12)
base_image=$BASE_NAME:$SUITE-$base_key
base_tar=$CACHE_DIR/base/$SUITE-$base_key.tar
echo "    $SUITE released $release_date -> $base_image"
if $refresh_base; then
  podman rmi --force "$base_image" >/dev/null 2>&1 || true
  rm -f "$base_tar"
fi
if podman image exists "$base_image"; then
  echo "    cached in podman storage"
else
  if [[ -f $base_tar ]]; then
    echo "    rootfs cached: $base_tar"
  else
    work=$(mktemp -d "$CACHE_DIR/base/tmp.XXXXXX")
    t0=$EPOCHREALTIME
    make_rootfs "$work/rootfs"
    echo "    debootstrap + trim: $(elapsed "$t0")s, $(du -sh "$work/rootfs" | cut -f1)"
    # /dev, /proc and /sys stay empty: the runtime provides them.
    tar -C "$work/rootfs" --numeric-owner --xattrs --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
      -cf "$work/rootfs.tar" . || die "cannot tar the rootfs"
    mv "$work/rootfs.tar" "$base_tar"
    rm -rf "$work"
    find "$CACHE_DIR/base" -maxdepth 1 -name "$SUITE-*.tar" ! -path "$base_tar" -delete
  fi
  podman import --quiet "$base_tar" "$base_image" >/dev/null || die "podman import $base_tar failed"
  echo "    imported"
fi

built=()
for engine in "${engines[@]}"; do
  tag=$IMAGE_NAME:$version-$engine
  step "build $tag"
  log=$CACHE_DIR/logs/build-$engine.log
  mapfile -d '' -t args < <(engine_build_args "$engine")
  pushed=$(registry_tag "$engine")
  tags=(-t "$tag")
  if [[ -n $pushed ]]; then tags+=(-t "$pushed"); fi
  # --pull=never: the base is local, and no registry is reachable to fall back to.
  if ! podman build --network host --pull=never --build-arg "BASE=$base_image" "${args[@]}" "${tags[@]}" \
      -f "$IMAGE_DIR/Dockerfile" "$IMAGE_DIR" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    die "podman build of $tag failed (full log: $log)"
  fi
  read -r -a probe <<<"${smoke[$engine]}"
  out=$(podman run --rm --network none --read-only --entrypoint "${probe[0]}" "$tag" "${probe[@]:1}" 2>&1) \
    || die "smoke test '${smoke[$engine]}' in $tag failed: $out"
  echo "    $out"
  out=$(podman run --rm --network none --read-only --entrypoint node "$tag" \
    -e 'const u = process.getuid(); console.log(`node ${process.version} uid ${u}`); process.exit(u === 10001 ? 0 : 1)' 2>&1) \
    || die "smoke test in $tag: node must run as uid 10001: $out"
  echo "    $out"
  built+=("$tag")
  if [[ -n $pushed ]]; then built+=("$pushed"); fi
done
end_step

echo "==> images"
for tag in "${built[@]}"; do
  podman image inspect --format '{{.Size}}' "$tag" \
    | awk -v t="$tag" '{ printf "    %-48s %6.1f MB\n", t, $1 / 1e6 }'
done
if [[ -n $push_registry ]]; then
  echo "==> push to $push_registry (after: source $conf_dir/env.sh)"
  for engine in "${engines[@]}"; do echo "    podman push $(registry_tag "$engine")"; done
fi
echo "==> timings"
printf '    %s\n' "${timings[@]}"
printf '    %-60s %7ss\n' "total" "$(elapsed "$script_start")"
echo "    use the images with: source $conf_dir/env.sh"
