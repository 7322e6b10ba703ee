/**
 * What the runner needs from a database engine. The pipeline never knows which engine it runs.
 * Each engine is its registry entry (lib/registry.ts) plus one file here exporting an
 * `EngineModule`; image/src/engines/index.ts maps names to modules. Capabilities an engine lacks
 * are absent (`restore` undefined), never methods that throw.
 */
import { Transform } from 'node:stream';
import { EngineDescriptor, EngineName } from '../../../lib/registry';

/** A tool's invocation. `args` and `env` are logged and inspected: no secret in `args`. */
export interface ToolCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
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
  /** Removes whatever the commands needed on disk. Safe to call twice. */
  cleanup(): Promise<void>;
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
  restoreCommand(plan: P, extraArgs: readonly string[], source: RestoreSource): Promise<RestoreCommand>;
}

export interface Engine {
  readonly descriptor: EngineDescriptor;
  readonly name: EngineName;
  /** What is dumped or restored into, for the manifest and logs; undefined means every database. */
  readonly database: string | undefined;
  readonly backup: BackupCapability<any>;
  /** Absent when the runner cannot restore this engine (its registry entry says so too). */
  readonly restore?: RestoreCapability<any>;
}

/** One engine's runner file exports this. */
export interface EngineModule<S> {
  readonly descriptor: EngineDescriptor;
  /** Reads and checks the engine's variables (RuleError/ConfigError naming the variable); starts nothing. */
  readSettings(env: NodeJS.ProcessEnv): S;
  /** The engine for `settings`; `env` is the runner's environment, for the tools' own. */
  create(settings: S, env: NodeJS.ProcessEnv): Engine;
}
