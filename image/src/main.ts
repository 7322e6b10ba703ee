/**
 * The image's entry point: `backup [-- <extra dump-tool args>]`.
 *
 * Exit codes: 0 backup stored with its manifest; 1 backup failed (nothing partial left);
 * 2 usage or configuration error (nothing started); 130/143 interrupted by SIGINT/SIGTERM.
 */
import { parseArgs } from './args';
import { BackupFailedError, runBackup } from './backup';
import { loadConfig } from './config';
import { ConfigError, InterruptedError, describeError } from './errors';
import { Logger } from './log';

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
    log.warn(`received ${signal}: stopping the dump and aborting the upload`);
    controller.abort(new InterruptedError(signal));
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  try {
    const { dumpArgs } = parseArgs(process.argv.slice(2));
    const config = loadConfig(env, dumpArgs);
    const result = await runBackup({ config, env, log, signal: controller.signal });
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
    return 0;
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
    log.error(`backup failed: ${describeError(cause)}`, { cleanup });
    return 1;
  }
}

main().then(
  code => process.exit(code),
  err => {
    new Logger(process.env).error(`internal error: ${describeError(err)}`);
    process.exit(1);
  },
);
