#!/usr/bin/env bash
# Installs the real servers the integration tests start throwaway copies of
# (see test/servers/): PostgreSQL 15, Ceph mon/osd/radosgw (S3), MariaDB,
# Redis, plus the zstd CLI, faketime (the clock-skew tests run the runner
# under it), Prometheus, its Pushgateway and promtool (the monitoring tests), and
# age (encryption interoperability tests), and shellcheck (the workflows' run steps are checked
# with it, test/release/). Debian 12, run as root. Safe to run again: apt skips what is
# already installed, and the whole thing is skipped when every binary is
# already there (the common case on a reused machine).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

packages=(
  postgresql-15 postgresql-client-15
  ceph-mon ceph-osd radosgw ceph-common
  mariadb-server mariadb-client
  redis-server redis-tools
  zstd
  faketime
  prometheus prometheus-pushgateway
  age
  shellcheck
)

# The binaries test/servers/*.ts actually execute. If all exist, apt is not
# needed at all (saves the `apt-get update`, ~10 s, on every CI run).
binaries=(
  /usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/pg_ctl
  /usr/lib/postgresql/15/bin/pg_isready /usr/lib/postgresql/15/bin/psql
  /usr/bin/ceph-mon /usr/bin/ceph-osd /usr/bin/radosgw /usr/bin/radosgw-admin
  /usr/bin/ceph /usr/bin/ceph-authtool /usr/bin/monmaptool
  /usr/sbin/mariadbd /usr/bin/mariadb-install-db /usr/bin/mariadb
  /usr/bin/redis-server /usr/bin/redis-cli
  /usr/bin/zstd
  /usr/bin/faketime
  /usr/bin/promtool /usr/bin/prometheus /usr/bin/prometheus-pushgateway
  /usr/bin/age /usr/bin/age-keygen
  /usr/bin/shellcheck
)

missing=()
for b in "${binaries[@]}"; do
  [[ -x "$b" ]] || missing+=("$b")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-servers: all server binaries present, nothing to do"
  exit 0
fi
echo "install-servers: missing ${missing[*]}; installing ${packages[*]}"

if [[ $(id -u) -ne 0 ]]; then
  echo "install-servers: must run as root (apt-get install)" >&2
  exit 1
fi

# Debian's maintainer scripts start each server as a system-wide daemon
# (postgresql's "main" cluster on 5432, mariadb on 3306, redis on 6379, ceph
# units) through invoke-rc.d. Our tests start their own copies on random
# ports and never want those, so tell invoke-rc.d "no" (exit 101) for the
# duration of the install. An existing policy-rc.d (container images often
# ship one) is left as it is.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
cleanup() {
  if [[ $created_policy -eq 1 ]]; then rm -f "$policy"; fi
}
trap cleanup EXIT

# Another apt on the same machine (a concurrent session) holds the dpkg lock;
# wait for it rather than failing.
apt_opts=(-y -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

start=$(date +%s)
apt-get "${apt_opts[@]}" update
apt-get "${apt_opts[@]}" install --no-install-recommends "${packages[@]}"
echo "install-servers: apt took $(( $(date +%s) - start )) s"

for b in "${binaries[@]}"; do
  if [[ ! -x "$b" ]]; then
    echo "install-servers: $b still missing after install" >&2
    exit 1
  fi
done
echo "install-servers: done"
