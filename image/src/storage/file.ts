/**
 * A mounted directory (a PersistentVolumeClaim). Data is written to a hidden temporary file in the
 * target directory, fsynced, then hard-linked to its final name: link() fails if the name exists,
 * so nothing is ever overwritten, and a reader never sees a partial file under a final name.
 */
import { randomBytes } from 'node:crypto';
import { constants, createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { PutOptions, Storage, StoredObject, Unfinished } from './storage';

const PARTIAL_MARK = '.partial-';

export class FileStorage implements Storage {
  public readonly location: string;

  constructor(private readonly root: string) {
    this.location = `file://${root}`;
  }

  async preflight(): Promise<void> {
    try {
      // A prefix below the mount point does not exist on a fresh volume. With the image's
      // read-only root filesystem, a volume that is not mounted fails here (EROFS).
      await fs.mkdir(this.root, { recursive: true });
      await fs.access(this.root, constants.W_OK);
      await fs.access(this.root, constants.X_OK);
    } catch (err) {
      throw new Error(`destination ${this.location} is not a writable directory (is the volume mounted?)`, { cause: err });
    }
  }

  async put(key: string, body: Readable, _options?: PutOptions): Promise<StoredObject> {
    const final = this.path(key);
    const dir = path.dirname(final);
    await fs.mkdir(dir, { recursive: true });
    if (await this.exists(key)) throw new Error(`refusing to overwrite ${this.location}/${key}`);
    const partial = path.join(dir, `.${path.basename(final)}${PARTIAL_MARK}${randomBytes(4).toString('hex')}`);
    const file = await fs.open(partial, 'wx', 0o640);
    let closed = false;
    try {
      let bytes = 0;
      // for-await gives backpressure: the next chunk is read only once this one is written.
      for await (const chunk of body) {
        const buf = chunk as Buffer;
        await file.write(buf, 0, buf.length);
        bytes += buf.length;
      }
      await file.sync();
      await file.close();
      closed = true;
      await fs.link(partial, final);
      await fs.unlink(partial);
      await syncDir(dir);
      return { key, bytes };
    } catch (err) {
      if (!closed) await file.close().catch(() => undefined);
      await fs.rm(partial, { force: true });
      throw new Error(`writing ${this.location}/${key} failed`, { cause: err });
    }
  }

  async get(key: string): Promise<Readable> {
    const file = this.path(key);
    await fs.access(file);
    return createReadStream(file);
  }

  async list(prefix: string): Promise<StoredObject[]> {
    return (await this.walk()).filter(o => o.key.startsWith(prefix) && !o.key.includes(PARTIAL_MARK));
  }

  async exists(key: string): Promise<boolean> {
    try {
      await fs.lstat(this.path(key));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.path(key), { force: true });
  }

  async listIncomplete(prefix: string): Promise<string[]> {
    return (await this.walk()).map(o => o.key).filter(k => k.startsWith(prefix.slice(0, prefix.lastIndexOf('/') + 1)) && k.includes(PARTIAL_MARK));
  }

  async listUnfinished(prefix: string): Promise<Unfinished[]> {
    const dir = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    return (await this.walk())
      .filter(o => o.key.startsWith(dir) && o.key.includes(PARTIAL_MARK))
      .map(o => {
        // `.<name>.partial-<random>` is the temporary file of `<name>`.
        const base = o.key.slice(o.key.lastIndexOf('/') + 1);
        const name = base.slice(1, base.lastIndexOf(PARTIAL_MARK));
        return { key: `${o.key.slice(0, o.key.lastIndexOf('/') + 1)}${name}`, started: o.modified ?? new Date(0), handle: o.key };
      });
  }

  async removeUnfinished(u: Unfinished): Promise<void> {
    await fs.rm(this.path(u.handle), { force: true });
  }

  private path(key: string): string {
    if (key.split('/').some(s => s === '' || s === '.' || s === '..')) throw new Error(`invalid key '${key}'`);
    return path.join(this.root, ...key.split('/'));
  }

  private async walk(dir = this.root, rel = ''): Promise<StoredObject[]> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: StoredObject[] = [];
    for (const e of entries) {
      const key = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {out.push(...await this.walk(path.join(dir, e.name), key));} else if (e.isFile()) {
        const stat = await fs.stat(path.join(dir, e.name));
        out.push({ key, bytes: stat.size, modified: stat.mtime });
      }
    }
    return out;
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
