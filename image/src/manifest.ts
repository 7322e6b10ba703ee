/**
 * The manifest, written last next to the data: a backup exists only if its manifest does. It says
 * what the data is and how to check it. No secret goes in here: only names, sizes and versions.
 */
import { ServerInfo, ToolInfo } from './engines/engine';
import { CompressionName } from '../../lib/contract';
import { EngineName } from '../../lib/registry';

export const MANIFEST_FORMAT_VERSION = 1;

export interface Manifest {
  readonly formatVersion: number;
  readonly engine: EngineName;
  readonly database: string | null;
  /** The data object's key, relative to the bucket or directory. */
  readonly key: string;
  /** Stored size (after compression). */
  readonly bytes: number;
  /** Bytes the dump tool wrote, before compression; null if the compressor could not report it. */
  readonly rawBytes: number | null;
  /** sha256 of the stored bytes, hex. */
  readonly sha256: string;
  readonly compression: CompressionName;
  /** The engine's stored format (its registry entry's `format`): which tool reads it back. */
  readonly format: string;
  readonly tool: ToolInfo;
  readonly server: ServerInfo;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationSeconds: number;
  readonly runner: { readonly version: string };
}
