/**
 * mongodump and mongorestore of the MongoDB Database Tools 100.10, from their documented option
 * lists: the tools are not obtainable on the build machines (see DESIGN.md), so no `--help` is
 * checked. They parse with go-flags, which matches long names exactly, so an option missing here
 * is refused, never mistaken for another.
 *
 * No cdk8s import: the runner bundles this file. Internal: not exported from the package index.
 */
import { table } from './table';

/** Connection, TLS and authentication options, the same in mongodump and mongorestore. */
const MONGO_CONNECTION = `
connection    --uri=
connection -h --host=
connection    --port=
connection    --ssl
connection    --sslCAFile=
connection    --sslPEMKeyFile=
connection    --sslPEMKeyPassword=
connection    --sslCRLFile=
connection    --sslAllowInvalidCertificates
connection    --sslAllowInvalidHostnames
connection    --tlsInsecure
connection -u --username=
connection -p --password=
connection    --authenticationDatabase=
connection    --authenticationMechanism=
connection    --awsSessionToken=
connection    --gssapiServiceName=
connection    --gssapiHostName=
connection    --compressors=
connection -d --db=
files         --config=
exits         --help
exits         --version
`;

export const MONGODUMP_OPTIONS = table('mongodump', 'go-flags', 'an error, since it takes none', `
allow      -c --collection=
allow         --excludeCollection=
allow         --excludeCollectionsWithPrefix=
allow      -q --query=
allow         --readPreference=
allow         --forceTableScan
allow         --viewsAsCollections
allow         --oplog                        # a point-in-time snapshot of a whole-server dump (no database set); mongodump refuses it with one
allow      -j --numParallelCollections=
allow      -v --verbose[=]
allow         --quiet
runner        --archive[=]
undoes        --gzip                         # the runner compresses outside mongodump
output     -o --out=
no            --queryFile=                   # reads a file in the pod; give the query with --query
no            --dumpDbUsersAndRoles          # restoring them (--restoreDbUsersAndRoles) is refused
${MONGO_CONNECTION}
`);

export const MONGORESTORE_OPTIONS = table('mongorestore', 'go-flags', 'a directory or file to restore from, instead of the backup', `
allow         --drop
allow         --nsExclude=
allow         --noIndexRestore
allow         --noOptionsRestore
allow         --keepIndexVersion
allow         --maintainInsertionOrder
allow         --stopOnError
allow         --bypassDocumentValidation
allow         --preserveUUID
allow         --writeConcern=
allow         --convertLegacyIndexes
allow      -j --numParallelCollections=
allow         --numInsertionWorkersPerCollection=
allow      -v --verbose[=]
allow         --quiet
runner        --archive[=]
undoes        --gzip
runner        --nsInclude=                   # the runner limits the restore to the target database with it
runner        --nsFrom=
runner        --nsTo=
output        --dir=
connection -c --collection=
no            --excludeCollection=
no            --excludeCollectionsWithPrefix=
no            --objcheck
no            --oplogReplay                  # would apply operations under the source's database names, not the target's
no            --oplogLimit=
no            --oplogFile=
no            --restoreDbUsersAndRoles       # would change users and roles on the server
no            --dryRun                       # would report success without restoring
no            --fixDottedHashIndex
${MONGO_CONNECTION}
`);
