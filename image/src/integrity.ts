/**
 * Checks a stored backup against its manifest while it streams: size and sha256, in constant
 * memory and without a temporary file.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform, TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Manifest } from './manifest';
import { Storage } from './storage/storage';

/** The stored object does not match its manifest. */
export class IntegrityError extends Error {
  public readonly name = 'IntegrityError';
}

/**
 * Passes bytes through while counting and hashing them. More bytes than the manifest records fail
 * at once; at the end, a short count or another sha256 fails before the end is passed on, so what
 * reads from it never sees a clean end of unverified data.
 */
export class HashCheck extends Transform {
  public bytes = 0;
  private readonly hash = createHash('sha256');

  constructor(private readonly manifest: Pick<Manifest, 'key' | 'bytes' | 'sha256'>, private readonly pass: string) {
    super();
  }

  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.manifest.bytes) {
      return cb(new IntegrityError(`${this.manifest.key} is larger than the ${this.manifest.bytes} bytes its manifest records (${this.pass})`));
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  _flush(cb: TransformCallback): void {
    if (this.bytes !== this.manifest.bytes) {
      return cb(new IntegrityError(`${this.manifest.key} is ${this.bytes} bytes but its manifest records ${this.manifest.bytes}: the object is truncated (${this.pass})`));
    }
    const sha256 = this.hash.digest('hex');
    if (sha256 !== this.manifest.sha256) {
      return cb(new IntegrityError(`${this.manifest.key} has sha256 ${sha256} but its manifest records ${this.manifest.sha256}: the object is corrupt or was changed (${this.pass})`));
    }
    cb();
  }
}

/** Reads the whole object and checks it against the manifest; resolves with the seconds it took. */
export async function checkStoredObject(storage: Storage, manifest: Manifest, signal: AbortSignal): Promise<number> {
  const started = Date.now();
  const body: Readable = await storage.get(manifest.key, signal);
  const discard = new Writable({ write: (_chunk, _enc, cb) => cb() });
  await pipeline(body, new HashCheck(manifest, 'integrity check before the restore'), discard, { signal });
  return (Date.now() - started) / 1000;
}
