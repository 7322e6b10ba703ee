/**
 * The image's entry point: `backup [-- <dump-tool args>]`, `list`, `restore [latest|<id>]
 * [-- <restore-tool args>]`, `prune`, `verify [latest|<id>]`.
 *
 * Exit codes: 0 done (backup stored with its manifest, restore complete, every verify check
 * passed); 1 failed (for backup: nothing partial left); 2 usage or configuration error (nothing
 * started); 130/143 interrupted by SIGINT/SIGTERM.
 */
import * as fs from 'node:fs';
import { Args, parseArgs } from './args';
import { BackupFailedError, runBackup } from './backup';
import { Destination, loadConfig, loadSeriesConfig, readEngine, readIncompleteMinAgeMs, readProgressInterval, readRestoreForce, readRetention } from './config';
import { createEngine } from './engines';
import { ConfigError, InterruptedError, describeError } from './errors';
import { seriesPrefix } from './key';
import { runList } from './list';
import { Logger } from './log';
import { runPrune } from './prune';
import { runRestore } from './restore';
import { createStorage } from './storage';
import { checkVerifyEngine, runVerify } from './verify';
import { COMMAND, ENV, findReservedRestoreArg } from '../../lib/contract';

interface Context {
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

function prefixOf(destination: Destination, name: string): string {
  return seriesPrefix(destination.kind === 's3' ? destination.prefix : '', name);
}

async function backup(args: Args, { env, log, signal }: Context): Promise<number> {
  const config = loadConfig(env, args.dumpArgs);
  // Checked before the dump, so a bad policy fails before anything is written.
  const policy = readRetention(env);
  const incompleteMinAgeMs = readIncompleteMinAgeMs(env);
  const result = await runBackup({ config, env, log, signal });
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
  if (!policy) return 0;
  const storage = createStorage(config.destination);
  try {
    await runPrune({ storage, prefix: prefixOf(config.destination, config.name), policy, incompleteMinAgeMs, log });
  } catch (err) {
    // The backup is stored; the run still fails, so a retention that stopped working is seen.
    log.error(`prune after the backup failed (the backup ${result.key} is stored): ${describeError(err)}`);
    return 1;
  }
  return 0;
}

async function list(_args: Args, { env, log }: Context): Promise<number> {
  const series = loadSeriesConfig(env);
  await runList(createStorage(series.destination), prefixOf(series.destination, series.name), log);
  return 0;
}

async function prune(_args: Args, { env, log }: Context): Promise<number> {
  const series = loadSeriesConfig(env);
  const policy = readRetention(env);
  if (!policy) {
    throw new ConfigError(`prune needs a retention policy: set at least one of ${[ENV.KEEP_LAST, ENV.KEEP_HOURLY, ENV.KEEP_DAILY, ENV.KEEP_WEEKLY, ENV.KEEP_MONTHLY, ENV.KEEP_YEARLY, ENV.KEEP_WITHIN_SECONDS].join(', ')}.`);
  }
  await runPrune({
    storage: createStorage(series.destination),
    prefix: prefixOf(series.destination, series.name),
    policy,
    incompleteMinAgeMs: readIncompleteMinAgeMs(env),
    log,
  });
  return 0;
}

async function restore(args: Args, { env, log, signal }: Context): Promise<number> {
  const config = loadConfig(env, []);
  const force = readRestoreForce(env);
  const engine = createEngine(config, env);
  const reserved = findReservedRestoreArg(engine.name, args.dumpArgs);
  if (reserved) {
    throw new ConfigError(`restore arguments: '${reserved}' is set by the runner (connection, output or transaction mode) and cannot be passed after '--'; remove it.`);
  }
  const storage = createStorage(config.destination);
  const result = await runRestore({
    storage,
    engine,
    prefix: prefixOf(config.destination, config.name),
    ref: args.ref,
    extraArgs: args.dumpArgs,
    force,
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
    targetDatabase: engine.database ?? null,
    server: result.target.server,
  });
  return 0;
}

async function verify(args: Args, { env, log, signal }: Context): Promise<number> {
  checkVerifyEngine(readEngine(env));
  const series = loadSeriesConfig(env);
  const result = await runVerify({
    storage: createStorage(series.destination),
    prefix: prefixOf(series.destination, series.name),
    ref: args.ref,
    env,
    log,
    signal,
    progressIntervalMs: readProgressInterval(env),
  });
  const failed = result.checks.filter(c => !c.passed).map(c => c.check);
  log.log(result.passed ? 'info' : 'error', result.passed ? 'verify passed' : `verify failed: ${failed.join(', ')}`, {
    id: result.id, database: result.database, checks: result.checks.map(c => c.check), failed,
  });
  return result.passed ? 0 : 1;
}

const COMMANDS: Record<Args['command'], (args: Args, ctx: Context) => Promise<number>> = {
  [COMMAND.BACKUP]: backup,
  [COMMAND.LIST]: list,
  [COMMAND.PRUNE]: prune,
  [COMMAND.RESTORE]: restore,
  [COMMAND.VERIFY]: verify,
};

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

  let command: string = COMMAND.BACKUP;
  try {
    const args = parseArgs(process.argv.slice(2));
    command = args.command;
    return await COMMANDS[args.command](args, { env, log, signal: controller.signal });
  } catch (err) {
    const cleanup = err instanceof BackupFailedError ? err.cleanup : undefined;
    const cause = err instanceof BackupFailedError ? err.cause : err;
    if (cause instanceof InterruptedError || controller.signal.aborted) {
      const interrupted = cause instanceof InterruptedError ? cause : controller.signal.reason as InterruptedError;
      log.error(interrupted.message, { cleanup });
      return interrupted.exitCode;
    }
    if (cause instanceof ConfigError) {
      log.error(`configuration error: ${cause.message}`);
      return 2;
    }
    log.error(`${command} failed: ${describeError(cause)}`, { cleanup });
    return 1;
  }
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
