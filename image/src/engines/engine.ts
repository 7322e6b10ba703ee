/**
 * What the runner needs from a database engine. The pipeline never knows which engine it runs:
 * a new engine is one file here plus one in lib/.
 */
import { Transform } from 'node:stream';
import { EngineName } from '../../../lib/contract';

/** The dump tool's invocation. `args` and `env` are logged and inspected: no secret in `args`. */
export interface DumpCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
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

export interface Preflight {
  readonly tool: ToolInfo;
  readonly server: ServerInfo;
  /**
   * An upper estimate of the dump's size in bytes, when the engine can tell (e.g. the database's
   * size on disk); storage uses it to size multipart parts.
   */
  readonly estimatedBytes?: number;
}

export interface RestorePreflight {
  readonly tool: ToolInfo;
  readonly server: ServerInfo;
  /** User tables (collections) already in the target; undefined when the engine cannot tell. */
  readonly existingTables?: number;
}

/** A process of a restore: it reads the previous step's output on stdin. No secret in `args`. */
export interface ToolStep {
  readonly kind: 'tool';
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
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

export interface Engine {
  readonly name: EngineName;
  /** What is dumped, for the manifest; undefined means everything the user can read. */
  readonly database: string | undefined;
  /** The stored format, e.g. `pg_dump-custom`; tells a restore which tool reads it. */
  readonly format: string;
  /** File extension before any compression suffix, e.g. `pgdump`. */
  readonly extension: string;
  /**
   * Checks the tool is there and, where possible, that it can reach and dump the server.
   * Rejects with a one-line cause before any byte is written.
   */
  preflight(): Promise<Preflight>;
  /** The dump command; it writes the whole dump to stdout. */
  dumpCommand(extraArgs: readonly string[]): Promise<DumpCommand>;
  /**
   * Checks the restore tool is there and the target (the database the engine's variables name)
   * is reachable; reports what the target already holds. Throws a ConfigError when the engine
   * cannot restore at all.
   */
  restorePreflight(): Promise<RestorePreflight>;
  /** The restore command for a backup in `format`, given what preflight found. */
  restoreCommand(format: string, extraArgs: readonly string[], preflight: RestorePreflight): Promise<RestoreCommand>;
}
