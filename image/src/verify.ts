/**
 * `verify`: proves a backup restores, whatever the engine. Chooses the backup (`latest` skips
 * damaged ones), has the engine prepare a fresh, empty target on the throwaway server in the pod
 * (engine.verify.prepare), restores into it exactly as `restore` does (checksum first, then the
 * stream), counts what the restore left (a verification that restores nothing fails), checks each
 * assertion, stores the result next to the backup (`<backup key>.verify.json`, verify-result.ts)
 * and removes the target. One JSON line per check; main.ts writes the final line.
 *
 * Nothing is stored when the run is interrupted, or when no verification could start (the backup
 * is not found, the throwaway server never came up): a result describes a backup's restore.
 */
import { Catalog, chooseBackup, readCatalog } from './catalog';
import { CheckResult, Engine, RestoredContents } from './engines/engine';
import { ConfigError, capabilityError, describeError } from './errors';
import { Logger } from './log';
import { RestoreResult, runRestore } from './restore';
import { Storage } from './storage/storage';
import { VERIFY_RESULT_FORMAT_VERSION, VerifyResultDocument, storeVerifyResult } from './verify-result';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY, EngineName } from '../../lib/registry';
import { ASSERTION_TYPES, AssertionSpec, assertionLabel, assertionSpec, assertionsFromText } from '../../lib/verify-assertions';
import { version as RUNNER_VERSION } from '../../package.json';

/** How long to wait for the throwaway server to accept connections. */
export const SERVER_WAIT_MS = 120_000;

/**
 * The assertions of a verification of `engine`: the legacy BACKUP_VERIFY_SQL first (as an `sql`
 * assertion; refused for an engine that cannot check SQL), then BACKUP_VERIFY_ASSERTIONS. Throws a
 * RuleError naming the variable.
 */
export function readVerifyAssertions(env: NodeJS.ProcessEnv, engine: EngineName): AssertionSpec[] {
  const out: AssertionSpec[] = [];
  const query = env[ENV.VERIFY_SQL];
  if (query !== undefined && query.trim() !== '') {
    if (!ASSERTION_TYPES[engine].includes('sql')) {
      const types = ASSERTION_TYPES[engine].map(t => `'${t}'`).join(', ');
      throw new ConfigError(`${ENV.VERIFY_SQL}: ${ENGINE_REGISTRY[engine].title} has no SQL to check; remove it, and use ${ENV.VERIFY_ASSERTIONS} with ${types} instead.`);
    }
    out.push(assertionSpec(ENV.VERIFY_SQL, { type: 'sql', query }, engine));
  }
  out.push(...assertionsFromText(ENV.VERIFY_ASSERTIONS, env[ENV.VERIFY_ASSERTIONS], engine));
  return out;
}

export interface VerifyOptions {
  readonly storage: Storage;
  /** The series' key prefix, `<prefix>/<name>/`. */
  readonly prefix: string;
  /** `latest` or a backup id. */
  readonly ref: string;
  /** An engine with the verify capability, aimed at the throwaway server. */
  readonly engine: Engine;
  readonly assertions: readonly AssertionSpec[];
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly progressIntervalMs: number;
  /** How long to wait for the throwaway server. @default SERVER_WAIT_MS */
  readonly serverWaitMs?: number;
}

/** What a verification found; `passed` only if every check passed. */
export interface VerifyResult {
  readonly id: string;
  /** The backup's data key. */
  readonly key: string;
  /** Where it was restored (e.g. the throwaway database). */
  readonly target: string;
  readonly passed: boolean;
  readonly checks: CheckResult[];
  /** How long restoring the backup took (what a recovery would take); undefined when the restore failed. */
  readonly restoreDurationSeconds?: number;
  /** Stored bytes of the verified backup, from its manifest. */
  readonly bytes: number;
  /** What the restore left; undefined when the restore failed or could not be counted. */
  readonly contents?: RestoredContents;
  /** Where the result was stored; undefined when storing it failed (logged as a warning). */
  readonly resultKey?: string;
  readonly document: VerifyResultDocument;
}

