/**
 * Jest globalSetup: every server in catalog.ts (one S3 server, Ceph radosgw, and one server per
 * engine that has one here) for the whole run, started in parallel. Test files read the connection
 * info from process.env (see env.ts): jest starts its workers after this returns, and they inherit
 * this process's environment.
 *
 * - Binaries not installed: under CI that is an error (the run fails, it
 *   does not quietly skip); locally a warning, the variables stay unset and
 *   describeIntegration() skips those tests.
 * - Binaries installed but a server fails to start: always an error, with
 *   the daemon's log tail.
 * - SKIP_TEST_SERVERS=1: start nothing (fast unit-test runs while developing).
 */
import { TEST_SERVERS, type RunningServer, type ServerKind, type TestServer } from './catalog';
import { isCI } from './env';

export type TestServers = Partial<Record<ServerKind, RunningServer>>;

/** Where global-teardown.ts finds the servers (jest keeps globalThis from setup to teardown). */
export const SERVERS_KEY = '__cdk8sDbBackupTestServers';

type Started = { def: TestServer; server?: RunningServer; error?: string; note?: string };

async function maybeStart(def: TestServer): Promise<Started> {
  const missing = def.missingBinaries();
  if (missing.length) {
    const why = `${def.label} is not installed (missing ${missing.join(', ')}); run .ci/install-servers.sh`;
    return isCI() ? { def, error: why } : { def, note: `${why}; its integration tests will be skipped` };
  }
  const t0 = Date.now();
  try {
    const server = await def.start();
    return { def, server, note: `up in ${((Date.now() - t0) / 1000).toFixed(1)} s` };
  } catch (e) {
    return { def, error: (e as Error).message };
  }
}

export default async function globalSetup(): Promise<void> {
  if (process.env.SKIP_TEST_SERVERS === '1') {
    process.stderr.write(`\n[test servers] SKIP_TEST_SERVERS=1: not starting ${TEST_SERVERS.map(d => d.label).join(', ')}\n`);
    return;
  }
  const started = await Promise.all(TEST_SERVERS.map(maybeStart));

  const errors = started.map(s => s.error).filter((e): e is string => e !== undefined);
  if (errors.length) {
    // Jest does not run globalTeardown when globalSetup throws.
    await Promise.allSettled(started.map(s => s.server?.stop()));
    throw new Error(`test servers failed to start:\n${errors.join('\n\n')}`);
  }

  const servers: TestServers = {};
  for (const { def, server } of started) {
    if (!server) continue;
    servers[def.kind] = server;
    Object.assign(process.env, def.toEnv(server));
  }
  (globalThis as Record<string, unknown>)[SERVERS_KEY] = servers;

  const lines = started.map(({ def, server, note }) => (server ? `${def.summary(server)} (${note})` : `${def.kind}: ${note}`));
  process.stderr.write(`\n${lines.map((l) => `[test servers] ${l}`).join('\n')}\n`);
}
