/**
 * MongoDB with `mongodump --archive` to stdout and `mongorestore --archive` from stdin. The
 * connection string holds the password, so it never goes into argv (visible in `ps` and /proc):
 * the tools read it from a YAML config file in a private directory, removed when they end,
 * whatever the outcome.
 *
 * `verify` uses only what the image ships, the MongoDB Database Tools (no shell, no driver):
 * mongorestore restores into a fresh database `verify_<id>` and reports, per collection, how many
 * documents the server acknowledged; mongoexport reads back from the restored server for the
 * assertions; mongoimport --drop drops the collections afterwards. See MongoRestoreReport for
 * exactly which of mongorestore's lines are read.
 */
import { ENGINE_REGISTRY } from '../../../lib/registry';
import { mongoDatabaseName, nonEmpty } from '../../../lib/rules';
import { AssertionSpec, assertionLabel } from '../../../lib/verify-assertions';
import { ConfigError, describeError } from '../errors';
import { Logger } from '../log';
import { withPrivateFile, writePrivateFile } from '../private-file';
import { Captured, capture, childEnv } from '../proc';
import { probeFirst } from '../tool';
import { waitForServer } from '../wait';
import {
  BackupCapability, CheckResult, DumpPlan, Engine, EngineModule, RestoreCapability, RestoredContents, RestorePlan, RestoreSource,
  VerifyCapability, VerifyTarget,
} from './engine';

const DESCRIPTOR = ENGINE_REGISTRY.mongo;
const VAR = DESCRIPTOR.env;
/** `mongodump version: 100.10.0` */
const VERSION = /version:?\s*(\S+)/i;

export interface MongoSettings {
  readonly uri: string;
  /** The database to dump, or to restore into; undefined: every database. */
  readonly database?: string;
}

function readSettings(env: NodeJS.ProcessEnv): MongoSettings {
  // Never quote the value: it holds the password.
  const uri = nonEmpty(VAR.URI, env[VAR.URI], 'the connection string from a Secret, mongodb://user:password@host:27017/?authSource=admin', true);
  if (!/^mongodb(\+srv)?:\/\/\S+$/.test(uri)) {
    throw new ConfigError(`${VAR.URI}: is not a MongoDB connection string (value not shown); it must start with mongodb:// or mongodb+srv:// and contain no white space.`);
  }
  const database = env[VAR.DATABASE] ? mongoDatabaseName(VAR.DATABASE, env[VAR.DATABASE]!) : undefined;
  return { uri, database };
}

/** The config file the tools read: a JSON string is a valid YAML double-quoted scalar, whatever the URI holds. */
const configFile = (tool: string, uri: string) => writePrivateFile(tool, `${tool}.yaml`, `uri: ${JSON.stringify(uri)}\n`);
const configText = (uri: string) => `uri: ${JSON.stringify(uri)}\n`;

/** verify reads back with mongoexport and drops with mongoimport: both in the MongoDB Database Tools package, like mongorestore. */
export const MONGOEXPORT = 'mongoexport';
export const MONGOIMPORT = 'mongoimport';

/** Databases a whole-server backup holds that verify does not restore: the server's own. */
const SERVER_DATABASES = ['admin', 'config', 'local'];

