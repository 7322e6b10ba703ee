/**
 * Where backups go. One small interface, one file per backend; the backup logic never knows which
 * backend it talks to. Keys are '/'-separated paths relative to the bucket or directory.
 */
import { Readable } from 'node:stream';

export interface StoredObject {
  readonly key: string;
  readonly bytes: number;
}

export interface PutOptions {
  readonly contentType?: string;
  /** An upper estimate of the body's size, if known (the body's length is not known up front). */
  readonly sizeHint?: number;
}

export interface Storage {
  /** e.g. `s3://bucket` or `file:///backup`, for logs and messages. */
  readonly location: string;
  /** Checks the destination is reachable and usable before the dump starts. */
  preflight(): Promise<void>;
  /**
   * Stores `body` at `key`, never overwriting an existing object. Only a body that ends normally
   * is stored; if it errors, nothing is left at `key` and no partial data remains (an aborted and
   * verified multipart upload, a removed temporary file). Resolves with the stored size.
   */
  put(key: string, body: Readable, options?: PutOptions): Promise<StoredObject>;
  get(key: string): Promise<Readable>;
  /** Every object whose key starts with `prefix`, with its size. */
  list(prefix: string): Promise<StoredObject[]>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Keys under `prefix` with unfinished writes (open multipart uploads, temporary files). */
  listIncomplete(prefix: string): Promise<string[]>;
}
