/**
 * What the runner needs from a database engine. The pipeline never knows which engine it runs.
 * Each engine is its registry entry (lib/registry.ts) plus one file here exporting an
 * `EngineModule`; image/src/engines/index.ts maps names to modules. Capabilities an engine lacks
 * are absent (`restore` undefined), never methods that throw.
 */
import { Transform } from 'node:stream';
import { EngineDescriptor, EngineName } from '../../../lib/registry';
import { AssertionSpec } from '../../../lib/verify-assertions';
import { Logger } from '../log';

/** A tool's invocation. `args` and `env` are logged and inspected: no secret in `args`. */
export interface ToolCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /**
   * Gets each line the tool prints on stderr (besides it being logged), for an engine that reads
   * the tool's own report of what it did (mongorestore's documents restored per collection).
   */
  readonly onStderrLine?: (line: string) => void;
}

/** The dump tool's invocation, and what it needs removed afterwards. */
export interface DumpCommand extends ToolCommand {
  /** Removes whatever the command needed on disk (e.g. a private config file). Safe to call twice. */
  cleanup(): Promise<void>;
}

export interface ToolInfo {
  readonly name: string;
  readonly version: string;
}

export interface ServerInfo {
  /** null when the engine cannot tell without dumping (recorded as such in the manifest). */
  readonly version: string | null;
}

/** What a backup preflight found; handed back to `dumpCommand`. Engines may extend it. */
export interface DumpPlan {
  readonly tool: ToolInfo;
  readonly server: ServerInfo;
  /**
   * An upper estimate of the dump's size in bytes, when the engine can tell (e.g. the database's
   * size on disk); storage uses it to size multipart parts.
   */
  readonly estimatedBytes?: number;
}

/** What a restore preflight found about the target; handed back to `restoreCommand`. Engines may extend it. */
export interface RestorePlan {
  readonly tool: ToolInfo;
  readonly server: ServerInfo;
  /** User tables (collections) already in the target; undefined when the engine cannot tell. */
  readonly existingTables?: number;
}

/** A process of a restore: it reads the previous step's output on stdin. */
export interface ToolStep extends ToolCommand {
  readonly kind: 'tool';
}

/** A stream filter between two processes of a restore. */
export interface FilterStep {
  readonly kind: 'filter';
  readonly name: string;
  create(): Transform;
}

/** The restore tool chain: the decompressed backup goes into the first step's stdin. */
export interface RestoreCommand {
  readonly steps: ReadonlyArray<ToolStep | FilterStep>;
  /**
   * Set when one read of the stored object is enough: the target keeps nothing unless the restore
   * tool got the last byte of its input and was let finish (or `commit` ran), so the runner
   * checks the sha256 while restoring and holds the object's last bytes back until it matched.
   * Says why, for the log and the error (`its single transaction rolls back`). Unset: the whole
   * object is checked first, then read again to restore.
   */
  readonly singlePass?: string;
  /**
   * A tool run once the steps exited 0 and the whole object matched its manifest, before
   * `commit`: e.g. `pg_restore --jobs=N` from the archive the steps spooled to a file.
   */
  readonly then?: ToolStep;
  /**
   * Called once every step exited 0 and the whole object passed its checksum: makes the result
   * visible (e.g. renames a restored RDB file into place). A rejection fails the restore.
   * Absent: the last tool's success is the restore's. Stops (rejects) when `signal` aborts.
   */
  commit?(signal: AbortSignal): Promise<void>;
  /** Removes whatever the commands needed on disk. Safe to call twice. */
  cleanup(): Promise<void>;
}

/** A parallel restore: the archive spooled to `spoolFile`, then loaded by `jobs` connections. */
export interface ParallelRestore {
  readonly jobs: number;
  /** A path in the spool directory that does not exist yet. */
  readonly spoolFile: string;
}

export interface BackupCapability<P extends DumpPlan = DumpPlan> {
  /**
   * Checks the tool is there and, where possible, that it can reach and dump the server.
   * Rejects with a one-line cause before any byte is written. Sets no state: what it found is
   * the plan.
   */
  preflight(): Promise<P>;
  /** The dump command for `plan`; it writes the whole dump to stdout. */
  dumpCommand(plan: P, extraArgs: readonly string[]): Promise<DumpCommand>;
}

