import * as fs from 'fs';
import * as path from 'path';
import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ENV, EngineName, IMAGE, imageTag } from './contract';
import { imageAt, imagePullSecretsAt } from './defaults';
import * as rules from './rules';
import { BackupStorage } from './storage';
import { TlsCertificate } from './tls';
import { dataKey, durationProp, imageReference, secretValueProp } from './validation';

/** @internal */
export const LIBRARY_VERSION: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version;

/** The companion image for `engine` at this library's version. @internal */
export function defaultImage(engine: EngineName): string {
  return `${IMAGE.REPOSITORY}:${imageTag(LIBRARY_VERSION, engine)}`;
}

/** Options of every Job and CronJob that runs the companion image: backups, restores, verification. */
export interface RunnerOptions {
  /**
   * The container image. Pin a tag or digest; `latest` and untagged images are rejected.
   * @default - the companion image for this engine, tagged with this library's version, from the
   * registry `BackupDefaults.of(scope).useRegistry()` sets, if any
   */
  readonly image?: string;
  /**
   * Image pull policy.
   * @default kplus.ImagePullPolicy.IF_NOT_PRESENT
   */
  readonly imagePullPolicy?: kplus.ImagePullPolicy;
  /**
   * Resources of the runner container. The runner streams, so memory does not grow with the
   * database; the dump or restore tool itself needs some.
   * @default - requests 250m CPU and 256Mi memory, limit 512Mi memory, no CPU limit
   */
  readonly resources?: kplus.ContainerResources;
  /**
   * The most the pod's clock may differ from the storage's clock (`BACKUP_MAX_CLOCK_SKEW_SECONDS`,
   * whole seconds). A run whose clock disagrees by more refuses to start, because backup ids,
   * retention and `latest` must not follow a wrong clock.
   * @default - the runner's default, 10 minutes
   */
  readonly maxClockSkew?: Duration;
  /**
   * How long a transfer may make no progress before the run gives up and aborts the upload
   * (`BACKUP_STALL_TIMEOUT_SECONDS`, whole seconds, at least 10), so a stalled storage server fails
   * the run in bounded time.
   * @default - the runner's default, 2 minutes
   */
  readonly stallTimeout?: Duration;
}

/** Just the `RunnerOptions` of a props object. @internal */
export function runnerOptionsOf(options: RunnerOptions): RunnerOptions {
  return {
    image: options.image,
    imagePullPolicy: options.imagePullPolicy,
    resources: options.resources,
    maxClockSkew: options.maxClockSkew,
    stallTimeout: options.stallTimeout,
  };
}

/** The runner's clock-skew and stall-timeout variables, for the props that are set. */
function runnerTimingEnv(options: RunnerOptions): Record<string, kplus.EnvValue> {
  const env: Record<string, kplus.EnvValue> = {};
  const maxClockSkew = durationProp('maxClockSkew', options.maxClockSkew, 'Duration.minutes(10)');
  if (maxClockSkew !== undefined) {
    const seconds = rules.maxClockSkewSeconds('maxClockSkew', rules.wholeSeconds('maxClockSkew', maxClockSkew.toMilliseconds(), 'Duration.minutes(10)'));
    env[ENV.MAX_CLOCK_SKEW_SECONDS] = kplus.EnvValue.fromValue(String(seconds));
  }
  const stallTimeout = durationProp('stallTimeout', options.stallTimeout, 'Duration.minutes(2)');
  if (stallTimeout !== undefined) {
    const seconds = rules.stallTimeoutSeconds('stallTimeout', rules.wholeSeconds('stallTimeout', stallTimeout.toMilliseconds(), 'Duration.minutes(2)'));
    env[ENV.STALL_TIMEOUT_SECONDS] = kplus.EnvValue.fromValue(String(seconds));
  }
  return env;
}

/** How the runner reaches one database: what an engine's construct file adds to the shared wiring. @internal */
export interface EngineConnection {
  readonly engine: EngineName;
  /** The engine's connection variables, names from its registry entry. */
  readonly env: Record<string, kplus.EnvValue>;
  /** A CA certificate, mounted at IMAGE.TLS_CA_DIR; `env` points the engine's CA variable at it. */
  readonly caCertificate?: TlsCertificate;
}

/** A secret prop as an env value by `secretKeyRef`; `field` names the prop, e.g. `password`. @internal */
export function secretEnvValue(field: string, value: kplus.SecretValue): kplus.EnvValue {
  secretValueProp(field, value);
  dataKey(`${field}.key`, rules.nonEmpty(`${field}.key`, value.key, `'${field}'`));
  return kplus.EnvValue.fromSecretValue(value);
}

