/**
 * A mounted directory (a PersistentVolumeClaim). Data is written to a hidden temporary file next
 * to its final name, fsynced, then hard-linked to the final name: link() fails if the name exists,
 * so nothing is ever overwritten, and a reader never sees a partial file under a final name. The
 * temporary file is the unfinished write; its name says which key it was for.
 */
import { randomBytes } from 'node:crypto';
import { constants, Dirent, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import { DEFAULT_STALL_TIMEOUT_MS, guardStall, withinStallTimeout } from './stall';
import { ClockReading, DEFAULT_MAX_CLOCK_SKEW_MS, ObjectExistsError, PutOptions, Storage, StoredObject, Unfinished } from './storage';

/** `.<final name>.partial-<8 hex>`: the temporary file of `<final name>` in the same directory. */
const PARTIAL = /^\.(.+)\.partial-[0-9a-f]{8}$/;

export class FileStorage implements Storage {
  public readonly location: string;

  constructor(
    private readonly root: string,
    public readonly maxClockSkewMs = DEFAULT_MAX_CLOCK_SKEW_MS,
    /** A write or read that moves no byte for this long fails (a hung network mount). */
    private readonly stallTimeoutMs = DEFAULT_STALL_TIMEOUT_MS,
  ) {
    this.location = `file://${root}`;
  }

  seriesPrefix(name: string): string {
    return `${name}/`;
  }

  async preflight(signal: AbortSignal): Promise<ClockReading> {
    signal.throwIfAborted();
    try {
      // A prefix below the mount point does not exist on a fresh volume. With the image's
      // read-only root filesystem, a volume that is not mounted fails here (EROFS).
      await fs.mkdir(this.root, { recursive: true });
      await fs.access(this.root, constants.W_OK);
      await fs.access(this.root, constants.X_OK);
      return await this.probeClock();
    } catch (err) {
      throw new Error(`destination ${this.location} is not a writable directory (is the volume mounted?)`, { cause: err });
    }
  }

  /**
   * The volume's clock: the mtime the file system gives a new file (the node's kernel clock, or
   * the file server's on NFS), which is what every listing here reports. The probe is named like
   * no backup or temporary file and lives outside every series.
   */
  private async probeClock(): Promise<ClockReading> {
    const probe = path.join(this.root, `.clock-probe-${randomBytes(4).toString('hex')}`);
    const before = Date.now();
    try {
      const handle = await fs.open(probe, 'wx', 0o600);
      try {
        const stat = await handle.stat();
        return { storage: stat.mtime, local: new Date((before + Date.now()) / 2) };
      } finally {
        await handle.close();
      }
    } finally {
      await fs.rm(probe, { force: true });
    }
  }

  async put(key: string, body: Readable, _options: PutOptions, signal: AbortSignal): Promise<StoredObject> {
    let partial: string | undefined;
    let linked: string | undefined;
    try {
      signal.throwIfAborted();
      const final = this.path(key);
      if (PARTIAL.test(path.basename(final))) throw new Error(`invalid key '${key}': the name is that of a temporary file`);
      const dir = path.dirname(final);
      await fs.mkdir(dir, { recursive: true });
      if (await this.stat(key, signal)) throw new ObjectExistsError(this.url(key));
      partial = path.join(dir, `.${path.basename(final)}.partial-${randomBytes(4).toString('hex')}`);
      await writeAll(partial, addAbortSignal(signal, body), signal, this.stallTimeoutMs, `writing ${this.url(key)}`);
      // The commit point: after the link the object is stored, whatever the signal says.
      signal.throwIfAborted();
      await fs.link(partial, final).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'EEXIST' ? new ObjectExistsError(this.url(key)) : err;
      });
      linked = final;
      await fs.unlink(partial);
      partial = undefined;
      await syncDir(dir);
      const stat = await fs.stat(final);
      return { key, bytes: stat.size, modified: stat.mtime };
    } catch (err) {
      // An unread body would leave its producer blocked on a full pipe.
      body.destroy();
      if (partial) await fs.rm(partial, { force: true });
      // Linked but not made durable: a failed put leaves nothing, and the name is this write's own.
      if (linked) await fs.rm(linked, { force: true });
      if (err instanceof ObjectExistsError) throw err;
      throw new Error(`writing ${this.url(key)} failed`, { cause: signal.aborted ? signal.reason : err });
    }
  }

  async get(key: string, signal: AbortSignal): Promise<Readable> {
    signal.throwIfAborted();
    const file = this.path(key);
    try {
      // Opened before returning, so a missing object rejects here rather than in the reader.
      const handle = await withinStallTimeout(fs.open(file, 'r'), this.stallTimeoutMs, `opening ${this.url(key)}`);
      return addAbortSignal(signal, guardStall(handle.createReadStream(), this.stallTimeoutMs, `reading ${this.url(key)}`));
    } catch (err) {
      throw new Error(`cannot read ${this.url(key)}`, { cause: err });
    }
  }

  async stat(key: string, signal: AbortSignal): Promise<StoredObject | undefined> {
    signal.throwIfAborted();
    try {
      const stat = await fs.stat(this.path(key));
      return stat.isFile() ? { key, bytes: stat.size, modified: stat.mtime } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot check ${this.url(key)}`, { cause: err });
    }
  }

  async list(prefix: string, signal: AbortSignal): Promise<StoredObject[]> {
    return (await this.walk(prefix, signal)).filter(o => !PARTIAL.test(basename(o.key)) && o.key.startsWith(prefix));
  }

  async delete(key: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    await fs.rm(this.path(key), { force: true });
  }

  async listUnfinished(prefix: string, signal: AbortSignal): Promise<Unfinished[]> {
    const out: Unfinished[] = [];
    for (const o of await this.walk(prefix, signal)) {
      const name = PARTIAL.exec(basename(o.key))?.[1];
      if (name === undefined) continue;
      const key = `${o.key.slice(0, o.key.length - basename(o.key).length)}${name}`;
      if (key.startsWith(prefix)) out.push({ key, started: o.modified, handle: o.key });
    }
    return out;
  }

  async removeUnfinished(unfinished: Unfinished, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (!PARTIAL.test(basename(unfinished.handle))) throw new Error(`'${unfinished.handle}' is not a temporary file of ${this.location}`);
    await fs.rm(this.path(unfinished.handle), { force: true });
  }

  private url(key: string): string {
    return `${this.location.replace(/\/$/, '')}/${key}`;
  }

  private path(key: string): string {
    if (key.split('/').some(s => s === '' || s === '.' || s === '..')) throw new Error(`invalid key '${key}'`);
    return path.join(this.root, ...key.split('/'));
  }

  /** Every file below the deepest directory `prefix` names, as keys: a superset of what starts with `prefix`. */
  private async walk(prefix: string, signal: AbortSignal): Promise<StoredObject[]> {
    const start = prefix.slice(0, prefix.lastIndexOf('/') + 1).replace(/\/$/, '');
    const out: StoredObject[] = [];
    const visit = async (rel: string): Promise<void> => {
      signal.throwIfAborted();
      let entries: Dirent[];
      try {
        entries = await fs.readdir(rel ? this.path(rel) : this.root, { withFileTypes: true });
      } catch (err) {
        // No directory yet is an empty listing; the series' first backup creates it.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw new Error(`cannot list ${this.url(rel)}`, { cause: err });
      }
      for (const e of entries) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          await visit(key);
        } else if (e.isFile()) {
          // A file can vanish between readdir and stat (a concurrent prune or a finished write).
          const stat = await fs.stat(this.path(key)).catch((err: NodeJS.ErrnoException) => {
            if (err.code === 'ENOENT') return undefined;
            throw err;
          });
          if (stat) out.push({ key, bytes: stat.size, modified: stat.mtime });
        }
      }
    };
    await visit(start);
    return out;
  }
}

function basename(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/**
 * Writes `body` to a new file at `file`, one chunk at a time, and makes it durable. A write or the
 * sync that takes `stallTimeoutMs` fails the put (waiting for the body does not count).
 */
async function writeAll(file: string, body: Readable, signal: AbortSignal, stallTimeoutMs: number, what: string): Promise<void> {
  const handle = await withinStallTimeout(fs.open(file, 'wx', 0o640), stallTimeoutMs, what);
  try {
    // for-await gives backpressure: the next chunk is read only once this one is written.
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      await withinStallTimeout(handle.write(buf, 0, buf.length), stallTimeoutMs, what);
      signal.throwIfAborted();
    }
    await withinStallTimeout(handle.sync(), stallTimeoutMs, what);
  } finally {
    // After a stalled write the close may hang as well.
    await withinStallTimeout(handle.close(), stallTimeoutMs, what);
  }
}

/** Makes the new directory entry durable (a rename or link is not, until its directory is synced). */
async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
