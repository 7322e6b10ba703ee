/** Jest globalTeardown: stops what global-setup.ts started and removes its temp dirs. */
import { SERVERS_KEY, type TestServers } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as Record<string, unknown>;
  const servers = g[SERVERS_KEY] as TestServers | undefined;
  if (!servers) return;
  delete g[SERVERS_KEY];
  // allSettled: one failing stop must not leave the other servers running.
  const results = await Promise.allSettled(Object.values(servers).map(s => s?.stop()));
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length) {
    throw new Error(`stopping test servers failed: ${failures.map((f) => String(f.reason)).join('; ')}`);
  }
}
