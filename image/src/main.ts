/**
 * The image's entry point: `backup [-- <dump-tool args>]`, `list`, `restore [latest|<id>]
 * [-- <restore-tool args>]`, `prune`, `verify [latest|<id>]`, `check`.
 *
 * `backup`, `verify` and `check` report their start and outcome to the configured metrics and
 * notifications (report.ts), which never change the exit code.
 *
 * Exit codes: 0 done (backup stored with its manifest, restore complete, every verify check
 * passed, the check found nothing wrong); 1 failed (for backup: nothing partial left); 2 usage or configuration error (nothing
 * started); 130/143 interrupted by SIGINT/SIGTERM.
 */
import * as fs from 'node:fs';
import { BackupFailedError, runBackup } from './backup';
import { runCheck } from './check';
import { BackupConfig, CheckConfig, ListConfig, PruneConfig, RestoreConfig, RunConfig, VerifyConfig, loadRunConfig } from './config';
import { InterruptedError, describeError } from './errors';
import { backupIdOf } from './key';
import { runList } from './list';
import { Logger } from './log';
import { runPrune } from './prune';
import { ReportedCommand, RunFacts, RunInfo, RunReporter, createReporters, readReportingConfig, reportAll } from './report';
import { runRestore } from './restore';
import { createStorage } from './storage';
import { runVerify } from './verify';
import { COMMAND, ENV } from '../../lib/contract';
import { RuleError } from '../../lib/rules';

interface Context {
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** What the run found out, for the reporters. */
  readonly facts: RunFacts;
}

async function backup(config: BackupConfig, { env, log, signal, facts }: Context): Promise<number> {
  const storage = createStorage(config.destination);
  const result = await runBackup({ config, storage, env, log, signal });
  Object.assign(facts, { backupId: backupIdOf(result.key), key: result.key, bytes: result.bytes, rawBytes: result.rawBytes });
  log.info('backup complete', {
    key: result.key,
    manifestKey: result.manifestKey,
    bytes: result.bytes,
    rawBytes: result.rawBytes,
    sha256: result.sha256,
    durationSeconds: result.durationSeconds,
    MBps: Number((result.bytes / 1e6 / Math.max(result.durationSeconds, 0.001)).toFixed(1)),
    rawMBps: result.rawBytes === null ? null : Number((result.rawBytes / 1e6 / Math.max(result.durationSeconds, 0.001)).toFixed(1)),
  });
  if (!config.retention) return 0;
  try {
    await runPrune({
      storage,
      prefix: storage.seriesPrefix(config.name),
      policy: config.retention,
      incompleteMinAgeMs: config.incompleteMinAgeMs,
      log,
      signal,
      // Whatever the clocks say, a run never removes the backup it just made.
      justCompleted: result.key,
    });
  } catch (err) {
    // The backup is stored; the run still fails, so a retention that stopped working is seen.
    log.error(`prune after the backup failed (the backup ${result.key} is stored): ${describeError(err)}`);
    return 1;
  }
  return 0;
}

async function list(config: ListConfig, { log, signal }: Context): Promise<number> {
  const storage = createStorage(config.destination);
  await runList(storage, storage.seriesPrefix(config.name), log, signal);
  return 0;
}

async function prune(config: PruneConfig, { log, signal }: Context): Promise<number> {
  const storage = createStorage(config.destination);
  await runPrune({
    storage, prefix: storage.seriesPrefix(config.name), policy: config.retention, incompleteMinAgeMs: config.incompleteMinAgeMs, log, signal,
  });
  return 0;
}

async function restore(config: RestoreConfig, { env, log, signal }: Context): Promise<number> {
  const storage = createStorage(config.destination);
  const result = await runRestore({
    storage,
    engine: config.engine,
    prefix: storage.seriesPrefix(config.name),
    ref: config.ref,
    extraArgs: config.toolArgs,
    force: config.force,
    env,
    log,
    signal,
    progressIntervalMs: config.progressIntervalMs,
  });
  log.info('restore complete', {
    id: result.id,
    key: result.key,
    bytes: result.bytes,
    durationSeconds: result.durationSeconds,
    targetDatabase: config.engine.database ?? null,
    server: result.target.server,
  });
  return 0;
}

