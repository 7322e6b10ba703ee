/**
 * Waiting for a verify pod's throwaway server, the same for every engine: poll until it answers,
 * say once why it does not yet, give up after the wait with the last reason, stop at once when
 * the run is interrupted.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Logger } from './log';

export interface ServerWait {
  readonly serverWaitMs: number;
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Pause between probes (default 1 s). */
  readonly intervalMs?: number;
  /** For the messages: 'the verify server', 'the verify server at 127.0.0.1:6379'. */
  readonly what?: string;
  /** The log line while waiting (default 'waiting for the verify server'). */
  readonly waitingMessage?: string;
  /** Added to the give-up message, e.g. where to look next. */
  readonly hint?: string;
}

/**
 * Calls `probe` until it resolves with undefined (ready); any other value is why it is not ready
 * yet. Rejects with the signal's reason when interrupted, and with the last reason after the wait.
 */
export async function waitForServer(probe: () => Promise<string | undefined>, o: ServerWait): Promise<void> {
  const deadline = Date.now() + o.serverWaitMs;
  const what = o.what ?? 'the verify server';
  for (let logged = false; ;) {
    o.signal.throwIfAborted();
    const why = await probe();
    o.signal.throwIfAborted();
    if (why === undefined) return;
    if (Date.now() > deadline) {
      throw new Error(`${what} did not accept connections within ${Math.round(o.serverWaitMs / 1000)} s: ${why}${o.hint ? ` ${o.hint}` : ''}`);
    }
    if (!logged) o.log.info(o.waitingMessage ?? 'waiting for the verify server', { reason: why });
    logged = true;
    await delay(o.intervalMs ?? 1_000, undefined, { signal: o.signal }).catch(() => o.signal.throwIfAborted());
  }
}