/** The database a backup is verified in: `verify_20261202t000312z_0d6146a8`. */
export function mongoVerifyDatabase(backupId: string): string {
  return mongoDatabaseName('the verify database', `verify_${backupId.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63));
}

/** The database a connection string names after its hosts (`mongodb://h:27017/shop?…`); '' when none. */
export function uriDatabase(uri: string): string {
  const rest = uri.replace(/^mongodb(\+srv)?:\/\//, '').split('?')[0];
  const hosts = rest.slice(rest.lastIndexOf('@') + 1);
  const slash = hosts.indexOf('/');
  if (slash < 0) return '';
  const raw = hosts.slice(slash + 1);
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** A namespace as mongorestore prints it: plain (100.10) or quoted (`%#q` in later releases). */
function unquote(ns: string): string {
  if (/^`[^`]*`$/.test(ns)) return ns.slice(1, -1);
  if (/^".*"$/.test(ns)) {
    try {
      return JSON.parse(ns) as string;
    } catch {
      return ns;
    }
  }
  return ns;
}

/** What mongorestore reported about one collection (or view) of the verify database. */
export interface RestoredCollection {
  /** Its name in the verify database (for a whole-server backup `<source database>.<collection>`). */
  readonly name: string;
  /** Documents the server acknowledged; undefined when mongorestore did not finish the collection. */
  readonly documents?: number;
  /** Documents that failed to insert (duplicate keys, validation). */
  readonly failures?: number;
}

/**
 * What mongorestore said it restored, read from its stderr lines, which it prints at its default
 * verbosity as `<time>\t<message>` (the messages of mongorestore 100.10, where later releases
 * quote the namespace in backquotes):
 * - `reading metadata for <ns> from archive on stdin` and `restoring <ns> from archive on stdin`:
 *   a collection it creates (kept, so cleanup drops even a half-restored one);
 * - `finished restoring <ns> (<n> document(s), <m> failure(s))`: one line per collection or view,
 *   with the number of inserts the server acknowledged and those it refused;
 * - `<n> document(s) restored successfully. <m> document(s) failed to restore.`: the totals.
 * Lines about other databases are ignored: only the verify database's collections count.
 */
export class MongoRestoreReport {
  private readonly seen = new Map<string, { documents?: number; failures?: number }>();
  /** The totals line, when mongorestore printed it. */
  public totals?: { readonly documents: number; readonly failures: number };

  constructor(public readonly database: string) {}

  /** Reads one stderr line of mongorestore. */
  public read(line: string): void {
    const tab = line.indexOf('\t');
    const msg = (tab >= 0 ? line.slice(tab + 1) : line).trim();
    let m = /^finished restoring (.+) \((\d+) documents?, (\d+) failures?\)$/.exec(msg);
    if (m) {
      this.note(unquote(m[1]), { documents: Number(m[2]), failures: Number(m[3]) });
      return;
    }
    m = /^(?:reading metadata for|restoring) (.+) from `?archive\b/.exec(msg);
    if (m) {
      this.note(unquote(m[1]), {});
      return;
    }
    m = /^(\d+) document\(s\) restored successfully\. (\d+) document\(s\) failed to restore\.$/.exec(msg);
    if (m) this.totals = { documents: Number(m[1]), failures: Number(m[2]) };
  }

  private note(ns: string, counts: { documents?: number; failures?: number }): void {
    const prefix = `${this.database}.`;
    if (!ns.startsWith(prefix) || ns.length === prefix.length) return;
    const name = ns.slice(prefix.length);
    this.seen.set(name, { ...this.seen.get(name), ...counts });
  }

  /** Every collection mongorestore created or started, in the order it named them. */
  public get touched(): string[] {
    return [...this.seen.keys()];
  }

  /** The collections mongorestore finished, with their counts. */
  public get finished(): RestoredCollection[] {
    return [...this.seen].filter(([, c]) => c.documents !== undefined).map(([name, c]) => ({ name, ...c }));
  }

  /** The documents mongorestore reported for `collection`; undefined when it did not finish one by that name. */
  public documents(collection: string): number | undefined {
    return this.seen.get(collection)?.documents;
  }
}

/**
 * mongorestore's namespace arguments. A restore into a named target restores the source database
 * under the target's name. verify (`into`) restores every user database of a whole-server backup
 * too, each collection as `<database>.<collection>` in the one verify database, replaces any
 * leftover of the same names (--drop) and stops at the first document the server refuses.
 */
function namespaceArgs(target: string | undefined, source: RestoreSource, into?: string): string[] {
  if (into !== undefined) {
    const map = source.database
      ? [`--nsInclude=${source.database}.*`, `--nsFrom=${source.database}.*`, `--nsTo=${into}.*`]
      : [...SERVER_DATABASES.map(d => `--nsExclude=${d}.*`), '--nsFrom=*.*', `--nsTo=${into}.*.*`];
    return [...map, '--drop', '--stopOnError'];
  }
  if (target && source.database && source.database !== target) {
    // The archive names its collections by the source database: restore them under the target's name.
    return [`--nsInclude=${source.database}.*`, `--nsFrom=${source.database}.*`, `--nsTo=${target}.*`];
  }
  return target ? [`--nsInclude=${target}.*`] : [];
}

/** The line of a Mongo tool's stderr that says why it failed (`Failed: …`), else its last line. */
function toolError(out: Captured, tool: string): string {
  const lines = out.stderr.split('\n').map(l => l.replace(/^\S+\t/, '').trim()).filter(l => l !== '');
  const failed = lines.find(l => /^Failed: /.test(l)) ?? lines[lines.length - 1];
  return failed ? failed.replace(/^Failed: /, '') : `${tool} exited with code ${out.code}`;
}

/** How long a read-back (mongoexport) or a drop (mongoimport) may take. */
const VERIFY_TOOL_TIMEOUT_MS = 30 * 60_000;
/** The longest a connection probe may take: the tools wait up to 30 s to select a server. */
const PROBE_TIMEOUT_MS = 40_000;

class MongoEngine implements Engine {
  public readonly descriptor = DESCRIPTOR;
  public readonly name = DESCRIPTOR.name;
  public readonly database: string | undefined;
  public readonly backup: BackupCapability<DumpPlan>;
  public readonly restore: RestoreCapability<RestorePlan>;
  public readonly verify: VerifyCapability;

  /** @param report verify's: restores go into `report.database`, and mongorestore's lines are read into it. */
  constructor(settings: MongoSettings, env: NodeJS.ProcessEnv, report?: MongoRestoreReport) {
    this.database = settings.database;
    const toolEnv = childEnv(env);
    this.backup = {
      async preflight() {
        // The server's version is not known without connecting through a driver; mongodump
        // reports connection errors itself, before it writes anything.
        return { tool: await probeFirst(DESCRIPTOR.tools.dump, VERSION, toolEnv), server: { version: null } };
      },
      async dumpCommand(plan, extraArgs) {
        const config = await configFile(plan.tool.name, settings.uri);
        const args = ['--archive', `--config=${config.path}`];
        if (settings.database) args.push(`--db=${settings.database}`);
        return { command: plan.tool.name, args: [...args, ...extraArgs], env: toolEnv, cleanup: config.remove };
      },
    };
    this.restore = {
      async preflight() {
        // Without a driver the target's contents are unknown. mongorestore never drops or replaces
        // existing documents unless told to (--drop), so an existing collection is not overwritten.
        return { tool: await probeFirst(DESCRIPTOR.tools.restore, VERSION, toolEnv), server: { version: null } };
      },
      async restoreCommand(plan, extraArgs, source) {
        const config = await configFile(plan.tool.name, settings.uri);
        const args = ['--archive', `--config=${config.path}`, ...namespaceArgs(settings.database, source, report?.database)];
        const onStderrLine = report && ((line: string) => report.read(line));
        return { steps: [{ kind: 'tool', command: plan.tool.name, args: [...args, ...extraArgs], env: toolEnv, onStderrLine }], cleanup: config.remove };
      },
    };

    this.verify = {
      async prepare(backupId, { serverWaitMs, signal, log }) {
        return prepareVerify(settings, env, backupId, serverWaitMs, signal, log);
      },
    };
  }
}

/**
 * verify on the throwaway mongod (a sidecar on 127.0.0.1, BACKUP_MONGO_URI naming no database):
 * waits for it, and aims a restore at the fresh database `verify_<id>`. Nothing is created before
 * the restore: a MongoDB database exists once a collection does.
 */
async function prepareVerify(
  settings: MongoSettings, env: NodeJS.ProcessEnv, backupId: string, serverWaitMs: number, signal: AbortSignal, log: Logger,
): Promise<VerifyTarget> {
  const named = uriDatabase(settings.uri);
  if (named !== '') {
    // mongoexport and mongoimport refuse --db with another database in the connection string.
    throw new ConfigError(`${VAR.URI}: for verify the connection string must name no database after its hosts (it names one; value not shown): `
      + 'the runner restores each backup into its own database verify_<id>. Give e.g. mongodb://127.0.0.1:27017/?authSource=admin.');
  }
  const name = mongoVerifyDatabase(backupId);
  const toolEnv = childEnv(env);
  /** A tool with the connection string in a private config file, on the verify database. */
  const tool = (command: string, args: readonly string[], timeoutMs: number) => withPrivateFile(
    command, `${command}.yaml`, configText(settings.uri),
    file => capture(command, [`--config=${file}`, `--db=${name}`, ...args], toolEnv, timeoutMs, signal));

  // The tools connect lazily and wait up to 30 s to select a server; an export of a collection
  // that does not exist exits 0 once the server answers.
  const deadline = Date.now() + serverWaitMs;
  await waitForServer(async () => {
    const out = await tool(MONGOEXPORT, ['--collection=verify_probe', '--limit=1'], Math.min(PROBE_TIMEOUT_MS, Math.max(deadline - Date.now(), 0) + 5_000))
      .catch((err: Error) => {
        if (signal.aborted || !/did not finish within/.test(err.message)) throw signal.aborted ? signal.reason : err;
        return { code: null, signal: null, stdout: '', stderr: err.message };
      });
    return out.code === 0 ? undefined : toolError(out, MONGOEXPORT);
  }, { serverWaitMs, signal, log });
  log.info('verify database chosen', { id: backupId, database: name });

  const report = new MongoRestoreReport(name);
  return {
    name,
    engine: new MongoEngine({ uri: settings.uri, database: name }, env, report),

    async contents(): Promise<RestoredContents> {
      const finished = report.finished;
      const failures = finished.reduce((n, c) => n + (c.failures ?? 0), 0);
      if (failures > 0) {
        const where = finished.filter(c => c.failures).map(c => `${c.name}: ${c.failures}`).join(', ');
        throw new Error(`mongorestore reported ${failures} documents the server refused (${where}); a restore would lose them`);
      }
      const documents = finished.reduce((n, c) => n + (c.documents ?? 0), 0);
      if (report.totals && report.totals.documents !== documents) {
        log.warn('mongorestore\'s total differs from its collections\' counts', { total: report.totals.documents, collections: documents });
      }
      return { objectUnit: 'collections', objects: finished.length, itemUnit: 'documents', items: documents };
    },

    async check(a: AssertionSpec): Promise<CheckResult> {
      const check = assertionLabel(a);
      if (a.type !== 'minDocuments') return { check, passed: false, detail: `${a.type} is not an assertion ${DESCRIPTOR.title} can check` };
      try {
        return { check, ...await minDocuments(a.collection, a.min) };
      } catch (err) {
        if (signal.aborted) throw err;
        return { check, passed: false, detail: describeError(err) };
      }
    },

    async cleanup() {
      // No tool drops a database; dropping every collection removes it. What a failed restore left
      // unnamed goes with the throwaway server's data directory.
      if (signal.aborted) {
        if (report.touched.length > 0) log.warn(`not dropping ${name}: the run was interrupted (a throwaway server's data goes with its pod)`);
        return;
      }
      const failed: string[] = [];
      for (const collection of report.touched) {
        const out = await tool(MONGOIMPORT, [`--collection=${collection}`, '--drop'], VERIFY_TOOL_TIMEOUT_MS)
          .catch((err: Error) => ({ code: null, signal: null, stdout: '', stderr: `Failed: ${describeError(err)}` }));
        if (out.code !== 0) failed.push(`${collection}: ${toolError(out, MONGOIMPORT)}`);
      }
      if (failed.length > 0) log.warn(`could not drop ${failed.length} of the ${report.touched.length} collections of ${name}: ${failed.join('; ')}`);
      else if (report.touched.length > 0) log.info('verify database dropped', { database: name, collections: report.touched.length });
    },
  };

  /**
   * Read back from the restored server: the document at position `min` (skipping min - 1) exists
   * exactly when the collection holds at least `min`. The count in the detail is mongorestore's.
   */
  async function minDocuments(collection: string, min: number): Promise<{ passed: boolean; detail: string }> {
    const out = await tool(MONGOEXPORT, [`--collection=${collection}`, '--assertExists', `--skip=${min - 1}`, '--limit=1', '--fields=_id'], VERIFY_TOOL_TIMEOUT_MS);
    const restored = report.documents(collection);
    if (out.code !== 0) {
      const why = toolError(out, MONGOEXPORT);
      if (/does not exist/.test(why)) return { passed: false, detail: `${collection} does not exist in the restored database` };
      return { passed: false, detail: `cannot read ${collection}: ${why}` };
    }
    const found = out.stdout.split('\n').filter(l => l.trim() !== '').length;
    const counted = restored === undefined ? '' : ` (mongorestore restored ${restored})`;
    const documents = (n: number) => `${n} document${n === 1 ? '' : 's'}`;
    if (found >= 1) return { passed: true, detail: `${collection} has at least ${documents(min)}${counted}` };
    return {
      passed: false,
      detail: restored === undefined || restored >= min
        ? `${collection} has fewer than ${documents(min)}${counted}`
        : `${collection} has ${documents(restored)}; at least ${min} required`,
    };
  }
}

export const mongoModule: EngineModule<MongoSettings> = {
  descriptor: DESCRIPTOR,
  readSettings,
  create: (settings, env) => new MongoEngine(settings, env),
};
