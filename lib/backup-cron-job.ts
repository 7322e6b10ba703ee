import * as fs from 'fs';
import * as path from 'path';
import { ApiObject, Cron, Duration, JsonPatch, Names, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import {
  COMMAND, COMPRESSIONS, DUMP_ARGS_SEPARATOR, ENV, EngineName, IMAGE, findReservedDumpArg, imageTag,
} from './contract';
import { BackupSchedule } from './schedule';
import { BackupStorage } from './storage';

/** How the backup stream is compressed before it is stored. */
export enum Compression {
  /** zstd, multi-threaded: several times faster than gzip at a similar or better ratio. */
  ZSTD = 'zstd',
  /** gzip, for tools that cannot read zstd. Single-threaded and slow on large dumps. */
  GZIP = 'gzip',
  /** Stored as the dump tool writes it. */
  NONE = 'none',
}

/** Options every backup CronJob has, whatever the engine. */
export interface BackupCronJobOptions {
  /** When the backup runs. */
  readonly schedule: BackupSchedule;
  /**
   * IANA time zone the schedule is evaluated in (the CronJob's `spec.timeZone`).
   * @default - the time zone of the kube-controller-manager (usually UTC)
   */
  readonly timeZone?: string;
  /** Where backups are written. */
  readonly storage: BackupStorage;
  /**
   * Series name used in object keys (`<prefix>/<backupName>/<timestamp>-<random>.<ext>`) and in
   * the `app.kubernetes.io/instance` label.
   * @default - the construct id, lower-cased
   */
  readonly backupName?: string;
  /**
   * Extra arguments passed to the dump tool, e.g. `['--exclude-table=audit_log']`. Flags the
   * runner controls (output, format, connection, password) are rejected.
   * @default - none
   */
  readonly dumpArgs?: string[];
  /**
   * Compression of the stored backup.
   * @default Compression.ZSTD
   */
  readonly compression?: Compression;
  /**
   * The container image. Pin a tag or digest; `latest` and untagged images are rejected.
   * @default - the companion image for this engine, tagged with this library's version
   */
  readonly image?: string;
  /**
   * Image pull policy.
   * @default kplus.ImagePullPolicy.IF_NOT_PRESENT
   */
  readonly imagePullPolicy?: kplus.ImagePullPolicy;
  /**
   * Resources of the backup container. The runner streams, so memory does not grow with the
   * database; the dump tool itself needs some.
   * @default - requests 250m CPU and 256Mi memory, limit 512Mi memory, no CPU limit
   */
  readonly resources?: kplus.ContainerResources;
  /**
   * Maximum run time of one backup Job; the Job is stopped (and the upload aborted) after it.
   * @default Duration.hours(6)
   */
  readonly activeDeadline?: Duration;
  /**
   * How late a missed schedule may still start.
   * @default Duration.hours(1)
   */
  readonly startingDeadline?: Duration;
  /**
   * Retries of a failed backup Job.
   * @default 2
   */
  readonly backoffLimit?: number;
  /**
   * Finished Jobs kept for inspection.
   * @default 3
   */
  readonly successfulJobsRetained?: number;
  /**
   * Failed Jobs kept for inspection.
   * @default 3
   */
  readonly failedJobsRetained?: number;
  /**
   * Create the CronJob suspended.
   * @default false
   */
  readonly suspend?: boolean;
  /**
   * Name of the CronJob object (at most 52 characters, a DNS label).
   * @default - derived from the construct path, shortened with a hash to fit 52 characters
   */
  readonly cronJobName?: string;
}

/** What an engine adds to the shared wiring. @internal */
export interface EngineSpec {
  readonly engine: EngineName;
  readonly env: Record<string, kplus.EnvValue>;
}

const LIBRARY_VERSION: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version;

/** The companion image for `engine` at this library's version. @internal */
export function defaultImage(engine: EngineName): string {
  return `${IMAGE.REPOSITORY}:${imageTag(LIBRARY_VERSION, engine)}`;
}

// Kubernetes appends an 11-character suffix to Job names created by a CronJob.
const MAX_CRONJOB_NAME = 52;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The CronJob every engine shares: schedule, security, resources, environment, labels.
 * An engine passes only what differs. @internal
 */
export function createBackupCronJob(scope: Construct, options: BackupCronJobOptions, spec: EngineSpec): kplus.CronJob {
  const backupName = validateBackupName(options.backupName ?? scope.node.id.toLowerCase(), options.backupName !== undefined);
  const name = options.cronJobName ?? Names.toDnsLabel(scope, { maxLen: MAX_CRONJOB_NAME });
  if (name.length > MAX_CRONJOB_NAME || !DNS_LABEL.test(name)) {
    throw new Error(`cronJobName: '${name}' must be a DNS label (lowercase letters, digits, '-') of at most ${MAX_CRONJOB_NAME} characters, because Kubernetes appends 11 characters for each Job.`);
  }
  const schedule = options.schedule.resolve(scope);
  if (options.timeZone !== undefined) validateTimeZone(options.timeZone);
  const image = options.image ?? defaultImage(spec.engine);
  validateImage(image);
  const dumpArgs = options.dumpArgs ?? [];
  const reserved = findReservedDumpArg(spec.engine, dumpArgs);
  if (reserved) {
    throw new Error(`dumpArgs: '${reserved}' is set by the runner (output, format, connection or password) and cannot be passed through. Remove it and use the construct's props instead.`);
  }
  const compression = options.compression ?? Compression.ZSTD;
  if (!(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new Error(`compression: '${compression}' is unknown. Use Compression.ZSTD, Compression.GZIP or Compression.NONE.`);
  }
  const backoffLimit = options.backoffLimit ?? 2;
  for (const [prop, value] of Object.entries({
    backoffLimit, successfulJobsRetained: options.successfulJobsRetained, failedJobsRetained: options.failedJobsRetained,
  })) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
      throw new Error(`${prop}: ${value} must be a whole number of 0 or more.`);
    }
  }
  const activeDeadline = options.activeDeadline ?? Duration.hours(6);
  if (activeDeadline.toSeconds() < 60) {
    throw new Error(`activeDeadline: ${activeDeadline.toSeconds()}s is too short for a backup; give at least Duration.minutes(1).`);
  }
  const startingDeadline = options.startingDeadline ?? Duration.hours(1);
  if (startingDeadline.toSeconds() < 10) {
    throw new Error('startingDeadline: must be at least 10 seconds; the CronJob controller checks every 10 seconds, so a shorter deadline can skip every run.');
  }

  const storage = options.storage._bind();
  const labels = {
    'app.kubernetes.io/name': 'cdk8s-db-backup',
    'app.kubernetes.io/instance': backupName,
    'app.kubernetes.io/component': `${spec.engine}-backup`,
    'app.kubernetes.io/version': LIBRARY_VERSION,
    'app.kubernetes.io/managed-by': 'cdk8s',
  };

  const tmp = kplus.Volume.fromEmptyDir(scope, 'Tmp', 'tmp', { sizeLimit: Size.mebibytes(64) });
  const volumes = [tmp];
  const volumeMounts: kplus.VolumeMount[] = [{ path: IMAGE.TMP_DIR, volume: tmp }];
  if (storage.volume) {
    volumes.push(storage.volume);
    volumeMounts.push({ path: IMAGE.BACKUP_VOLUME_PATH, volume: storage.volume });
  }

  const env: Record<string, kplus.EnvValue> = {
    [ENV.ENGINE]: kplus.EnvValue.fromValue(spec.engine),
    [ENV.DESTINATION]: kplus.EnvValue.fromValue(storage.destination),
    [ENV.NAME]: kplus.EnvValue.fromValue(backupName),
    [ENV.COMPRESSION]: kplus.EnvValue.fromValue(compression),
    ...storage.env,
    ...spec.env,
  };

  const cronJob = new kplus.CronJob(scope, 'Resource', {
    metadata: { name, labels },
    schedule: toCron(schedule),
    timeZone: options.timeZone,
    concurrencyPolicy: kplus.ConcurrencyPolicy.FORBID,
    startingDeadline,
    suspend: options.suspend ?? false,
    successfulJobsRetained: options.successfulJobsRetained ?? 3,
    failedJobsRetained: options.failedJobsRetained ?? 3,
    activeDeadline,
    backoffLimit,
    restartPolicy: kplus.RestartPolicy.NEVER,
    // Time for the runner to stop the dump tool and abort the multipart upload.
    terminationGracePeriod: Duration.seconds(60),
    serviceAccount: storage.serviceAccount,
    automountServiceAccountToken: storage.automountServiceAccountToken,
    securityContext: {
      ensureNonRoot: true,
      user: IMAGE.UID,
      group: IMAGE.GID,
      fsGroup: IMAGE.GID,
      // A volume full of old backups would otherwise be re-chowned on every run.
      fsGroupChangePolicy: kplus.FsGroupChangePolicy.ON_ROOT_MISMATCH,
    },
    volumes,
    containers: [{
      name: 'backup',
      image,
      imagePullPolicy: options.imagePullPolicy ?? kplus.ImagePullPolicy.IF_NOT_PRESENT,
      args: dumpArgs.length > 0 ? [COMMAND.BACKUP, DUMP_ARGS_SEPARATOR, ...dumpArgs] : [COMMAND.BACKUP],
      envVariables: env,
      resources: options.resources ?? {
        cpu: { request: kplus.Cpu.millis(250) },
        memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) },
      },
      securityContext: {
        ensureNonRoot: true,
        user: IMAGE.UID,
        group: IMAGE.GID,
        privileged: false,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        // cdk8s-plus-27's Capability enum lacks ALL, which the restricted profile requires.
        capabilities: { drop: ['ALL' as kplus.Capability] },
      },
      volumeMounts,
    }],
  });
  cronJob.podMetadata.addLabel('app.kubernetes.io/name', labels['app.kubernetes.io/name']);
  cronJob.podMetadata.addLabel('app.kubernetes.io/instance', backupName);
  cronJob.podMetadata.addLabel('app.kubernetes.io/component', labels['app.kubernetes.io/component']);
  // cdk8s-plus-27 has no seccompProfile prop; the restricted Pod Security Standard requires it.
  ApiObject.of(cronJob).addJsonPatch(JsonPatch.add(
    '/spec/jobTemplate/spec/template/spec/securityContext/seccompProfile', { type: 'RuntimeDefault' },
  ));
  return cronJob;
}

