/**
 * Client-side encryption of the backup stream with age (https://age-encryption.org/v1): the
 * compressor's output goes through Debian's `age` CLI to the recipients' public keys, so the
 * stored object is a standard age file that only their identities decrypt (`age -d -i key.txt`).
 * The backup pod holds public keys only; it cannot read what it wrote.
 *
 * The CLI rather than a library in Node, by measurement (bench/RESULTS.md): 512 MiB of
 * incompressible data took 0.40 s through `age` (5 MiB RSS) against 4.1 s through the
 * `age-encryption` npm package's streaming API (99 MiB RSS), which also has no ssh-ed25519 or
 * ssh-rsa recipients. With zstd, age reads zstd's stdout directly: the ciphertext's plaintext
 * never passes through Node.
 */
import { Readable } from 'node:stream';
import { ToolInfo } from './engines/engine';
import { childEnv, describeExit, spawnChild } from './proc';
import { probeVersion } from './tool';

/** Appended to the compressed object's extension in keys of encrypted backups: `.pgdump.zst.age`. */
export const ENCRYPTION_SUFFIX = '.age';

/** The `format` of a manifest's `encryption`. */
export const ENCRYPTION_FORMAT = 'age';

/** Fails unless the age CLI runs, before the dump starts; resolves with its version. */
export async function checkEncryptor(env: NodeJS.ProcessEnv): Promise<ToolInfo> {
  // Debian's age prints its version alone ("1.1.1"); release builds print "v1.2.1".
  return probeVersion('age', /^v?(\d+\.\d+\.\d+)/m, childEnv(env));
}

export interface Encryptor {
  /** The age file. */
  readonly output: Readable;
  /** Resolves when age exited 0 (every byte encrypted and out); rejects with the cause. */
  readonly done: Promise<void>;
  /** Resolves (never rejects) once age has stopped, whatever the outcome. */
  readonly exited: Promise<unknown>;
  /** Stops age (after a failure elsewhere). */
  stop(): void;
}

/**
 * Starts `age -r <recipient> …` on `source`. With `sourceIsChildPipe` (zstd's stdout) age reads the
 * pipe itself and ours is closed; otherwise (gzip, none: Node streams) the source is piped in.
 * Recipients are public keys: argv is no leak.
 */
export function startEncryptor(recipients: readonly string[], env: NodeJS.ProcessEnv, source: Readable, sourceIsChildPipe: boolean): Encryptor {
  if (recipients.length === 0) throw new Error('startEncryptor: no recipient');
  const args = recipients.flatMap(r => ['-r', r]);
  const p = spawnChild('age', args, { env: childEnv(env), stdio: [sourceIsChildPipe ? source : 'pipe', 'pipe', 'pipe'] });
  if (sourceIsChildPipe) {
    // age holds its own copy of the pipe; ours must close, or a dead age would leave zstd blocked
    // on a full pipe instead of failing with SIGPIPE.
    source.destroy();
  } else {
    // pipe(), not pipeline(): a dead age must not destroy the source, whose premature close would
    // then race age's exit status as the reported cause. A write after age died shows in that status.
    p.child.stdin!.on('error', () => undefined);
    source.pipe(p.child.stdin!);
  }
  let stderr = '';
  p.child.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-4096);
  });
  const done = p.exited.then(status => {
    if (p.spawnError) throw p.spawnError;
    if (status.code !== 0) {
      const line = errorLine(stderr);
      throw new Error(`${describeExit('age', status)}${line ? `: ${line}` : ''}`);
    }
  });
  done.catch(() => undefined);
  return { output: p.child.stdout!, done, exited: p.exited, stop: () => void p.stop(1_000) };
}

/** age's own error line ("age: error: malformed recipient …"), without the prefix and the "report" hint. */
export function errorLine(text: string): string {
  const lines = text.split('\n').map(l => l.trim()).filter(l => l !== '' && !/^age: report /.test(l));
  const line = lines.find(l => l.startsWith('age: error:')) ?? lines.pop() ?? '';
  return line.replace(/^age: (error: )?/, '');
}
