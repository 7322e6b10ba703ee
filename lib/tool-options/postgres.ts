/**
 * pg_dump and pg_restore of PostgreSQL 17 (the image's postgresql-client): their `--help` plus the
 * long_options arrays of src/bin/pg_dump/pg_dump.c and pg_restore.c for hidden aliases (--no-acl,
 * --attribute-inserts, -R/--no-reconnect). Both parse with glibc's getopt_long.
 *
 * No cdk8s import: the runner bundles this file. Internal: not exported from the package index.
 */
import { table } from './table';

export const PG_DUMP_OPTIONS = table('pg_dump', 'getopt_long', 'the database to dump, instead of the one the runner names', `
allow      -n --schema=
allow      -N --exclude-schema=
allow      -t --table=
allow      -T --exclude-table=
allow         --table-and-children=
allow         --exclude-table-and-children=
allow         --exclude-table-data=
allow         --exclude-table-data-and-children=
allow      -e --extension=
allow         --exclude-extension=
allow      -a --data-only
allow      -s --schema-only
allow         --section=
allow      -b --large-objects
allow         --blobs ~large-objects
allow      -B --no-large-objects
allow         --no-blobs ~no-large-objects
allow      -O --no-owner
allow      -x --no-privileges
allow         --no-acl ~no-privileges
allow         --no-comments
allow         --no-publications
allow         --no-subscriptions
allow         --no-security-labels
allow         --no-tablespaces
allow         --no-table-access-method
allow         --no-toast-compression
allow         --no-unlogged-table-data
allow         --include-foreign-data=
allow         --load-via-partition-root
allow         --quote-all-identifiers
allow         --serializable-deferrable
allow         --snapshot=
allow         --lock-wait-timeout=
allow         --enable-row-security
allow         --strict-names
allow         --extra-float-digits=
allow      -E --encoding=
allow         --role=
allow      -v --verbose
output     -f --file=
runner     -F --format=                      # the runner stores the custom format, and its manifest says so
undoes     -Z --compress=                    # the runner compresses outside pg_dump
undoes     -j --jobs=                        # parallel dumps need the directory format, which cannot stream
connection -d --dbname=
connection -h --host=
connection -p --port=
connection -U --username=
runner     -w --no-password
connection -W --password
exits      -V --version
exits      -? --help
no         -c --clean                        # a restore option: pass --clean to the restore (restoreArgs)
no         -C --create                       # a restore would create and fill the database named in the archive
no         -S --superuser=                   # plain-text format only
no            --if-exists                    # a restore option: pass it to the restore (restoreArgs)
no            --disable-triggers             # plain-text format only; pass it to the restore
no            --use-set-session-authorization # plain-text format only; pass it to the restore
no            --binary-upgrade               # for pg_upgrade only
no            --column-inserts               # slower dumps and restores, for plain-text use
no            --attribute-inserts ~column-inserts
no            --inserts                      # slower dumps and restores, for plain-text use
no            --rows-per-insert=             # slower dumps and restores, for plain-text use
no            --on-conflict-do-nothing       # for plain-text use with --inserts
no            --disable-dollar-quoting       # plain-text format only
no            --restrict-key=                # plain-text format only
no            --filter=                      # reads a file in the pod; use --table, --schema and their exclude forms
no            --no-sync                      # only for output files
no            --sync-method=                 # only for output files
no         -R --no-reconnect                 # obsolete
`);

export const PG_RESTORE_OPTIONS = table('pg_restore', 'getopt_long', 'the archive file to read, instead of the backup', `
allow      -c --clean
allow         --if-exists
allow      -O --no-owner
allow      -x --no-privileges
allow         --no-acl ~no-privileges
allow      -n --schema=
allow      -N --exclude-schema=
allow      -t --table=
allow      -I --index=
allow      -P --function=
allow      -T --trigger=
allow         --section=
allow      -a --data-only
allow      -s --schema-only
allow         --disable-triggers
allow      -S --superuser=
allow         --no-comments
allow         --no-publications
allow         --no-subscriptions
allow         --no-security-labels
allow         --no-tablespaces
allow         --no-table-access-method
allow         --no-data-for-failed-tables
allow         --enable-row-security
allow         --strict-names
allow         --use-set-session-authorization
allow         --role=
allow      -v --verbose
connection -d --dbname=
output     -f --file=                        # would write SQL to a file instead of restoring
output     -l --list                         # would print the archive's table of contents instead of restoring
no         -F --format=                      # pg_restore reads the format from the archive
no         -L --use-list=                    # reads a file in the pod; choose objects with --table, --schema and the like
undoes     -j --jobs=                        # cannot read from a pipe, and rules out the single transaction
runner     -1 --single-transaction
runner     -e --exit-on-error
undoes        --transaction-size=            # would commit part of a restore that then fails
connection -h --host=
connection -p --port=
connection -U --username=
runner     -w --no-password
connection -W --password
exits      -V --version
exits      -? --help
no         -C --create                       # would create and fill the database named in the archive, not the target
no            --filter=                      # reads a file in the pod; use --table, --schema and their exclude forms
no            --restrict-key=                # plain-text output only
no         -R --no-reconnect                 # obsolete
`);