async function verify(config: VerifyConfig, { env, log, signal, facts }: Context): Promise<number> {
  const storage = createStorage(config.destination);
  const result = await runVerify({
    storage,
    prefix: storage.seriesPrefix(config.name),
    ref: config.ref,
    engine: config.engine,
    assertions: config.assertions,
    env,
    log,
    signal,
    progressIntervalMs: config.progressIntervalMs,
  });
  Object.assign(facts, { backupId: result.id, bytes: result.bytes, restoreDurationSeconds: result.restoreDurationSeconds });
  const failed = result.checks.filter(c => !c.passed);
  log.log(result.passed ? 'info' : 'error', result.passed ? 'verify passed' : `verify failed: ${failed.map(c => `${c.check}: ${c.detail}`).join('; ')}`, {
    id: result.id,
    target: result.target,
    checks: result.checks.map(c => c.check),
    failed: failed.map(c => c.check),
    restoreDurationSeconds: result.restoreDurationSeconds ?? null,
    bytes: result.bytes,
    contents: result.contents ?? null,
    resultKey: result.resultKey ?? null,
  });
  return result.passed ? 0 : 1;
}

async function check(config: CheckConfig, { log, signal, facts }: Context): Promise<number> {
  const storage = createStorage(config.destination);
  const prefix = storage.seriesPrefix(config.name);
  const { incompleteMinAgeMs, progressIntervalMs } = config;
  const r = await runCheck({ storage, prefix, settings: config.check, incompleteMinAgeMs, progressIntervalMs, log, signal });
  facts.backupCount = r.soundBackups;
  if (r.newest) {
    Object.assign(facts, {
      newestBackupTimestampSeconds: Math.floor(r.newest.time.getTime() / 1000), backupId: r.newest.id, key: r.newest.key, bytes: r.newest.bytes,
    });
  }
  const fields = {
    location: storage.location,
    prefix,
    backups: r.soundBackups,
    damaged: r.damagedBackups,
    newest: r.newest?.id ?? null,
    newestStoredAt: r.newest?.time.toISOString() ?? null,
    newestAgeSeconds: r.newest ? Math.floor(r.newest.ageMs / 1000) : null,
    maxAgeSeconds: config.check.maxAgeMs === undefined ? null : config.check.maxAgeMs / 1000,
    readData: config.check.readData,
    bytesRead: r.bytesRead,
    inProgress: r.inProgress,
    leftovers: r.leftovers,
    unfinishedUploadsListed: r.unfinishedListed,
    problems: r.problems.map(p => p.kind),
  };
  if (!r.unfinishedListed) {
    log.info('unfinished uploads are not counted in inProgress and leftovers: the credentials may not list them (s3:ListBucketMultipartUploads); the check does not need them');
  }
  if (r.passed) {
    log.info(config.check.maxAgeMs === undefined ? `check passed (no age check: ${ENV.CHECK_MAX_AGE_SECONDS} is not set)` : 'check passed', fields);
    return 0;
  }
  const [first, ...more] = r.problems;
  log.error(`check failed: ${first.message}${more.length ? `; and ${more.length} more problem(s), each on a line above` : ''}`, fields);
  return 1;
}

function run(config: RunConfig, ctx: Context): Promise<number> {
  switch (config.command) {
    case COMMAND.BACKUP: return backup(config, ctx);
    case COMMAND.LIST: return list(config, ctx);
    case COMMAND.PRUNE: return prune(config, ctx);
    case COMMAND.RESTORE: return restore(config, ctx);
    case COMMAND.VERIFY: return verify(config, ctx);
    case COMMAND.CHECK: return check(config, ctx);
  }
}

