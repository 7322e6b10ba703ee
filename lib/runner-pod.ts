import * as fs from 'fs';
import * as path from 'path';
import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ENV, EngineName, IMAGE, imageTag } from './contract';
import { BackupStorage } from './storage';

/** @internal */
export const LIBRARY_VERSION: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version;

/** The companion image for `engine` at this library's version. @internal */
export function defaultImage(engine: EngineName): string {
  return `${IMAGE.REPOSITORY}:${imageTag(LIBRARY_VERSION, engine)}`;
}

/** Options of every Job and CronJob that runs the companion image: backups, restores, verification. */
export interface RunnerOptions {
  /** Where the backups are stored. */
  readonly storage: BackupStorage;
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
   * Resources of the runner container. The runner streams, so memory does not grow with the
   * database; the dump or restore tool itself needs some.
   * @default - requests 250m CPU and 256Mi memory, limit 512Mi memory, no CPU limit
   */
  readonly resources?: kplus.ContainerResources;
}

/** Just the `RunnerOptions` of a props object. @internal */
export function runnerOptionsOf(options: RunnerOptions): RunnerOptions {
  return { storage: options.storage, image: options.image, imagePullPolicy: options.imagePullPolicy, resources: options.resources };
}

/** What one runner pod does; everything else about the pod is the same for every command. @internal */
export interface RunnerPodOptions extends RunnerOptions {
  readonly engine: EngineName;
  /** `backup`, `restore` or `verify`: the container name and the `app.kubernetes.io/component` suffix. */
  readonly command: string;
  readonly backupName: string;
  readonly args: string[];
  /** The command's own variables (after ENGINE, DESTINATION and NAME, before storage and engine). */
  readonly commandEnv?: Record<string, kplus.EnvValue>;
  /** The engine's connection variables. */
  readonly engineEnv: Record<string, kplus.EnvValue>;
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
  const image = options.image ?? defaultImage(options.engine);
  validateImage('image', image);
  const storage = options.storage._bind();
  const labels = {
    'app.kubernetes.io/name': 'cdk8s-db-backup',
    'app.kubernetes.io/instance': options.backupName,
    'app.kubernetes.io/component': `${options.engine}-${options.command}`,
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
  for (const [mountPath, volume] of Object.entries(options.mounts ?? {})) {
    volumes.push(volume);
    volumeMounts.push({ path: mountPath, volume });
  }
  volumes.push(...options.sidecarVolumes ?? []);

  const env: Record<string, kplus.EnvValue> = {
    [ENV.ENGINE]: kplus.EnvValue.fromValue(options.engine),
    [ENV.DESTINATION]: kplus.EnvValue.fromValue(storage.destination),
    [ENV.NAME]: kplus.EnvValue.fromValue(options.backupName),
    ...options.commandEnv,
    ...storage.env,
    ...options.engineEnv,
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

/** Pod labels and the seccomp profile kplus has no prop for. @internal */
export function finishRunnerWorkload(workload: kplus.Job | kplus.CronJob, labels: Record<string, string>): void {
  for (const key of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component']) {
    workload.podMetadata.addLabel(key, labels[key]);
  }
  const podSpec = workload instanceof kplus.CronJob ? '/spec/jobTemplate/spec/template/spec' : '/spec/template/spec';
  // cdk8s-plus-27 has no seccompProfile prop; the restricted Pod Security Standard requires it.
  ApiObject.of(workload).addJsonPatch(JsonPatch.add(`${podSpec}/securityContext/seccompProfile`, { type: 'RuntimeDefault' }));
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** An object name that must be a DNS label of at most `maxLen` characters. @internal */
export function validateDnsLabel(prop: string, name: string, maxLen: number, why: string): string {
  if (name.length > maxLen || !DNS_LABEL.test(name)) {
    throw new Error(`${prop}: '${name}' must be a DNS label (lowercase letters, digits, '-') of at most ${maxLen} characters, ${why}.`);
  }
  return name;
}

/** A backup series name, from the prop or the construct id. @internal */
export function validateBackupName(name: string, explicit: boolean): string {
  if (!/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/.test(name)) {
    const where = explicit ? `backupName: '${name}'` : `backupName: the construct id gives '${name}', which`;
    throw new Error(`${where} is not a valid series name: use 1-63 lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit${explicit ? '' : ', or set backupName explicitly'}.`);
  }
  return name;
}

/** A required `backupName` naming an existing series (`purpose`: e.g. 'restore from'). @internal */
export function requireBackupName(name: string | undefined, purpose: string): string {
  if (name === undefined || name === '') {
    throw new Error(`backupName: must be set to the series to ${purpose}, e.g. backupName: 'orders' (the backup CronJob's backupName, by default its construct id).`);
  }
  return validateBackupName(name, true);
}

/** A positive whole number of seconds; throws naming the prop (e.g. `retention: 'keepWithin'`) otherwise. @internal */
export function wholeSeconds(prop: string, duration: Duration, example: string): number {
  const millis = duration.toMilliseconds();
  if (!(millis > 0) || millis % 1000 !== 0) {
    throw new Error(`${prop} must be a positive whole number of seconds, e.g. ${example}; got ${millis} ms.`);
  }
  return millis / 1000;
}

/** A count prop: a whole number of 0 or more. @internal */
export function requireCount(prop: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
    throw new Error(`${prop}: ${value} must be a whole number of 0 or more.`);
  }
}

/** An image reference pinned to a tag or digest. @internal */
export function validateImage(prop: string, image: string): void {
  if (image.trim() === '' || /\s/.test(image)) {
    throw new Error(`${prop}: '${image}' is not an image reference. Use 'registry/repository:tag' or '…@sha256:<digest>'.`);
  }
  if (image.includes('@sha256:')) return;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const tag = lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : undefined;
  if (tag === undefined || tag === 'latest') {
    throw new Error(`${prop}: '${image}' is ${tag ? "tagged 'latest'" : 'untagged'}, so a run could silently start with a different tool version. Pin a version tag or a digest, e.g. '${image.replace(/:latest$/, '')}:1.2.3'.`);
  }
}
