# shellcheck shell=bash
# Source this file (`. .ci/use-node.sh`): it puts Node.js 22 first on PATH for this shell when the
# machine's own node is older. Node 22 is the project's baseline (package.json "engines"); Debian
# bookworm machines come with Node 20 at best. The binary comes from the npm registry's
# `node-linux-<arch>` package (the official Node.js build, checked against the registry's integrity
# hash by npm), cached under ~/.cache, so no other download site is needed. Quiet unless it fails.
# NODE_VERSION_PIN overrides the version installed.

cdk8s_db_backup_use_node() {
  local want_major=22 pin="${NODE_VERSION_PIN:-22.23.5}" arch dir have
  have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$have" -ge "$want_major" ] 2>/dev/null; then return 0; fi
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "use-node.sh: no Node.js $want_major package for $(uname -m); install Node.js >= $want_major yourself" >&2; return 1 ;;
  esac
  dir="${XDG_CACHE_HOME:-$HOME/.cache}/cdk8s-db-backup/node-$pin-linux-$arch"
  if [ ! -x "$dir/node_modules/node-linux-$arch/bin/node" ]; then
    if ! command -v npm >/dev/null; then
      echo "use-node.sh: npm is needed to fetch Node.js $pin (or install Node.js >= $want_major yourself)" >&2; return 1
    fi
    mkdir -p "$dir" && printf '{"name":"node-%s","private":true}\n' "$pin" > "$dir/package.json"
    if ! npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock --loglevel=error "node-linux-$arch@$pin" >/dev/null; then
      echo "use-node.sh: could not install node-linux-$arch@$pin from the npm registry" >&2; return 1
    fi
  fi
  export PATH="$dir/node_modules/node-linux-$arch/bin:$PATH"
  hash -r
  have=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$have" -lt "$want_major" ]; then
    echo "use-node.sh: node on PATH is still $(node -v)" >&2; return 1
  fi
}
cdk8s_db_backup_use_node