/** What one runner pod does; everything else about the pod is the same for every command. @internal */
export interface RunnerPodOptions extends RunnerOptions {
  readonly connection: EngineConnection;
  /** `backup`, `restore` or `verify`: the container name and the `app.kubernetes.io/component` suffix. */
  readonly command: string;
  readonly storage: BackupStorage;
  readonly backupName: string;
  readonly args: string[];
  /** The command's own variables (after ENGINE, DESTINATION and NAME, before storage and engine). */
  readonly commandEnv?: Record<string, kplus.EnvValue>;
  /** More volumes mounted into the runner container, by path. */
  readonly mounts?: Record<string, kplus.Volume>;
  /** More containers in the pod (each brings its own hardened securityContext). */
  readonly sidecars?: kplus.ContainerProps[];
  /** Volumes only the sidecars mount. */
  readonly sidecarVolumes?: kplus.Volume[];
}

/** The pod-level props of a runner Job or CronJob, and the labels of the object. @internal */
export interface RunnerPod {
  readonly labels: Record<string, string>;
  readonly props: kplus.JobProps;
}

/**
 * The hardened runner pod a backup CronJob, a restore Job and a verify CronJob share: image,
 * env, security contexts, resources, volumes and labels. Spread `props` into the kplus Job or
 * CronJob, then call `finishRunnerWorkload()` on it. @internal
 */
export function runnerPod(scope: Construct, options: RunnerPodOptions): RunnerPod {
  const engine = options.connection.engine;
  const image = imageReference('image', imageAt(scope, options.image, () => defaultImage(engine)));
  const storage = options.storage._bind(scope);
  const labels = {
    'app.kubernetes.io/name': 'cdk8s-db-backup',
    'app.kubernetes.io/instance': options.backupName,
    'app.kubernetes.io/component': `${engine}-${options.command}`,
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
  if (options.connection.caCertificate) {
    const ca = options.connection.caCertificate._bind(scope);
    volumes.push(ca);
    volumeMounts.push({ path: IMAGE.TLS_CA_DIR, volume: ca, readOnly: true });
  }
  for (const [mountPath, volume] of Object.entries(options.mounts ?? {})) {
    volumes.push(volume);
    volumeMounts.push({ path: mountPath, volume });
  }
  volumes.push(...options.sidecarVolumes ?? []);

  const env: Record<string, kplus.EnvValue> = {
    [ENV.ENGINE]: kplus.EnvValue.fromValue(engine),
    [ENV.DESTINATION]: kplus.EnvValue.fromValue(storage.destination),
    [ENV.NAME]: kplus.EnvValue.fromValue(options.backupName),
    ...options.commandEnv,
    ...runnerTimingEnv(options),
    ...storage.env,
    ...options.connection.env,
  };

  return {
    labels,
    props: {
      metadata: { labels },
      restartPolicy: kplus.RestartPolicy.NEVER,
      // Time for the runner to stop the tool it runs and abort an upload cleanly.
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
        name: options.command,
        image,
        imagePullPolicy: options.imagePullPolicy ?? kplus.ImagePullPolicy.IF_NOT_PRESENT,
        args: options.args,
        envVariables: env,
        resources: options.resources ?? {
          cpu: { request: kplus.Cpu.millis(250) },
          memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) },
        },
        securityContext: restrictedContainerSecurity(IMAGE.UID, IMAGE.GID),
        volumeMounts,
      }, ...options.sidecars ?? []],
    },
  };
}

/** A container securityContext that passes the restricted Pod Security Standard. @internal */
export function restrictedContainerSecurity(uid: number, gid: number): kplus.ContainerSecurityContextProps {
  return {
    ensureNonRoot: true,
    user: uid,
    group: gid,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    // cdk8s-plus-27's Capability enum lacks ALL, which the restricted profile requires.
    capabilities: { drop: ['ALL' as kplus.Capability] },
  };
}

/** Pod labels, the seccomp profile and image pull secrets, which kplus has no props for. @internal */
export function finishRunnerWorkload(workload: kplus.Job | kplus.CronJob, labels: Record<string, string>): void {
  for (const key of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component']) {
    workload.podMetadata.addLabel(key, labels[key]);
  }
  const podSpec = workload instanceof kplus.CronJob ? '/spec/jobTemplate/spec/template/spec' : '/spec/template/spec';
  const object = ApiObject.of(workload);
  // cdk8s-plus-27 has no seccompProfile prop; the restricted Pod Security Standard requires it.
  object.addJsonPatch(JsonPatch.add(`${podSpec}/securityContext/seccompProfile`, { type: 'RuntimeDefault' }));
  // kplus takes one pull secret (dockerRegistryAuth); BackupDefaults may give several. Resolved
  // for the construct that owns the workload, where BackupDefaults' scopes are looked up.
  const pullSecrets = imagePullSecretsAt(workload.node.scope ?? workload);
  if (pullSecrets.length > 0) {
    object.addJsonPatch(JsonPatch.add(`${podSpec}/imagePullSecrets`, pullSecrets.map(name => ({ name }))));
  }
}
