#!/usr/bin/env bash
# Installs the tools the bench compares the runner with — the ones users would otherwise pick:
# rclone (`rcat`, the seed's `mc pipe` pattern), awscli (`aws s3 cp`, dump-to-file-then-upload
# images) and restic (k8up's engine), all from Debian. Bench only: not part of CI
# (.ci/install-servers.sh installs what the tests need). Debian 12, run as root. Safe to run again.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

packages=(rclone awscli restic)
binaries=(/usr/bin/rclone /usr/bin/aws /usr/bin/restic)

missing=()
for b in "${binaries[@]}"; do
  [[ -x "$b" ]] || missing+=("$b")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-peers: rclone, aws and restic present, nothing to do"
  exit 0
fi
echo "install-peers: missing ${missing[*]}; installing ${packages[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}"
