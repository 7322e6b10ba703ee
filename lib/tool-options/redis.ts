/**
 * redis-cli 8.0 (the image's redis-tools): its `--help` plus the hidden options of redis-cli.c's
 * parseOptions. It matches whole names only; the first word that is not an option is a command.
 *
 * No cdk8s import: the runner bundles this file. Internal: not exported from the package index.
 */
import { table } from './table';

export const REDIS_CLI_OPTIONS = table('redis-cli', 'redis-cli', 'a command to send to the server, instead of the dump', `
connection -h=
connection -p=
connection -s=
connection -a=
connection -u=
connection    --user=
connection    --pass=
connection    --askpass
connection -n=
connection -t=
connection -4
connection -6
connection    --tls
connection    --sni=
connection    --cacert=
connection    --cacertdir=
connection    --insecure
connection    --cert=
connection    --key=
connection    --tls-ciphers=
connection    --tls-ciphersuites=
runner        --rdb=
no            --functions-rdb=               # would store only the functions, not the data
runner        --no-auth-warning
no         -r=
no         -i=
no         -2
no         -3
no         -x
no         -X=
no         -d=
no         -D=
no         -c
no         -e
no            --raw
no            --no-raw
no            --quoted-input
no            --csv
no            --json
no            --quoted-json
no            --show-pushes=
no            --stat
no            --latency
no            --latency-history
no            --latency-dist
no            --lru-test=
no            --replica
no            --slave ~replica
no            --pipe
no            --pipe-timeout=
no            --bigkeys
no            --memkeys
no            --memkeys-samples=
no            --keystats
no            --keystats-samples=
no            --cursor=
no            --top=
no            --hotkeys
no            --scan
no            --pattern=
no            --count=
no            --quoted-pattern=
no            --intrinsic-latency=
no            --eval=
no            --ldb
no            --ldb-sync-mode
no            --cluster=
no            --cluster-replicas=
no            --cluster-weight=
no            --cluster-slots=
no            --cluster-timeout=
no            --cluster-pipeline=
no            --cluster-threshold=
no            --cluster-from=
no            --cluster-from-user=
no            --cluster-from-pass=
no            --cluster-to=
no            --cluster-search-multiple-owners
no            --cluster-use-empty-masters
no            --cluster-fix-with-unreachable-masters
no            --cluster-replace
no            --cluster-copy
no            --cluster-simulate
no            --cluster-yes
no            --cluster-only-masters
no            --cluster-only-replicas
no            --cluster-from-askpass
no            --test_hint=
no            --test_hint_file=
no            --verbose
exits         --help
exits         --version
`);
