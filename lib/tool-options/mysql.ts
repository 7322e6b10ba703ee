/**
 * mariadb-dump and mariadb of MariaDB 11.8 (the image's mariadb-client): their `--help`, plus the
 * option-file options load_defaults reads and MySQL's --login-path, so the mysqldump/mysql
 * fallbacks are refused them too. Both parse with MariaDB's my_getopt.
 *
 * No cdk8s import: the runner bundles this file. Internal: not exported from the package index.
 */
import { table } from './table';

/** The option-file options every MariaDB and MySQL client reads (load_defaults), and MySQL's login paths. */
const MY_OPTION_FILES = `
files         --defaults-file=
files         --defaults-extra-file=
files         --defaults-group-suffix=
files         --no-defaults
files         --print-defaults
files         --login-path=
files         --no-login-paths
`;

/** Connection, TLS and plugin options, the same in mariadb-dump and mariadb. */
const MY_CONNECTION = `
connection -h --host=
connection -P --port=
connection -S --socket=
connection    --protocol=
connection -u --user=
connection -p --password[=]
connection -C --compress
connection    --ssl
connection    --ssl-ca=
connection    --ssl-capath=
connection    --ssl-cert=
connection    --ssl-cipher=
connection    --ssl-key=
connection    --ssl-crl=
connection    --ssl-crlpath=
connection    --tls-version=
connection    --ssl-fp=
connection    --ssl-fplist=
connection    --ssl-verify-server-cert
connection    --plugin-dir=
connection    --default-auth=
no            --character-sets-dir=
no         -# --debug[=]
no            --debug-check
exits      -V --version
exits      -? --help
`;

export const MARIADB_DUMP_OPTIONS = table('mariadb-dump', 'my_getopt', 'names of tables to dump, the only ones dumped', `
allow         --ignore-table=
allow         --ignore-table-data=
allow      -w --where=
allow      -d --no-data
allow      -t --no-create-info
allow         --triggers
allow      -R --routines
allow      -E --events
allow         --add-drop-table
allow         --add-drop-trigger
allow         --add-locks
allow         --allow-keywords
allow      -c --complete-insert
allow      -e --extended-insert
allow         --insert-ignore
allow         --replace
allow      -i --comments
allow         --dump-date
allow      -a --create-options
allow      -K --disable-keys
allow      -Q --quote-names
allow         --no-autocommit
allow         --order-by-primary
allow         --order-by-size
allow         --max-allowed-packet=
allow         --net-buffer-length=
allow         --max-statement-time=
allow      -v --verbose
runner        --single-transaction           # one consistent snapshot without locking tables
runner     -q --quick                        # rows are streamed, not buffered in memory
runner        --hex-blob
runner        --default-character-set=
runner     -y --no-tablespaces
undoes        --opt                          # would switch --quick back on or off with the rest
undoes        --skip-opt                     # would buffer whole tables in memory
undoes     -l --lock-tables                  # the dump is one snapshot without table locks
undoes     -x --lock-all-tables              # the dump is one snapshot without a global read lock
undoes        --set-charset                  # SET NAMES in the dump keeps non-ASCII data intact on restore
undoes     -N --no-set-names                 # SET NAMES in the dump keeps non-ASCII data intact on restore
undoes        --compact                      # drops SET NAMES, which a restore needs for non-ASCII data
undoes        --tz-utc                       # the dump stores TIMESTAMP values in UTC, whatever the server time zone
output     -r --result-file=
output     -T --tab=
output     -D --dir=
output        --log-error=
output     -X --xml
output     -j --parallel=                    # only with --tab
connection -A --all-databases
connection -B --databases                    # adds CREATE DATABASE and USE lines: a restore would overwrite the source database
connection    --tables
connection    --system=
connection    --ignore-database=
no         -Y --all-tablespaces
no            --add-drop-database            # only with --databases
no         -n --no-create-db                 # only with --databases
no            --apply-slave-statements
no            --as-of=
no            --compatible=                  # the dump would not restore into MariaDB or MySQL
no            --copy-s3-tables
no            --delayed-insert
no            --delete-master-logs           # deletes binary logs on the server
no            --dump-slave[=]
no            --master-data[=]
no            --gtid
no            --include-master-host-port
no         -H --dump-history
no            --update-history
no            --fields-terminated-by=
no            --fields-enclosed-by=
no            --fields-optionally-enclosed-by=
no            --fields-escaped-by=
no            --lines-terminated-by=
no            --header
no         -F --flush-logs                   # changes the server
no            --flush-privileges
no         -f --force                        # would store a dump that skipped what failed
no            --log-queries
no            --no-data-med
no            --debug-info
no            --galera-info
${MY_CONNECTION}
${MY_OPTION_FILES}
`);

export const MARIADB_OPTIONS = table('mariadb', 'my_getopt', 'the database to restore into, instead of the target', `
allow         --max-allowed-packet=
allow         --net-buffer-length=
allow         --binary-mode
allow         --sandbox                      # refuses client commands that touch the file system
allow         --show-warnings
allow      -c --comments
allow      -v --verbose
runner     -B --batch
runner        --default-character-set=
no         -f --force                        # would go on after a failed statement and apply the rest of a broken restore
no            --abort-source-on-error
connection -D --database=
output     -e --execute=                     # would run a statement instead of the restore
output        --tee=
output        --pager[=]
output     -H --html
output     -X --xml
output     -t --table
output     -E --vertical
output        --auto-vertical-output
no            --init-command=                # would run a statement on every connection
no         -o --one-database                 # the runner's dumps have no USE lines, so it would skip every statement and report success
no            --local-infile                 # would let the dump read files from the pod
no            --connect-timeout=
no         -A --no-auto-rehash
no            --auto-rehash
no            --binary-as-hex
no            --column-names
no         -N --skip-column-names
no            --column-type-info
no            --connect-expired-password
no            --delimiter=
no            --enable-cleartext-plugin
no         -i --ignore-spaces
no            --line-numbers
no         -L --skip-line-numbers
no            --max-join-size=
no         -G --named-commands
no         -g --no-named-commands
no         -b --no-beep
no            --print-query-on-error
no            --progress-reports
no            --prompt=
no         -q --quick
no            --quick-max-column-width=
no         -r --raw
no            --reconnect
no         -U --safe-updates
no            --i-am-a-dummy ~safe-updates
no            --secure-auth
no            --select-limit=
no            --server-arg=
no            --show-query-costs
no            --sigint-ignore
no         -s --silent
no         -n --unbuffered
no         -w --wait
no            --no-tee
no            --no-pager
no         -T --debug-info
exits      -I ~help
${MY_CONNECTION}
${MY_OPTION_FILES}
`);