/** `restored 2 tables (20500 rows)`, or why nothing restored fails. */
export function describeContents(c: RestoredContents): string {
  const items = c.itemUnit !== undefined && c.items !== undefined ? ` (${c.items} ${c.itemUnit})` : '';
  return c.objects > 0
    ? `restored ${c.objects} ${c.objectUnit}${items}`
    : `restored nothing: 0 ${c.objectUnit}${items}; a verification that restores nothing fails`;
}

export async function runVerify(o: VerifyOptions): Promise<VerifyResult> {
  const { storage, engine, env, log, signal } = o;
  const verify = engine.verify;
  if (!verify) throw capabilityError(engine.descriptor, 'verify');
  const catalog: Catalog = await readCatalog(storage, o.prefix, signal);
  const { entry, manifest } = await chooseBackup(storage, catalog, o.ref, `${storage.location} under ${o.prefix}`, log, signal);
  if (manifest.engine !== engine.name) {
    throw new ConfigError(`backup ${entry.id} is a ${manifest.engine} backup but ${ENV.ENGINE} is '${engine.name}'`);
  }
  log.info('verify starting', { id: entry.id, key: entry.key, engine: engine.name, assertions: o.assertions.map(assertionLabel) });
  const target = await verify.prepare(entry.id, { serverWaitMs: o.serverWaitMs ?? SERVER_WAIT_MS, signal, log });

  try {
    const checks: CheckResult[] = [];
    const record = (c: CheckResult) => {
      checks.push(c);
      log.log(c.passed ? 'info' : 'error', 'check', { ...c });
    };
    // A check that throws has failed, unless the run was interrupted: then the run ends here.
    const failed = (check: string, err: unknown): CheckResult => {
      if (signal.aborted) throw signal.reason;
      return { check, passed: false, detail: describeError(err) };
    };

    let restored: RestoreResult | undefined;
    try {
      restored = await runRestore({
        storage,
        engine: target.engine,
        prefix: o.prefix,
        ref: entry.id,
        extraArgs: [],
        force: false,
        env,
        log,
        signal,
        progressIntervalMs: o.progressIntervalMs,
        catalog,
      });
      record({ check: 'restore', passed: true, detail: `restored ${restored.bytes} bytes in ${restored.durationSeconds.toFixed(1)} s` });
    } catch (err) {
      record(failed('restore', err));
    }

    let contents: RestoredContents | undefined;
    if (restored) {
      try {
        contents = await target.contents(signal);
        record({ check: 'contents', passed: contents.objects > 0, detail: describeContents(contents) });
      } catch (err) {
        record(failed('contents', new Error(`could not count what the restore left: ${describeError(err)}`)));
      }
      for (const a of o.assertions) {
        try {
          record(await target.check(a, signal));
        } catch (err) {
          record(failed(assertionLabel(a), err));
        }
      }
    }
    signal.throwIfAborted();

    const passed = checks.every(c => c.passed);
    const document: VerifyResultDocument = {
      formatVersion: VERIFY_RESULT_FORMAT_VERSION,
      backupId: entry.id,
      key: entry.key,
      engine: engine.name,
      verifiedAt: new Date().toISOString(),
      passed,
      checks,
      restore: { durationSeconds: restored?.durationSeconds ?? null, bytes: manifest.bytes, rawBytes: manifest.rawBytes ?? null },
      contents: contents ?? null,
      server: restored ? { version: restored.target.server.version } : null,
      target: target.name,
      runner: { version: RUNNER_VERSION },
    };
    const resultKey = await storeVerifyResult(storage, document, log, signal);
    signal.throwIfAborted();
    return {
      id: entry.id,
      key: entry.key,
      target: target.name,
      passed,
      checks,
      restoreDurationSeconds: restored?.durationSeconds,
      bytes: manifest.bytes,
      contents,
      resultKey,
      document,
    };
  } finally {
    await target.cleanup();
  }
}