/** The backup a restore reads, as its manifest describes it. */
export interface RestoreSource {
  /** The database it was dumped from; null when it holds every database. */
  readonly database: string | null;
}

export interface RestoreCapability<P extends RestorePlan = RestorePlan> {
  /** Whether `restoreCommand` takes `parallel` (BACKUP_RESTORE_PARALLELISM above 1). */
  readonly parallel?: boolean;
  /**
   * Checks the restore tool is there and the target (the database the engine's variables name)
   * is reachable; reports what the target already holds. Sets no state.
   */
  preflight(): Promise<P>;
  /**
   * The restore command for a backup in the engine's format, given what preflight found and
   * where the backup came from (a tool that restores by name, like mongorestore, must map the
   * source database onto the target).
   */
  restoreCommand(plan: P, extraArgs: readonly string[], source: RestoreSource, parallel?: ParallelRestore): Promise<RestoreCommand>;
}

/** One check of a verification: what was checked, whether it passed, and what was found. */
export interface CheckResult {
  /** `restore`, `contents`, or the assertion's label (`minRows(orders, 1)`). */
  readonly check: string;
  readonly passed: boolean;
  /** What was found, in words: `restored 12 tables`, `orders has 0 rows; at least 1 required`. */
  readonly detail: string;
}

/** What a restore left in the throwaway target, counted. */
export interface RestoredContents {
  /** What `objects` counts: `tables`, `keys` or `collections`. */
  readonly objectUnit: string;
  readonly objects: number;
  /** What `items` counts, when the engine counts cheaply: `rows` (estimate), `keys`, `documents`. */
  readonly itemUnit?: string;
  readonly items?: number;
}

/** A fresh, empty place on the throwaway server that one backup is restored into and checked. */
export interface VerifyTarget {
  /** Its name for logs and the result, e.g. the database `verify_20261202t000312z_0d6146a8`. */
  readonly name: string;
  /** The engine, aimed at this target, whose `restore` capability the backup is restored with. */
  readonly engine: Engine;
  /**
   * Counts what the restore left (waiting first, where the server only starts from the restored
   * data, like Redis from its RDB). A verification whose count is 0 fails.
   */
  contents(signal: AbortSignal): Promise<RestoredContents>;
  /** Checks one assertion (one of the engine's ASSERTION_TYPES) against the restored copy. */
  check(assertion: AssertionSpec, signal: AbortSignal): Promise<CheckResult>;
  /** Removes the target (drops the database); logs and never throws. */
  cleanup(): Promise<void>;
}

/**
 * Verification on a throwaway server inside the verify pod (a sidecar on 127.0.0.1), reached with
 * the engine's usual variables (for PostgreSQL PG*, for MySQL BACKUP_MYSQL_*).
 */
export interface VerifyCapability {
  /**
   * Waits (at most `serverWaitMs`) for the throwaway server where it must run before the restore,
   * and creates a fresh, empty target for the backup `backupId`.
   */
  prepare(backupId: string, options: { readonly serverWaitMs: number; readonly signal: AbortSignal; readonly log: Logger }): Promise<VerifyTarget>;
}

export interface Engine {
  readonly descriptor: EngineDescriptor;
  readonly name: EngineName;
  /** What is dumped or restored into, for the manifest and logs; undefined means every database. */
  readonly database: string | undefined;
  readonly backup: BackupCapability<any>;
  /** Absent when the runner cannot restore this engine (its registry entry says so too). */
  readonly restore?: RestoreCapability<any>;
  /** Absent when the runner cannot verify this engine (its registry entry says so too). */
  readonly verify?: VerifyCapability;
}

/** One engine's runner file exports this. */
export interface EngineModule<S> {
  readonly descriptor: EngineDescriptor;
  /** Reads and checks the engine's variables (RuleError/ConfigError naming the variable); starts nothing. */
  readSettings(env: NodeJS.ProcessEnv): S;
  /** The engine for `settings`; `env` is the runner's environment, for the tools' own. */
  create(settings: S, env: NodeJS.ProcessEnv): Engine;
}