function toCron(expression: string): Cron {
  const fields = expression.split(' ');
  if (fields.length === 5) {
    const [minute, hour, day, month, weekDay] = fields;
    return new Cron({ minute, hour, day, month, weekDay });
  }
  // Descriptors (@daily, @every 6h) are valid for the API server but not expressible as CronOptions.
  return Object.assign(Object.create(Cron.prototype), { expressionString: expression });
}

/** A required, non-empty string prop. @internal */
export function requireNonEmpty(prop: string, value: string | undefined, example: string): string {
  if (value === undefined || value.trim() === '') {
    throw new Error(`${prop}: must not be empty. Set it, e.g. ${prop}: ${example}.`);
  }
  if (value !== value.trim()) {
    throw new Error(`${prop}: '${value}' has leading or trailing white space; remove it.`);
  }
  return value;
}

/** A bare host name or IP address (no scheme, path or port). @internal */
export function requireHost(value: string | undefined, example: string, otherProps: string): string {
  const host = requireNonEmpty('host', value, `'${example}'`);
  if (host.includes('://') || host.includes('/') || host.includes(' ')) {
    throw new Error(`host: '${host}' must be a bare host name or IP address, e.g. '${example}'; set ${otherProps} in their own props.`);
  }
  return host;
}

/** A TCP port prop, `fallback` when unset. @internal */
export function requirePort(value: number | undefined, fallback: number, server: string): number {
  const port = value ?? fallback;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`port: ${port} is not a TCP port; use a whole number from 1 to 65535 (${server}'s default is ${fallback}).`);
  }
  return port;
}