async function main(): Promise<number> {
  const env = process.env;
  const log = new Logger(env);
  // Node prints warnings (e.g. the AWS SDK's Node version notice) as multi-line text on stderr,
  // which the container log merges with our JSON lines: log them as JSON instead.
  process.removeAllListeners('warning');
  process.on('warning', w => log.warn(`${w.name}: ${w.message}`, { source: 'node' }));
  const controller = new AbortController();
  const onSignal = (signal: 'SIGTERM' | 'SIGINT') => {
    if (controller.signal.aborted) return;
    log.warn(`received ${signal}: stopping the tools and aborting the transfer`);
    controller.abort(new InterruptedError(signal));
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  const facts: RunFacts = {};
  const startedAt = new Date();
  let config: RunConfig;
  try {
    // Every argument and variable is checked before anything starts: a usage or configuration
    // error exits 2 having touched nothing.
    config = loadRunConfig(process.argv.slice(2), env);
  } catch (err) {
    log.error(`configuration error: ${err instanceof RuleError ? err.message : describeError(err)}`);
    // A CronJob that can never run must still reach a person: report the failure when the
    // reporting variables themselves are fine.
    await reportConfigurationError(env, log, startedAt);
    return 2;
  }

  const reporting = 'reporting' in config ? config.reporting : undefined;
  const reporters = reporting ? createReporters(reporting, log) : [];
  const info: RunInfo = {
    command: config.command as ReportedCommand, series: config.name, engine: env[ENV.ENGINE] ?? '', namespace: reporting?.namespace, startedAt,
  };
  const timeoutMs = reporting?.timeoutMs ?? 0;
  await reportAll(reporters, 'start', (r, s) => r.start(info, s), log, timeoutMs);
  const code = await execute(config, { env, log, signal: controller.signal, facts }, controller);
  await reportFinish(reporters, info, code, facts, log, timeoutMs);
  return code;
}

/** Runs the command; every failure becomes an exit code and one final line. */
async function execute(config: RunConfig, ctx: Context, controller: AbortController): Promise<number> {
  const { log } = ctx;
  try {
    return await run(config, ctx);
  } catch (err) {
    const cleanup = err instanceof BackupFailedError ? err.cleanup : undefined;
    const cause = err instanceof BackupFailedError ? err.cause : err;
    if (cause instanceof InterruptedError || controller.signal.aborted) {
      const interrupted = cause instanceof InterruptedError ? cause : controller.signal.reason as InterruptedError;
      log.error(interrupted.message, { cleanup });
      return interrupted.exitCode;
    }
    if (cause instanceof RuleError) {
      log.error(`configuration error: ${cause.message}`);
      return 2;
    }
    log.error(`${config.command} failed: ${describeError(cause)}`, { cleanup });
    return 1;
  }
}

async function reportFinish(
  reporters: readonly RunReporter[], info: RunInfo, code: number, facts: RunFacts, log: Logger, timeoutMs: number,
): Promise<void> {
  if (reporters.length === 0) return;
  const finishedAt = new Date();
  const outcome = {
    status: code === 0 ? 'success' as const : 'failure' as const,
    exitCode: code,
    finishedAt,
    durationSeconds: (finishedAt.getTime() - info.startedAt.getTime()) / 1000,
    finalLine: log.lastMessage,
    facts: { ...facts },
  };
  await reportAll(reporters, 'finish', (r, s) => r.finish(info, outcome, s), log, timeoutMs);
}

const REPORTED_COMMANDS: readonly string[] = [COMMAND.BACKUP, COMMAND.VERIFY, COMMAND.CHECK];

async function reportConfigurationError(env: NodeJS.ProcessEnv, log: Logger, startedAt: Date): Promise<void> {
  const command = process.argv[2];
  if (!REPORTED_COMMANDS.includes(command)) return;
  let reporting;
  try {
    reporting = readReportingConfig(env);
  } catch {
    return; // the reporting variables are what is wrong: nothing to report with
  }
  const reporters = createReporters(reporting, log);
  const info: RunInfo = {
    command: command as ReportedCommand, series: env[ENV.NAME] ?? '', engine: env[ENV.ENGINE] ?? '', namespace: reporting.namespace, startedAt,
  };
  await reportAll(reporters, 'start', (r, s) => r.start(info, s), log, reporting.timeoutMs);
  await reportFinish(reporters, info, 2, {}, log, reporting.timeoutMs);
}

/**
 * The verify pod's throwaway PostgreSQL stops when this file appears, so the Job can complete:
 * created on every exit path, whatever the command and outcome.
 */
function signalDone(): void {
  const file = process.env[ENV.VERIFY_DONE_FILE];
  if (!file) return;
  try {
    fs.writeFileSync(file, '');
  } catch (err) {
    new Logger(process.env).warn(`cannot create ${ENV.VERIFY_DONE_FILE} ${file}: ${describeError(err)}`);
  }
}

main().then(
  code => {
    signalDone();
    process.exit(code);
  },
  err => {
    new Logger(process.env).error(`internal error: ${describeError(err)}`);
    signalDone();
    process.exit(1);
  },
);
