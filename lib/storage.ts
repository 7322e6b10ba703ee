import * as kplus from 'cdk8s-plus-27';
import { ENV, IMAGE } from './contract';

/** Options for `S3Credentials.fromSecret()`. */
export interface S3SecretKeys {
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
  public static fromSecret(secret: kplus.ISecret, keys: S3SecretKeys = {}): S3Credentials {
    const accessKeyIdKey = keys.accessKeyIdKey ?? ENV.AWS_ACCESS_KEY_ID;
    const secretAccessKeyKey = keys.secretAccessKeyKey ?? ENV.AWS_SECRET_ACCESS_KEY;
    const named: Array<[string, string | undefined]> = [
      ['accessKeyIdKey', accessKeyIdKey], ['secretAccessKeyKey', secretAccessKeyKey], ['sessionTokenKey', keys.sessionTokenKey],
    ];
    for (const [prop, key] of named) {
      if (key !== undefined && !/^[-._a-zA-Z0-9]+$/.test(key)) {
        throw new Error(`credentials: '${prop}' is '${key}', which is not a valid Secret key. Use letters, digits, '-', '_' or '.'.`);
      }
    }
    const used = named.filter(([, key]) => key !== undefined);
    for (let i = 0; i < used.length; i++) {
      for (let j = i + 1; j < used.length; j++) {
        if (used[i][1] === used[j][1]) {
          throw new Error(`credentials: '${used[i][0]}' and '${used[j][0]}' both read the Secret key '${used[i][1]}'. Each credential needs its own key.`);
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
}

/** Options for `BackupStorage.volume()`. */
export interface VolumeStorageOptions {
  /** The volume (typically a PersistentVolumeClaim) that receives the backups. */
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
    validateBucket(options.bucket);
    const prefix = normalizePrefix(options.prefix);
    const region = options.region ?? 'us-east-1';
    if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(region)) {
      throw new Error(`storage: 'region' is '${region}', which is not a region name. Use a name like 'us-east-1' (S3-compatible servers usually accept 'us-east-1').`);
    }
    const endpoint = options.endpoint === undefined ? undefined : validateEndpoint(options.endpoint);
    const forcePathStyle = options.forcePathStyle ?? endpoint !== undefined;
    const credentials = options.credentials;
    const destination = `s3://${options.bucket}${prefix ? '/' + prefix : ''}`;
    return new BackupStorage(() => {
      const creds = credentials?._bind();
      const env: Record<string, kplus.EnvValue> = { [ENV.AWS_REGION]: kplus.EnvValue.fromValue(region) };
      if (endpoint) env[ENV.AWS_ENDPOINT_URL_S3] = kplus.EnvValue.fromValue(endpoint);
      if (forcePathStyle) env[ENV.S3_FORCE_PATH_STYLE] = kplus.EnvValue.fromValue('true');
      Object.assign(env, creds?.env ?? {});
      return {
        destination,
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
    const prefix = normalizePrefix(options.prefix);
    const destination = `file://${IMAGE.BACKUP_VOLUME_PATH}${prefix ? '/' + prefix : ''}`;
    return new BackupStorage(() => ({
      destination,
      env: {},
      volume: options.volume,
      automountServiceAccountToken: false,
    }));
  }

  private constructor(private readonly binder: () => StorageBinding) {}

  /** @internal */
  public _bind(): StorageBinding {
    return this.binder();
  }
}

// The rules S3 enforces for new buckets, so a typo fails at synth instead of at 02:00.
function validateBucket(bucket: string): void {
  const fix = "Bucket names are 3-63 characters of lowercase letters, digits, '-' and '.', starting and ending with a letter or digit.";
  if (bucket === undefined || bucket === '') {
    throw new Error(`storage: 'bucket' is empty. ${fix}`);
  }
  if (bucket.startsWith('s3://') || bucket.includes('/')) {
    throw new Error(`storage: 'bucket' is '${bucket}'; give only the bucket name and put any path in 'prefix'.`);
  }
  if (bucket.length < 3 || bucket.length > 63 || !/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket)) {
    throw new Error(`storage: 'bucket' is '${bucket}'. ${fix}`);
  }
  if (bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket) || bucket.startsWith('xn--') || bucket.endsWith('-s3alias')) {
    throw new Error(`storage: 'bucket' is '${bucket}', which S3 does not allow (no '..', no IP address form, no 'xn--' prefix or '-s3alias' suffix). ${fix}`);
  }
}

function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined) return '';
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  const segments = trimmed === '' ? [] : trimmed.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new Error(`storage: 'prefix' is '${prefix}', which has an empty, '.' or '..' path segment. Use plain segments such as 'prod/db'.`);
    }
    if (!/^[A-Za-z0-9!_.*'()-]+$/.test(segment)) {
      throw new Error(`storage: 'prefix' is '${prefix}'; segment '${segment}' has characters that are unsafe in object keys. Use letters, digits and - _ . ! * ' ( ).`);
    }
  }
  return segments.join('/');
}

function validateEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`storage: 'endpoint' is '${endpoint}', which is not a URL. Use 'http(s)://host[:port]', e.g. 'http://minio.storage:9000'.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`storage: 'endpoint' is '${endpoint}'; its scheme must be http or https, e.g. 'https://s3.example.com'.`);
  }
  if (url.username || url.password) {
    throw new Error("storage: 'endpoint' contains credentials, which would end up in the manifest in clear text. Remove them and use 'credentials: S3Credentials.fromSecret(...)'.");
  }
  if (url.search || url.hash) {
    throw new Error(`storage: 'endpoint' is '${endpoint}'; it must not have a query or fragment.`);
  }
  if (url.pathname !== '/' && url.pathname !== '') {
    throw new Error(`storage: 'endpoint' is '${endpoint}'; give only scheme, host and port, and put the bucket in 'bucket' and any path in 'prefix'.`);
  }
  return url.origin;
}
