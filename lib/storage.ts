import { Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { IConstruct } from 'constructs';
import { ENV, IMAGE } from './contract';
import { RuleError, bucketName, endpointUrl, keyPrefix, kmsKeyId as kmsKeyIdRule, regionName } from './rules';
import { dataKey } from './validation';

/** Options for `S3Credentials.fromSecret()`: which keys of the Secret hold what. */
export interface S3SecretOptions {
  /**
   * Key in the Secret that holds the access key id.
   * @default 'AWS_ACCESS_KEY_ID'
   */
  readonly accessKeyIdKey?: string;
  /**
   * Key in the Secret that holds the secret access key.
   * @default 'AWS_SECRET_ACCESS_KEY'
   */
  readonly secretAccessKeyKey?: string;
  /**
   * Key in the Secret that holds a session token, for temporary credentials.
   * @default - no session token
   */
  readonly sessionTokenKey?: string;
}

/** @internal */
export interface CredentialsBinding {
  readonly env: Record<string, kplus.EnvValue>;
  readonly serviceAccount?: kplus.IServiceAccount;
  readonly automountServiceAccountToken: boolean;
}

/**
 * How the backup pod authenticates to S3. Secrets only ever reach the pod by `secretKeyRef`.
 */
export class S3Credentials {
  /**
   * Static keys from a Kubernetes Secret, exposed to the runner as the AWS SDK's own
   * `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` variables via `secretKeyRef`.
   */
  public static fromSecret(secret: kplus.ISecret, keys: S3SecretOptions = {}): S3Credentials {
    const accessKeyIdKey = keys.accessKeyIdKey ?? ENV.AWS_ACCESS_KEY_ID;
    const secretAccessKeyKey = keys.secretAccessKeyKey ?? ENV.AWS_SECRET_ACCESS_KEY;
    const named: Array<[string, string | undefined]> = [
      ['accessKeyIdKey', accessKeyIdKey], ['secretAccessKeyKey', secretAccessKeyKey], ['sessionTokenKey', keys.sessionTokenKey],
    ];
    for (const [prop, key] of named) {
      if (key !== undefined) dataKey(prop, key);
    }
    const used = named.filter(([, key]) => key !== undefined);
    for (let i = 0; i < used.length; i++) {
      for (let j = i + 1; j < used.length; j++) {
        if (used[i][1] === used[j][1]) {
          throw new Error(`${used[j][0]}: '${used[i][0]}' reads the Secret key '${used[i][1]}' too; each credential needs its own key.`);
        }
      }
    }
    return new S3Credentials(() => {
      const env: Record<string, kplus.EnvValue> = {
        [ENV.AWS_ACCESS_KEY_ID]: kplus.EnvValue.fromSecretValue({ secret, key: accessKeyIdKey }),
        [ENV.AWS_SECRET_ACCESS_KEY]: kplus.EnvValue.fromSecretValue({ secret, key: secretAccessKeyKey }),
      };
      if (keys.sessionTokenKey) {
        env[ENV.AWS_SESSION_TOKEN] = kplus.EnvValue.fromSecretValue({ secret, key: keys.sessionTokenKey });
      }
      return { env, automountServiceAccountToken: false };
    });
  }

  /**
   * Workload identity, no keys at all: the pod runs as `serviceAccount` (annotated for IRSA,
   * EKS Pod Identity, GKE or Azure workload identity) and the AWS SDK's default credential
   * chain picks up the projected token. The service-account token is mounted only here.
   */
  public static fromServiceAccount(serviceAccount: kplus.IServiceAccount): S3Credentials {
    return new S3Credentials(() => ({ env: {}, serviceAccount, automountServiceAccountToken: true }));
  }

  private constructor(private readonly binder: () => CredentialsBinding) {}

  /** @internal */
  public _bind(): CredentialsBinding {
    return this.binder();
  }
}

/** Options for `BackupStorage.s3()`. */
export interface S3StorageOptions {
  /** The bucket name (must already exist). */
  readonly bucket: string;
  /**
   * Key prefix under which every backup series is stored: `<prefix>/<name>/…`.
   * @default - no prefix: series start at the bucket root
   */
  readonly prefix?: string;
  /**
   * Endpoint of an S3-compatible server (MinIO, Ceph radosgw, …), as `http(s)://host[:port]`.
   * @default - AWS S3 for `region`
   */
  readonly endpoint?: string;
  /**
   * Region of the bucket.
   * @default 'us-east-1'
   */
  readonly region?: string;
  /**
   * Address the bucket by path (`endpoint/bucket/key`) instead of by virtual host. Most
   * self-hosted S3 servers need this.
   * @default - true when `endpoint` is set, false for AWS S3
   */
  readonly forcePathStyle?: boolean;
  /**
   * How the pod authenticates to S3.
   * @default - the AWS SDK's default credential chain with the pod's default service account
   */
  readonly credentials?: S3Credentials;
  /**
   * Server-side encryption the bucket applies to every object the runner uploads (backups and
   * manifests). Independent of client-side encryption (`encryption` of a backup construct): S3
   * encrypts at rest with keys it holds, so anyone allowed to read the object reads it in clear.
   * @default - none requested: the bucket's default encryption applies
   */
  readonly serverSideEncryption?: S3ServerSideEncryption;
}

/**
 * Server-side encryption requested on every upload (`x-amz-server-side-encryption`): with a KMS
 * key, or with keys S3 manages. The runner's role needs `kms:GenerateDataKey` on a KMS key to
 * write, and `kms:Decrypt` to read.
 */
export class S3ServerSideEncryption {
  /**
   * SSE-KMS (`aws:kms`): encrypted with a KMS key.
   *
   * @param keyId the KMS key's id, ARN, or alias (`alias/backups`); a key of another account needs its full ARN
   * @default - the bucket's default KMS key (on AWS: the `aws/s3` managed key)
   */
  public static kms(keyId?: string): S3ServerSideEncryption {
    // The runner's rule, so both sides refuse the same ids.
    if (keyId !== undefined) kmsKeyIdRule('serverSideEncryption: KMS key id', keyId);
    return new S3ServerSideEncryption('aws:kms', keyId);
  }

  /** SSE-S3 (`AES256`): encrypted with keys S3 manages. */
  public static s3Managed(): S3ServerSideEncryption {
    return new S3ServerSideEncryption('AES256');
  }

  private constructor(private readonly algorithm: 'aws:kms' | 'AES256', private readonly kmsKeyId?: string) {}

  /** The runner's variables. @internal */
  public _env(): Record<string, kplus.EnvValue> {
    const env: Record<string, kplus.EnvValue> = { [ENV.S3_SSE]: kplus.EnvValue.fromValue(this.algorithm) };
    if (this.kmsKeyId !== undefined) env[ENV.S3_SSE_KMS_KEY_ID] = kplus.EnvValue.fromValue(this.kmsKeyId);
    return env;
  }
}

/** Options for `BackupStorage.volume()`. */
export interface VolumeStorageOptions {
  /**
   * The volume that receives the backups: one that outlives the pod, typically a
   * PersistentVolumeClaim (`kplus.Volume.fromPersistentVolumeClaim()`), or NFS, CSI or a cloud
   * disk. Volumes that live only as long as the pod (emptyDir, ephemeral, configMap, secret,
   * downwardAPI, projected) and hostPath are rejected: the backups would vanish with the pod or
   * scatter over the nodes.
   */
  readonly volume: kplus.Volume;
  /**
   * Directory inside the volume under which every backup series is stored.
   * @default - the volume's root
   */
  readonly prefix?: string;
}

/** @internal */
export interface StorageBinding {
  readonly destination: string;
  /**
   * What identifies the stored place across the app: two backup constructs with the same
   * location and series name write the same series.
   */
  readonly location: string;
  readonly env: Record<string, kplus.EnvValue>;
  readonly volume?: kplus.Volume;
  readonly serviceAccount?: kplus.IServiceAccount;
  readonly automountServiceAccountToken: boolean;
}

/**
 * Where backups are written: an S3-compatible bucket or a mounted volume.
 */
export class BackupStorage {
  /**
   * An S3 bucket (AWS S3 or any S3-compatible server), written by streamed multipart upload.
   */
  public static s3(options: S3StorageOptions): BackupStorage {
    bucketName('bucket', options.bucket);
    const prefix = keyPrefix('prefix', options.prefix);
    const region = regionName('region', options.region ?? 'us-east-1');
    const endpoint = options.endpoint === undefined ? undefined : endpointUrl('endpoint', options.endpoint);
    const forcePathStyle = options.forcePathStyle ?? endpoint !== undefined;
    const credentials = options.credentials;
    const sse = options.serverSideEncryption;
    if (sse !== undefined && !(sse instanceof S3ServerSideEncryption)) {
      throw new RuleError('serverSideEncryption: expected an S3ServerSideEncryption, e.g. serverSideEncryption: S3ServerSideEncryption.kms().');
    }
    const destination = `s3://${options.bucket}${prefix ? '/' + prefix : ''}`;
    // Bucket names are global on AWS S3, so the region does not tell two buckets apart.
    const location = endpoint ? `${destination} at ${endpoint}` : destination;
    return new BackupStorage(() => {
      const creds = credentials?._bind();
      const env: Record<string, kplus.EnvValue> = { [ENV.AWS_REGION]: kplus.EnvValue.fromValue(region) };
      if (endpoint) env[ENV.AWS_ENDPOINT_URL_S3] = kplus.EnvValue.fromValue(endpoint);
      if (forcePathStyle) env[ENV.S3_FORCE_PATH_STYLE] = kplus.EnvValue.fromValue('true');
      Object.assign(env, sse?._env() ?? {});
      Object.assign(env, creds?.env ?? {});
      return {
        destination,
        location,
        env,
        serviceAccount: creds?.serviceAccount,
        automountServiceAccountToken: creds?.automountServiceAccountToken ?? false,
      };
    });
  }

  /**
   * A mounted volume, e.g. a PersistentVolumeClaim. Each backup is written under a temporary
   * name and renamed into place only once complete.
   */
  public static volume(options: VolumeStorageOptions): BackupStorage {
    const source = durableVolumeSource('volume', options.volume);
    const prefix = keyPrefix('prefix', options.prefix);
    const destination = `file://${IMAGE.BACKUP_VOLUME_PATH}${prefix ? '/' + prefix : ''}`;
    return new BackupStorage(scope => ({
      destination,
      location: `${volumeIdentity(source, scope)}${prefix ? ` under '${prefix}'` : ''}`,
      env: {},
      volume: options.volume,
      automountServiceAccountToken: false,
    }));
  }

  private constructor(private readonly binder: (scope?: IConstruct) => StorageBinding) {}

  /** `scope`: the construct that mounts the storage; it tells apart volumes of other namespaces. @internal */
  public _bind(scope?: IConstruct): StorageBinding {
    return this.binder(scope);
  }
}

// Volume sources whose data outlives the pod and does not depend on the node it runs on.
const DURABLE_SOURCES = [
  'persistentVolumeClaim', 'nfs', 'csi', 'awsElasticBlockStore', 'azureDisk', 'azureFile', 'gcePersistentDisk', 'cephfs',
  'rbd', 'iscsi', 'fc', 'glusterfs', 'cinder', 'vsphereVolume', 'portworxVolume', 'quobyte', 'storageos', 'scaleIo',
  'photonPersistentDisk', 'flexVolume', 'flocker',
];

interface VolumeSource {
  readonly kind: string;
  readonly spec: Record<string, unknown>;
}

/** The volume's source, refused unless it outlives the pod. */
function durableVolumeSource(field: string, volume: kplus.Volume): VolumeSource {
  const kube = typeof (volume as any)?._toKube === 'function' ? (volume as any)._toKube() : undefined;
  if (kube === undefined) {
    throw new RuleError(`${field}: expected a kplus.Volume, e.g. kplus.Volume.fromPersistentVolumeClaim(this, 'Backups', kplus.PersistentVolumeClaim.fromClaimName(this, 'Claim', 'backups')).`);
  }
  const kind = Object.keys(kube).find(key => key !== 'name' && kube[key] !== undefined) ?? 'unknown';
  const fix = "Use a PersistentVolumeClaim: kplus.Volume.fromPersistentVolumeClaim(this, 'Backups', kplus.PersistentVolumeClaim.fromClaimName(this, 'Claim', 'backups'))";
  if (kind === 'hostPath') {
    throw new RuleError(`${field}: '${kube.name}' is a hostPath volume: each run may land on another node, and the restricted Pod Security Standard forbids it. ${fix}.`);
  }
  if (!DURABLE_SOURCES.includes(kind)) {
    throw new RuleError(`${field}: '${kube.name}' is a ${kind} volume, which lives only as long as the pod: every backup would vanish when the backup pod ends. ${fix}, or another volume that outlives the pod (NFS, CSI).`);
  }
  return { kind, spec: kube[kind] };
}

/** A description of the volume that is the same for every kplus.Volume of the same storage. */
function volumeIdentity(source: VolumeSource, scope: IConstruct | undefined): string {
  const namespace = scope ? Chart.of(scope).namespace : undefined;
  const where = namespace ? ` in namespace '${namespace}'` : '';
  switch (source.kind) {
    case 'persistentVolumeClaim':
      return `PersistentVolumeClaim '${source.spec.claimName}'${where}`;
    case 'nfs':
      return `NFS ${source.spec.server}:${source.spec.path}`;
    default: {
      const spec = { ...source.spec };
      delete spec.readOnly;
      return `${source.kind} volume ${JSON.stringify(spec)}${where}`;
    }
  }
}
