/**
 * Compression of the dump stream. zstd runs as the CLI (multi-threaded, ~350 MB/s here) rather
 * than in Node; gzip uses Node's zlib for tools that cannot read zstd.
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { capture, childEnv, describeExit, firstLine, spawnChild } from './proc';
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
  readonly input: Writable;
  readonly output: Readable;
  /** Resolves when every byte came out and the compressor exited cleanly; rejects with the cause. */
  readonly done: Promise<void>;
  /** Resolves (never rejects) once the compressor has stopped, whatever the outcome. */
  readonly exited: Promise<unknown>;
  /** Stops the compressor (after a failure elsewhere). */
  stop(): void;
}

/** Fails if the compressor cannot run, before the dump starts. */
export async function checkCompressor(name: CompressionName, env: NodeJS.ProcessEnv): Promise<void> {
  if (name !== 'zstd') return;
  const out = await capture('zstd', ['--version'], childEnv(env));
  if (out.code !== 0) throw new Error(`zstd --version failed: ${firstLine(out.stderr) || `exit code ${out.code}`}`);
}

export function startCompressor(name: CompressionName, env: NodeJS.ProcessEnv): Compressor {
  switch (name) {
    case 'zstd': return zstd(env);
    case 'gzip': return inProcess(zlib.createGzip());
    case 'none': return inProcess(new PassThrough());
  }
}

function zstd(env: NodeJS.ProcessEnv): Compressor {
  const p = spawnChild('zstd', ['-T0', `-${ZSTD_LEVEL}`, '-q', '-c', '--no-progress'], {
    env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  p.child.stderr!.on('data', (b: Buffer) => {
    if (stderr.length < 4096) stderr += b.toString('utf8');
  });
  const done = p.exited.then(status => {
    if (p.spawnError) throw p.spawnError;
    if (status.code !== 0) throw new Error(`${describeExit('zstd', status)}${stderr.trim() ? `: ${firstLine(stderr)}` : ''}`);
  });
  done.catch(() => undefined);
  return { input: p.child.stdin!, output: p.child.stdout!, done, exited: p.exited, stop: () => void p.stop(1_000) };
}

function inProcess(stream: zlib.Gzip | PassThrough): Compressor {
  const done = finished(stream);
  done.catch(() => undefined);
  return { input: stream, output: stream, done, exited: done.catch(() => undefined), stop: () => stream.destroy() };
}