function validateBackupName(name: string, explicit: boolean): string {
  if (!/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/.test(name)) {
    const where = explicit ? `backupName: '${name}'` : `backupName: the construct id gives '${name}', which`;
    throw new Error(`${where} is not a valid series name: use 1-63 lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit${explicit ? '' : ', or set backupName explicitly'}.`);
  }
  return name;
}

function validateTimeZone(timeZone: string): void {
  if (timeZone.trim() === '' || /\s/.test(timeZone)) {
    throw new Error(`timeZone: '${timeZone}' is not an IANA time zone name. Use a name like 'Europe/Berlin' or 'Etc/UTC'.`);
  }
  if (timeZone.toLowerCase() === 'local') {
    throw new Error("timeZone: 'Local' is rejected by Kubernetes. Use an explicit IANA name like 'Europe/Berlin' or 'Etc/UTC'.");
  }
  if (/^[+-]\d/.test(timeZone) || !/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(timeZone)) {
    throw new Error(`timeZone: '${timeZone}' is not an IANA time zone name (offsets are not accepted). Use a name like 'Europe/Berlin' or 'Etc/GMT-1'.`);
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new Error(`timeZone: '${timeZone}' is not a known IANA time zone. Use a name from the tz database, like 'Europe/Berlin', 'America/New_York' or 'Etc/UTC'.`);
  }
  // Intl ignores case, but the cluster loads zones by file name, which is case-sensitive.
  const canonical = (Intl as any).supportedValuesOf('timeZone') as string[];
  const exact = canonical.includes(timeZone) || ['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT'].includes(timeZone);
  const caseMatch = canonical.find(z => z.toLowerCase() === timeZone.toLowerCase());
  if (!exact && caseMatch) {
    throw new Error(`timeZone: '${timeZone}' must match the tz database's spelling exactly; did you mean '${caseMatch}'?`);
  }
}

function validateImage(image: string): void {
  if (image.trim() === '' || /\s/.test(image)) {
    throw new Error(`image: '${image}' is not an image reference. Use 'registry/repository:tag' or '…@sha256:<digest>'.`);
  }
  if (image.includes('@sha256:')) return;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const tag = lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : undefined;
  if (tag === undefined || tag === 'latest') {
    throw new Error(`image: '${image}' is ${tag ? "tagged 'latest'" : 'untagged'}, so a backup could silently start running a different tool version. Pin a version tag or a digest, e.g. '${image.replace(/:latest$/, '')}:1.2.3'.`);
  }
}
