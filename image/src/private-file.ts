/**
 * A file only this user can read (0600, in a fresh 0700 directory under the temp dir), for a
 * secret a tool must read from disk rather than argv or its environment: the Mongo tools'
 * config file, the MySQL clients' option file.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface PrivateFile {
  readonly path: string;
  /** Removes the file and its directory. Safe to call twice. */
  remove(): Promise<void>;
}

/** Writes `content` to `<tmpdir>/backup-<tool>-XXXXXX/<fileName>`; nothing is left behind if it fails. */
export async function writePrivateFile(tool: string, fileName: string, content: string): Promise<PrivateFile> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `backup-${tool}-`));
  const remove = () => fs.rm(dir, { recursive: true, force: true });
  try {
    await fs.chmod(dir, 0o700);
    const file = path.join(dir, fileName);
    await fs.writeFile(file, content, { mode: 0o600, flag: 'wx' });
    return { path: file, remove };
  } catch (err) {
    await remove();
    throw new Error(`cannot write the private ${tool} file`, { cause: err });
  }
}

/** Runs `fn` with a private file that is removed afterwards, whatever the outcome. */
export async function withPrivateFile<T>(tool: string, fileName: string, content: string, fn: (file: string) => Promise<T>): Promise<T> {
  const file = await writePrivateFile(tool, fileName, content);
  try {
    return await fn(file.path);
  } finally {
    await file.remove();
  }
}
