/**
 * Compression of the dump stream. zstd runs as the CLI (multi-threaded, ~350 MB/s here) rather
 * than in Node; gzip uses Node's zlib for tools that cannot read zstd.
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { childEnv, describeExit, spawnChild } from './proc';
import { probeVersion } from './tool';
import { CompressionName } from '../../lib/contract';

/**
 * zstd level 1. Measured on ~200 MB pg_dump -Fc -Z0 outputs (2 cores, zstd 1.5.4 -T0): level 3
 * took 1.4-1.9x as long and stored 2-5% MORE bytes on row data (orders-like rows: 0.316 vs 0.324
 * of raw; md5 text: 0.49 vs 0.52); gzip (zlib -6) took 13x as long for a similar ratio.
 */
export const ZSTD_LEVEL = 1;

/** Appended to the engine's extension in object keys. */
export const COMPRESSION_SUFFIX: Record<CompressionName, string> = { zstd: '.zst', gzip: '.gz', none: '' };

export interface Compressor {
  /** Where the dump goes in; undefined when the compressor reads the dump tool's stdout itself. */
  readonly input?: Writable;
  readonly output: Readable;
  /** Resolves when every byte came out and the compressor exited cleanly; rejects with the cause. */
  readonly done: Promise<void>;
  /** Resolves (never rejects) once the compressor has stopped, whatever the outcome. */
  readonly exited: Promise<unknown>;
  /** Stops the compressor (after a failure elsewhere). */
  stop(): void;
  /** Bytes that went in, once `done` resolved (undefined if the compressor cannot tell). */
  rawBytes(): number | undefined;
}

/** Fails if the compressor cannot run, before the dump starts. */
export async function checkCompressor(name: CompressionName, env: NodeJS.ProcessEnv): Promise<void> {
  if (name === 'zstd') await probeVersion('zstd', /\bv(\d+\.\d+\.\d+)/, childEnv(env));
}

/**
 * Starts the compressor on `source`, the dump tool's stdout. zstd reads it directly, so the raw
 * dump never passes through Node (9.1 s -> 8.5 s for 1.1 GB, bench/RESULTS.md); gzip and none
 * are Node streams piped from it.
 */
export function startCompressor(name: CompressionName, env: NodeJS.ProcessEnv, source: Readable): Compressor {
  switch (name) {
    case 'zstd': return zstd(env, source);
    case 'gzip': return inProcess(zlib.createGzip(), source);
    case 'none': return inProcess(new PassThrough(), source);
  }
}

// zstd -vv ends with e.g. "/*stdin*\ : 49.39%   (1124313101 B => 555331974 B, /*stdout*\)";
// small sizes are padded with spaces: "(     6 B =>     19 B, /*stdout*\)".
const ZSTD_SIZES = /\(\s*(\d+) B =>\s*(\d+) B,/;

function zstd(env: NodeJS.ProcessEnv, source: Readable): Compressor {
  const p = spawnChild('zstd', ['-T0', `-${ZSTD_LEVEL}`, '-vv', '-c', '--no-progress'], {
    env: childEnv(env), stdio: [source, 'pipe', 'pipe'],
  });
  // zstd holds its own copy of the pipe; ours must close, or a dead zstd would leave the dump tool
  // blocked on a full pipe instead of failing with SIGPIPE.
  source.destroy();
  let stderr = '';
  p.child.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-4096);
  });
  const done = p.exited.then(status => {
    if (p.spawnError) throw p.spawnError;
    if (status.code !== 0) throw new Error(`${describeExit('zstd', status)}${stderr.trim() ? `: ${lastLine(stderr)}` : ''}`);
  });
  done.catch(() => undefined);
  return {
    output: p.child.stdout!,
    done,
    exited: p.exited,
    stop: () => void p.stop(1_000),
    rawBytes: () => {
      const m = ZSTD_SIZES.exec(stderr);
      return m ? Number(m[1]) : undefined;
    },
  };
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter(l => !l.startsWith('***') && !l.startsWith('Note:')).pop() ?? '';
}

function inProcess(stream: zlib.Gzip | PassThrough, source: Readable): Compressor {
  let bytes = 0;
  source.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  const fed = pipeline(source, stream);
  const done = Promise.all([fed, finished(stream)]).then(() => undefined);
  done.catch(() => undefined);
  return { output: stream, done, exited: done.catch(() => undefined), stop: () => stream.destroy(), rawBytes: () => bytes };
}

export interface Decompressor {
  /** Where the stored bytes go in; undefined when the decompressor reads another child's stdout itself. */
  readonly input?: Writable;
  readonly output: Readable;
  /** Resolves when every byte came out and the decompressor exited cleanly; rejects with the cause. */
  readonly done: Promise<void>;
  /** Resolves (never rejects) once the decompressor has stopped. */
  readonly exited: Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * The reverse of `startCompressor`: zstd as the CLI, gzip in Node, none a pass-through. `source`,
 * for zstd only: another child's stdout (age -d), which zstd then reads directly.
 */
export function startDecompressor(name: CompressionName, env: NodeJS.ProcessEnv, source?: Readable): Decompressor {
  if (name !== 'zstd') {
    const stream = name === 'gzip' ? zlib.createGunzip() : new PassThrough();
    const done = finished(stream).then(() => undefined);
    done.catch(() => undefined);
    return { input: stream, output: stream, done, exited: done.catch(() => undefined), stop: async () => void stream.destroy() };
  }
  const p = spawnChild('zstd', ['-d', '-c', '-q', '--no-progress'], { env: childEnv(env), stdio: [source ?? 'pipe', 'pipe', 'pipe'] });
  // zstd alone holds the pipe: a dead writer then ends zstd's input, and a dead zstd fails the writer with EPIPE.
  source?.destroy();
  let stderr = '';
  p.child.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-4096);
  });
  // A write after zstd died is reported through its exit status.
  p.child.stdin?.on('error', () => undefined);
  const done = p.exited.then(status => {
    if (p.spawnError) throw p.spawnError;
    if (status.code !== 0) throw new Error(`${describeExit('zstd -d', status)}${stderr.trim() ? `: ${lastLine(stderr)}` : ''}`);
  });
  done.catch(() => undefined);
  return { input: p.child.stdin ?? undefined, output: p.child.stdout!, done, exited: p.exited, stop: () => p.stop(1_000) };
}
